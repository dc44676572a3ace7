#include "pf_pool.h"
#include "pf_common.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An absolute CLOCK_MONOTONIC time, at_ms on the pf_now_ms() clock. */
static struct timespec abs_time(int64_t at_ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(at_ms / 1000);
    ts.tv_nsec = (long)(at_ms % 1000) * 1000000L;
    return ts;
}

/* pthread_cond_timedwait until at_ms (pf_now_ms() clock), or without limit
 * when at_ms < 0.  The pthread result (0 or ETIMEDOUT). */
static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *mu, int64_t at_ms)
{
    if (at_ms < 0)
        return pthread_cond_wait(c, mu);
    struct timespec ts = abs_time(at_ms);
    return pthread_cond_timedwait(c, mu, &ts);
}

static int64_t deadline_after(int ms)
{
    return ms >= 0 ? pf_now_ms() + ms : -1;
}

/* The mutex and the three condition variables (CLOCK_MONOTONIC waits). */
static int sync_init(pf_pool *p)
{
    int rc;
    pthread_condattr_t ca;
    rc = -pthread_mutex_init(&p->mu, NULL);
    if (rc)
        return rc;
    rc = -pthread_condattr_init(&ca);
    if (rc)
        goto fail_mu;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = -pthread_cond_init(&p->has_work, &ca);
    if (rc)
        goto fail_ca;
    rc = -pthread_cond_init(&p->all_done, &ca);
    if (rc)
        goto fail_cond;
    rc = -pthread_cond_init(&p->overdue, &ca);
    if (rc)
        goto fail_done;
    pthread_condattr_destroy(&ca);
    return 0;
fail_done:
    pthread_cond_destroy(&p->all_done);
fail_cond:
    pthread_cond_destroy(&p->has_work);
fail_ca:
    pthread_condattr_destroy(&ca);
fail_mu:
    pthread_mutex_destroy(&p->mu);
    return rc;
}

int pf_pool_init(pf_pool *p, int max_workers, int start_delay_ms, int overflow_ms)
{
    int rc;
    p->inited = 0;
    if (max_workers < 1)
        return -EINVAL;
    memset(&p->q, 0, sizeof(p->q));
    p->max_workers = max_workers;
    p->start_delay_ms = start_delay_ms < 0 ? 0 : start_delay_ms;
    p->overflow_ms = overflow_ms;
    p->workers = p->waiting = p->running = p->closed = 0;
    p->overseer = p->overseer_idle = 0;
    rc = sync_init(p);
    p->inited = rc == 0;
    return rc;
}

int pf_pool_after_fork(pf_pool *p)
{
    if (!p->inited)
        return 0;
    /* The old objects are not destroyed: their state belongs to threads
     * that do not exist here (as CPython's _PyThread_at_fork_reinit). */
    p->workers = p->waiting = p->running = 0;
    p->overseer = p->overseer_idle = 0;
    return sync_init(p);
}

void pf_pool_destroy(pf_pool *p)
{
    if (!p->inited)
        return;
    pthread_cond_destroy(&p->overdue);
    pthread_cond_destroy(&p->all_done);
    pthread_cond_destroy(&p->has_work);
    pthread_mutex_destroy(&p->mu);
    pf_msgq_free(&p->q);
    p->inited = 0;
}

/* Queued items that no thread will take without finishing an item first:
 * items queued or running beyond the workers (idle workers, and workers
 * started or between two items, each take one). */
static long untaken(const pf_pool *p)
{
    return (long)pf_msgq_len(&p->q) + p->running - p->workers;
}

/* When the oldest item without a taker is due for a thread of its own
 * (pf_now_ms() clock): start_delay_ms after it was queued while fewer than
 * max_workers exist, overflow_ms after past it; -1 when every item has a
 * taker or no thread may be started. */
static int64_t due_ms(const pf_pool *p)
{
    long n = untaken(p);
    if (n <= 0)
        return -1;
    int delay = p->workers < p->max_workers ? p->start_delay_ms : p->overflow_ms;
    if (delay < 0)
        return -1;
    /* The first len - n items are taken by the threads there are, in order. */
    size_t len = pf_msgq_len(&p->q);
    return (int64_t)pf_msgq_at(&p->q, len - (size_t)n)->arg + delay;
}

