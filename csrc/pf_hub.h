/* pf_hub.h: the loop of a cooperative hub: fd readiness, timers, wake-up.
 *
 * A hub is one epoll set, an eventfd that any thread may write to wake it,
 * and a min-heap of timers keyed by deadline.  pf_hub_wait() sleeps until a
 * registered fd is ready, the earliest timer expires or the hub is woken,
 * and returns one batch of events.  It knows nothing of what waits on them
 * (greenlets, message handlers): the caller maps tags back to its waiters.
 *
 * Descriptors are registered once (pf_hub_add) and stay registered, usually
 * edge-triggered (EPOLLET), so that waiting again costs no epoll_ctl; the
 * caller tracks readiness between edges.  Spurious events may be reported
 * (e.g. for a descriptor closed and reused inside one batch): callers must
 * tolerate them.
 *
 * Not thread-safe except pf_hub_wake(): one thread owns the hub.
 */
#ifndef PF_HUB_H
#define PF_HUB_H

#include <stdint.h>

/* events of a pf_hub_event that is not an fd's: bits epoll never reports. */
#define PF_HUB_TIMER (1u << 29) /* an expired timer; tag is the timer's tag */
#define PF_HUB_WAKE (1u << 30)  /* pf_hub_wake() was called (tag 0) */

typedef struct pf_hub_event {
    uint64_t tag;    /* fd events: the tag given to pf_hub_add; timers: theirs */
    uint32_t events; /* EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP..., or PF_HUB_* */
} pf_hub_event;

typedef struct pf_hub_timer {
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint64_t tag;
    int heap_idx; /* position in heap[], -1 when free */
} pf_hub_timer;

typedef struct pf_hub {
    int epfd;
    int wakefd;
    pf_hub_timer *timers; /* slab, indexed by timer id */
    int *heap;            /* timer ids, min-heap on deadline */
    int ntimers_cap;      /* size of timers[] and heap[] */
    int heap_len;
    int *free_ids;        /* stack of free timer ids */
    int nfree;
} pf_hub;

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t pf_hub_now_ns(void);

int pf_hub_open(pf_hub *h);
void pf_hub_close(pf_hub *h);

/* Register fd for events (EPOLLIN|EPOLLOUT|EPOLLET...); reported with tag. */
int pf_hub_add(pf_hub *h, int fd, uint32_t events, uint64_t tag);
int pf_hub_mod(pf_hub *h, int fd, uint32_t events, uint64_t tag);
int pf_hub_del(pf_hub *h, int fd);

/* Start a timer: returns its id (>= 0) or -ENOMEM.  It fires once, as an
 * event {tag, PF_HUB_TIMER}, at the first pf_hub_wait at or after
 * deadline_ns; then its id is free for reuse. */
int pf_hub_timer_add(pf_hub *h, int64_t deadline_ns, uint64_t tag);
/* Cancel timer id if it is still pending with this tag (the tag guards
 * against an id already fired and reused).  1 if cancelled, 0 if not. */
int pf_hub_timer_cancel(pf_hub *h, int id, uint64_t tag);
/* Pending timers. */
int pf_hub_timer_count(const pf_hub *h);

/* Make the current or next pf_hub_wait return PF_HUB_WAKE.  Any thread. */
int pf_hub_wake(pf_hub *h);

/* Wait up to timeout_ms (-1: until an event; 0: poll), shortened to the
 * earliest timer.  Fills out[0..max) with ready fds, then the wake-up (at
 * most one), then expired timers (in deadline order), and returns how many
 * (0: nothing happened).  -EINTR when a signal interrupted the wait (no
 * events lost), other -errno on failure. */
int pf_hub_wait(pf_hub *h, int timeout_ms, pf_hub_event *out, int max);

/* Fairness between hubs on one core: called after each wait, it yields
 * the CPU (sched_yield) when more than one hub is open.  Without it, a busy
 * hub whose epoll_wait always returns at once keeps the core for a whole
 * scheduler time slice (~4 ms) while another hub's ready connections wait:
 * measured as a 4.3 ms p99 on echo-1k with two hubs on one core, 0.5 ms
 * with the yield. */
void pf_hub_yield(void);

#endif
