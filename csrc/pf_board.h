/* pf_board.h: least-connections admission among worker processes that
 * accept from one shared listening socket (pyfast.prefork).
 *
 * With one shared socket the worker that wakes first takes every queued
 * connection (on 2 cores the same one each time: a burst of 50 landed
 * 50/0).  The board evens that out.  It is one MAP_SHARED anonymous
 * mapping, made by the parent before the first fork and so shared by every
 * worker, with a slot per worker (a cache line each, so that a worker's
 * writes to its own slot do not slow the others' reads), and an eventfd
 * per slot to wake the worker in it.
 *
 * A slot holds its worker's open connections (count, -1 while the slot is
 * free or its worker stops: then it holds nobody back) and a gate flag.  A
 * worker may accept while its count is at most slack above the least count
 * among the live workers (pf_board_admit); the least loaded worker always
 * may, so one always does.  A worker refused raises its gate and leaves
 * the socket to the others; it is woken through its eventfd
 * (pf_board_fd) when its gate may open: another worker accepted
 * (pf_board_opened raises the least count) or left, or one of its own
 * connections closed (pf_board_closed, any of its threads).  The gate is
 * raised before the counts are read, and a count is changed before the
 * gates are read (both sequentially consistent), so a wake is never lost.
 *
 * Who calls what:
 *   parent: pf_board_open, pf_board_take (a slot for a worker about to be
 *           forked), pf_board_free (its worker exited), pf_board_close;
 *   worker: pf_board_join (its slot, after the fork), then pf_board_admit
 *           before accepting, pf_board_opened / pf_board_closed per
 *           connection (any thread), pf_board_leave when it stops
 *           accepting for good; its loop watches pf_board_fd and calls
 *           pf_board_clear when it is readable.
 * A board not joined (slot -1: the parent, or a worker without a slot)
 * admits everything and counts nothing.  Functions taking a board accept
 * NULL as "no board" where they return void or 1.
 *
 * Returns: 0 / a count, or a negative errno.
 */
#ifndef PF_BOARD_H
#define PF_BOARD_H

#include <stdint.h>

struct pf_board_slot;

typedef struct pf_board {
    struct pf_board_slot *slots; /* the shared mapping */
    int *wakers;         /* eventfd per slot (inherited by the workers) */
    unsigned char *used; /* parent: slot handed out */
    int nslots;
    int slack;           /* connections above the least loaded worker */
    int self;            /* this process's slot, -1: none */
} pf_board;

/* nslots slots, all free; slack >= 0.  -EINVAL, -ENOMEM, -errno. */
int pf_board_open(pf_board *b, int nslots, int slack);
/* Unmap and close the eventfds (in each process that holds the board). */
void pf_board_close(pf_board *b);
/* Parent: a free slot (its count set to 0), or -ENOSPC. */
int pf_board_take(pf_board *b);
/* Parent: slot's worker is gone; the slot is free again and the gated
 * workers are woken (they may be the least loaded now). */
void pf_board_free(pf_board *b, int slot);
/* Worker: this process is slot's (taken by the parent).  0 or -EINVAL. */
int pf_board_join(pf_board *b, int slot);
/* 1: this worker may accept one connection now; 0: it is gated (its gate
 * is raised; its eventfd is written once the gate may open). */
int pf_board_admit(pf_board *b);
/* A connection was accepted (before it is handed to a handler): counted,
 * and gated workers are woken.  Any thread. */
void pf_board_opened(pf_board *b);
/* One of this worker's connections closed: counted, and this worker is
 * woken if gated.  Any thread. */
void pf_board_closed(pf_board *b);
/* This worker stops accepting for good: its slot holds nobody back any
 * more (-1) and the gated workers are woken. */
void pf_board_leave(pf_board *b);
/* This worker's eventfd (readable when woken), or -1 if not joined. */
int pf_board_fd(const pf_board *b);
/* Read this worker's eventfd (non-blocking; 0 if nothing was written). */
int pf_board_clear(pf_board *b);
/* slot's count (-1: free or leaving), for stats and tests. */
int64_t pf_board_count(const pf_board *b, int slot);
/* 1 while slot's gate is raised. */
int pf_board_gated(const pf_board *b, int slot);

#endif
