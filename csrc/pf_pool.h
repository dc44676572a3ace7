/* pf_pool.h: the worker pool's queue.
 *
 * A mutex + condition variable queue of opaque items (a pf_msgq, the
 * queue pf_loop's inbox uses too).  The pool decides
 * when a worker thread is needed and when an idle worker retires (nothing
 * to take for idle_ms); the caller starts the thread, so workers can be
 * Python threads whose waits happen here without the GIL.
 *
 * A thread is started for an item only when no thread will take it: the
 * items queued or running outnumber the workers (idle ones, and ones
 * started or between items, count as takers).  When no worker is busy the
 * thread starts at once.  Otherwise a busy worker may be about to finish
 * (a short handler waiting for the GIL), so the item gets a thread of its
 * own only once it has waited start_delay_ms without a taker: a burst of
 * short items reuses the threads there are instead of starting one per
 * item.  Past max_workers the same holds after overflow_ms: workers held
 * by slow clients cannot keep later items waiting forever; overflow_ms < 0
 * makes max_workers a hard bound.  Threads for waiting items are started
 * by the overseer (see pf_pool_oversee).
 */
#ifndef PF_POOL_H
#define PF_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_msgq.h"

typedef struct pf_pool {
    pthread_mutex_t mu;
    pthread_cond_t has_work;  /* items queued or pool closed */
    pthread_cond_t all_done;  /* queue empty and nothing running */
    pthread_cond_t overdue;   /* the overseer's: an item without taker, or closed */
    pf_msgq q;                /* {ptr: item, arg: pf_now_ms() at pf_pool_submit} */
    int inited;               /* pf_pool_init succeeded, not destroyed */
    int max_workers;
    int start_delay_ms;
    int overflow_ms;
    int workers;   /* started (or promised to be started) and not retired */
    int waiting;   /* workers blocked in pf_pool_take */
    int running;   /* items taken and not yet pf_pool_done */
    int overseer;  /* 1 while an overseer runs (or is promised) */
    int overseer_idle; /* it waits for an item without taker */
    int closed;
} pf_pool;

/* Return values of pf_pool_submit / pf_pool_oversee. */
enum {
    PF_POOL_QUEUED = 0,
    PF_POOL_START_WORKER = 1,
    PF_POOL_START_OVERSEER = 2
};

/* max_workers >= 1; start_delay_ms >= 0, overflow_ms: see above (< 0:
 * never past max_workers). */
int pf_pool_init(pf_pool *p, int max_workers, int start_delay_ms, int overflow_ms);
/* Only once no worker uses the pool.  Items still queued are the caller's
 * to release (see pf_pool_pop). */
void pf_pool_destroy(pf_pool *p);

/* Queue item.  Returns PF_POOL_START_WORKER when the caller must start one
 * more worker (the worker is counted already; call pf_pool_worker_failed if
 * it cannot be started), PF_POOL_START_OVERSEER when the caller must start
 * the overseer thread (pf_pool_oversee; pf_pool_overseer_failed if it
 * cannot), PF_POOL_QUEUED when an existing thread will take it, -ESHUTDOWN
 * after pf_pool_close, -ENOMEM. */
int pf_pool_submit(pf_pool *p, void *item);
void pf_pool_worker_failed(pf_pool *p);

/* Worker side: take the next item, waiting up to idle_ms (-1: no limit).
 * 0: *item is set, the worker must call pf_pool_done after running it.
 * -ETIMEDOUT: idle for idle_ms, the worker has been retired and must exit.
 * -ESHUTDOWN: the pool is closed and empty, the worker must exit.
 * Queued items are still handed out after pf_pool_close. */
int pf_pool_take(pf_pool *p, int idle_ms, void **item);
void pf_pool_done(pf_pool *p);

/* The overseer's loop: wait until an item without a taker has waited
 * start_delay_ms (overflow_ms past max_workers), then count one more worker
 * and return PF_POOL_START_WORKER (the caller starts it, or calls
 * pf_pool_worker_failed).  -ETIMEDOUT: nothing was queued without a taker
 * for idle_ms (-1: no limit), -ESHUTDOWN: the pool is closed; the
 * overseer has been retired and must exit (the next submit that needs one
 * asks for a new one). */
int pf_pool_oversee(pf_pool *p, int idle_ms);
void pf_pool_overseer_failed(pf_pool *p);

/* Pop a queued item without running it (0 or -ENOENT). */
int pf_pool_pop(pf_pool *p, void **item);

/* Refuse new items and wake every waiting worker so that idle ones exit. */
void pf_pool_close(pf_pool *p);

/* In the child of fork(): the pool's worker and overseer threads were not
 * copied, and its mutex and condition variables may have been held or
 * waited on by them at the fork (a broadcast or lock on them could then
 * block forever).  Makes them anew and counts no worker, overseer, running
 * item or waiter; queued items stay (pf_pool_pop them).  0 or -errno. */
int pf_pool_after_fork(pf_pool *p);

/* Wait until nothing is queued or running, up to timeout_ms (-1: no limit).
 * 0 or -ETIMEDOUT. */
int pf_pool_join(pf_pool *p, int timeout_ms);

typedef struct pf_pool_stats {
    int workers, waiting, running, overseer;
    size_t queued;
} pf_pool_stats;
void pf_pool_get_stats(pf_pool *p, pf_pool_stats *out);

#endif