int pf_pool_submit(pf_pool *p, void *item)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        rc = -ESHUTDOWN;
        goto out;
    }
    pf_loop_msg m = {.op = 0, .ptr = item, .arg = (uint64_t)pf_now_ms()};
    if ((rc = pf_msgq_push(&p->q, &m)) < 0)
        goto out;
    if (untaken(p) > 0) {
        if (p->workers < p->max_workers && (p->running == 0 || p->start_delay_ms == 0)) {
            /* No thread is busy, so none is about to be free. */
            p->workers++;
            rc = PF_POOL_START_WORKER;
        } else if (due_ms(p) >= 0) {
            if (!p->overseer) {
                p->overseer = 1;
                rc = PF_POOL_START_OVERSEER;
            } else if (p->overseer_idle) {
                pthread_cond_signal(&p->overdue);
            }
        }
    }
    if (p->waiting > 0)
        pthread_cond_signal(&p->has_work);
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pf_pool_worker_failed(pf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    assert(p->workers > 0);
    p->workers--;
    pthread_mutex_unlock(&p->mu);
}

static void *pop_locked(pf_pool *p)
{
    pf_loop_msg m;
    pf_msgq_take(&p->q, &m, 1);
    return m.ptr;
}

int pf_pool_take(pf_pool *p, int idle_ms, void **item)
{
    int rc = 0;
    int64_t deadline = deadline_after(idle_ms);
    pthread_mutex_lock(&p->mu);
    while (pf_msgq_len(&p->q) == 0) {
        if (p->closed) {
            rc = -ESHUTDOWN;
            break;
        }
        p->waiting++;
        int w = cond_wait_until(&p->has_work, &p->mu, deadline);
        p->waiting--;
        if (w == ETIMEDOUT && pf_msgq_len(&p->q) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        *item = pop_locked(p);
        p->running++;
    } else {
        assert(p->workers > 0);
        p->workers--;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pf_pool_done(pf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    assert(p->running > 0);
    p->running--;
    if (p->running == 0 && pf_msgq_len(&p->q) == 0)
        pthread_cond_broadcast(&p->all_done);
    pthread_mutex_unlock(&p->mu);
}

int pf_pool_oversee(pf_pool *p, int idle_ms)
{
    int rc;
    int64_t idle_until = deadline_after(idle_ms);
    pthread_mutex_lock(&p->mu);
    assert(p->overseer);
    for (;;) {
        if (p->closed) {
            rc = -ESHUTDOWN;
            break;
        }
        int64_t due = due_ms(p);
        if (due >= 0) {
            if (pf_now_ms() >= due) {
                p->workers++;
                rc = PF_POOL_START_WORKER;
                break;
            }
            cond_wait_until(&p->overdue, &p->mu, due);
            idle_until = deadline_after(idle_ms);
            continue;
        }
        p->overseer_idle = 1;
        int w = cond_wait_until(&p->overdue, &p->mu, idle_until);
        p->overseer_idle = 0;
        if (w == ETIMEDOUT && due_ms(p) < 0) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (rc < 0)
        p->overseer = 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pf_pool_overseer_failed(pf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->overseer = 0;
    pthread_mutex_unlock(&p->mu);
}

int pf_pool_pop(pf_pool *p, void **item)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&p->mu);
    if (pf_msgq_len(&p->q) > 0) {
        *item = pop_locked(p);
        rc = 0;
        if (p->running == 0 && pf_msgq_len(&p->q) == 0)
            pthread_cond_broadcast(&p->all_done);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pf_pool_close(pf_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    pthread_cond_broadcast(&p->has_work);
    pthread_cond_broadcast(&p->overdue);
    pthread_mutex_unlock(&p->mu);
}

int pf_pool_join(pf_pool *p, int timeout_ms)
{
    int rc = 0;
    int64_t deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0 || pf_msgq_len(&p->q) > 0) {
        int w = cond_wait_until(&p->all_done, &p->mu, deadline);
        if (w == ETIMEDOUT) {
            rc = (p->running > 0 || pf_msgq_len(&p->q) > 0) ? -ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pf_pool_get_stats(pf_pool *p, pf_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->workers = p->workers;
    out->waiting = p->waiting;
    out->running = p->running;
    out->overseer = p->overseer;
    out->queued = pf_msgq_len(&p->q);
    pthread_mutex_unlock(&p->mu);
}
