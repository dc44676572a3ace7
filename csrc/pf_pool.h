/* pf_pool.h: the worker pool's queue.
 *
 * A mutex + condition variable queue of opaque items.  The pool decides
 * when a worker thread is needed (an item is queued and no worker is
 * waiting, and fewer than max_workers exist) and when an idle worker
 * retires (nothing to take for idle_ms); the caller starts the thread, so
 * workers can be Python threads whose waits happen here without the GIL.
 * Threads are reused: no thread is created per item while one is idle.
 */
#ifndef PF_POOL_H
#define PF_POOL_H

#include <pthread.h>
#include <stddef.h>

typedef struct pf_pool {
    pthread_mutex_t mu;
    pthread_cond_t has_work;  /* items queued or pool closed */
    pthread_cond_t all_done;  /* queue empty and nothing running */
    void **items;             /* ring buffer */
    size_t cap, head, len;
    int max_workers;
    int workers;   /* started (or promised to be started) and not retired */
    int waiting;   /* workers blocked in pf_pool_take */
    int running;   /* items taken and not yet pf_pool_done */
    int closed;
} pf_pool;

int pf_pool_init(pf_pool *p, int max_workers);
/* Only once no worker uses the pool.  Items still queued are the caller's
 * to release (see pf_pool_pop). */
void pf_pool_destroy(pf_pool *p);

/* Queue item.  Returns 1 when the caller must start one more worker (the
 * worker is counted already; call pf_pool_worker_failed if it cannot be
 * started), 0 when a waiting or busy worker will take it, -ESHUTDOWN after
 * pf_pool_close, -ENOMEM. */
int pf_pool_submit(pf_pool *p, void *item);
void pf_pool_worker_failed(pf_pool *p);

/* Worker side: take the next item, waiting up to idle_ms (-1: no limit).
 * 0: *item is set, the worker must call pf_pool_done after running it.
 * -ETIMEDOUT: idle for idle_ms, the worker has been retired and must exit.
 * -ESHUTDOWN: the pool is closed and empty, the worker must exit.
 * Queued items are still handed out after pf_pool_close. */
int pf_pool_take(pf_pool *p, int idle_ms, void **item);
void pf_pool_done(pf_pool *p);

/* Pop a queued item without running it (0 or -ENOENT). */
int pf_pool_pop(pf_pool *p, void **item);

/* Refuse new items and wake every waiting worker so that idle ones exit. */
void pf_pool_close(pf_pool *p);

/* In the child of fork(): the pool's worker threads were not copied, and
 * its mutex and condition variables may have been held or waited on by
 * them at the fork (a broadcast or lock on them could then block forever).
 * Makes them anew and counts no worker, running item or waiter; queued
 * items stay (pf_pool_pop them).  0 or -errno. */
int pf_pool_after_fork(pf_pool *p);

/* Wait until nothing is queued or running, up to timeout_ms (-1: no limit).
 * 0 or -ETIMEDOUT. */
int pf_pool_join(pf_pool *p, int timeout_ms);

typedef struct pf_pool_stats {
    int workers, waiting, running;
    size_t queued;
} pf_pool_stats;
void pf_pool_get_stats(pf_pool *p, pf_pool_stats *out);

#endif
