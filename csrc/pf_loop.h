/* pf_loop.h: the one event-loop core every pyfast loop is built on.
 *
 * A pf_loop is one epoll set, one eventfd wake-up, a min-heap of timers and
 * an inbox (a mutex-protected FIFO of pf_loop_msg) through which other
 * threads hand work to the loop's thread.  serve_forever()'s waiter, the
 * cooperative hubs and the message loops are each a pf_loop plus what their
 * model needs; none opens its own epoll set or eventfd.
 *
 * Modelled on libuv's single watcher (uv__io_t) and timer heap: one way to
 * register a descriptor, one way to be woken, one tag convention.
 *
 * Tags: every descriptor is registered with a caller-chosen 64-bit tag
 * (an index, a pointer cast to uint64_t...) reported back with its events.
 * PF_LOOP_RESERVED_TAG (UINT64_MAX) is the loop's own and may not be used.
 * Level- and edge-triggered registration are both supported: pass EPOLLET in
 * events for edge-triggered (the hubs register once, edge-triggered, and
 * track readiness between edges); without it the registration is
 * level-triggered (the waiter, the message loop's listener).
 *
 * Events a wait returns (pf_loop_event):
 *   fd readiness:  {tag, EPOLLIN|EPOLLOUT|EPOLLERR|EPOLLHUP|EPOLLRDHUP...}
 *   wake-up:       {0, PF_LOOP_WAKE}: pf_loop_wake() or pf_loop_post() was
 *                  called since the last wait (at most one per wait; the
 *                  caller then drains the inbox with pf_loop_take()).
 *   timer:         {timer's tag, PF_LOOP_TIMER}, in deadline order; timers
 *                  with equal deadlines fire in the order they were added
 *                  (FIFO tie-break, as libuv's start_id).
 *
 * Threads: one thread owns the loop.  pf_loop_wake() and pf_loop_post() are
 * safe from any thread; everything else is for the owner only.
 *
 * Returns: 0, a count or an id, or a negative errno.  EINTR is retried
 * everywhere except pf_loop_wait(), which returns -EINTR so that the caller
 * can run signal handlers (no event is lost).
 */
#ifndef PF_LOOP_H
#define PF_LOOP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "pf_msgq.h"

/* events bits of a pf_loop_event that are not an fd's (epoll never sets them) */
#define PF_LOOP_TIMER (1u << 29)
#define PF_LOOP_WAKE (1u << 30)

/* The tag the loop registers its eventfd with; callers may not use it. */
#define PF_LOOP_RESERVED_TAG UINT64_MAX

typedef struct pf_loop_event {
    uint64_t tag;
    uint32_t events;
} pf_loop_event;

/* pf_loop_msg, one item of cross-thread work {op, ptr, arg}, and its
 * queue: pf_msgq.h. */

typedef struct pf_loop_timer {
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint64_t seq;        /* order of adding: FIFO tie-break */
    uint64_t tag;
    int heap_idx;        /* position in heap[], -1 when free */
} pf_loop_timer;

typedef struct pf_loop {
    int epfd;
    int wakefd;
    /* timers */
    pf_loop_timer *timers; /* slab, indexed by timer id */
    int *heap;             /* timer ids, min-heap on (deadline_ns, seq) */
    int ntimers_cap;
    int heap_len;
    int *free_ids;
    int nfree;
    uint64_t timer_seq;
    /* inbox */
    pthread_mutex_t inbox_mu;
    pf_msgq inbox;         /* under inbox_mu */
    int inbox_closed;      /* pf_loop_post refuses with -ESHUTDOWN */
    int counted;           /* counted in the open-loop count (pf_loop_yield) */
} pf_loop;

/* Nanoseconds / milliseconds on CLOCK_MONOTONIC. */
int64_t pf_loop_now_ns(void);
int64_t pf_loop_now_ms(void);

/* Open: epoll set + eventfd (registered with PF_LOOP_RESERVED_TAG) + empty
 * inbox and heap.  On failure nothing stays open.  count_for_yield: count
 * this loop among those pf_loop_yield() shares a core between. */
int pf_loop_open(pf_loop *l, int count_for_yield);
/* Close the descriptors, free timers and inbox (items left in the inbox are
 * dropped: drain with pf_loop_take() first if they own resources).  For a
 * loop pf_loop_open() was called on: after a failed open, and a second
 * time, it does nothing (a zeroed, never opened pf_loop has epfd 0: do not
 * close that). */
void pf_loop_close(pf_loop *l);

/* Register / change / remove fd (events: EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET
 * ...).  -EINVAL for PF_LOOP_RESERVED_TAG. */
int pf_loop_add(pf_loop *l, int fd, uint32_t events, uint64_t tag);
int pf_loop_mod(pf_loop *l, int fd, uint32_t events, uint64_t tag);
int pf_loop_del(pf_loop *l, int fd);

/* Start a one-shot timer: its id (>= 0) or -ENOMEM.  It fires at the first
 * pf_loop_wait at or after deadline_ns; then its id is free for reuse. */
int pf_loop_timer_add(pf_loop *l, int64_t deadline_ns, uint64_t tag);
/* Cancel timer id if still pending with this tag: 1 cancelled, 0 not. */
int pf_loop_timer_cancel(pf_loop *l, int id, uint64_t tag);
int pf_loop_timer_count(const pf_loop *l);
/* Deadline of the earliest pending timer, or -1 if none. */
int64_t pf_loop_timer_next(const pf_loop *l);

/* Make the current or next pf_loop_wait report PF_LOOP_WAKE.  Any thread. */
int pf_loop_wake(pf_loop *l);
/* Append m to the inbox and wake the loop.  Any thread.  -ENOMEM, or
 * -ESHUTDOWN after pf_loop_inbox_close() (m was not queued). */
int pf_loop_post(pf_loop *l, const pf_loop_msg *m);
/* Owner: move up to max queued items, oldest first, to out; how many. */
size_t pf_loop_take(pf_loop *l, pf_loop_msg *out, size_t max);
/* Owner: items queued now (a snapshot). */
size_t pf_loop_inbox_len(pf_loop *l);
/* Refuse further posts (shutdown); returns the items still queued. */
size_t pf_loop_inbox_close(pf_loop *l);

/* Wait up to timeout_ms (-1: no limit; 0: poll), shortened to the earliest
 * timer.  Fills out[0..max) with ready fds, then the wake-up (at most one),
 * then expired timers in (deadline, seq) order; returns how many (0: none).
 * -EINTR when a signal interrupted the wait. */
int pf_loop_wait(pf_loop *l, int timeout_ms, pf_loop_event *out, int max);

/* Fairness between loops on one core: yields the CPU (sched_yield) when more
 * than one counted loop is open (see pf_hub_yield's history in
 * docs/design.md). */
void pf_loop_yield(void);

#endif
