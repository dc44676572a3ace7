#include "pf_pool.h"
#include "pf_common.h"

#include <assert.h>
#include <stdlib.h>
#include <time.h>

/* The mutex and the two condition variables (CLOCK_MONOTONIC waits). */
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
    pthread_condattr_destroy(&ca);
    return 0;
fail_cond:
    pthread_cond_destroy(&p->has_work);
fail_ca:
    pthread_condattr_destroy(&ca);
fail_mu:
    pthread_mutex_destroy(&p->mu);
    return rc;
}

int pf_pool_init(pf_pool *p, int max_workers)
{
    int rc;
    if (max_workers < 1)
        return -EINVAL;
    p->cap = 64;
    p->head = p->len = 0;
    p->items = malloc(p->cap * sizeof *p->items);
    if (!p->items)
        return -ENOMEM;
    p->max_workers = max_workers;
    p->workers = p->waiting = p->running = p->closed = 0;
    rc = sync_init(p);
    if (rc) {
        free(p->items);
        p->items = NULL;
    }
    return rc;
}

int pf_pool_after_fork(pf_pool *p)
{
    if (!p->items)
        return 0;
    /* The old objects are not destroyed: their state belongs to threads
     * that do not exist here (as CPython's _PyThread_at_fork_reinit). */
    p->workers = p->waiting = p->running = 0;
    return sync_init(p);
}

void pf_pool_destroy(pf_pool *p)
{
    if (!p->items)
        return;
    pthread_cond_destroy(&p->all_done);
    pthread_cond_destroy(&p->has_work);
    pthread_mutex_destroy(&p->mu);
    free(p->items);
    p->items = NULL;
}

static int grow(pf_pool *p)
{
    size_t ncap = p->cap * 2;
    void **n = malloc(ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < p->len; i++)
        n[i] = p->items[(p->head + i) % p->cap];
    free(p->items);
    p->items = n;
    p->cap = ncap;
    p->head = 0;
    return 0;
}

int pf_pool_submit(pf_pool *p, void *item)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        rc = -ESHUTDOWN;
        goto out;
    }
    if (p->len == p->cap && (rc = grow(p)) < 0)
        goto out;
    p->items[(p->head + p->len) % p->cap] = item;
    p->len++;
    /* More queued items than workers waiting for them: add a worker. */
    if ((size_t)p->waiting < p->len && p->workers < p->max_workers) {
        p->workers++;
        rc = 1;
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
    void *item = p->items[p->head];
    p->head = (p->head + 1) % p->cap;
    p->len--;
    return item;
}

int pf_pool_take(pf_pool *p, int idle_ms, void **item)
{
    int rc = 0;
    struct timespec deadline;
    if (idle_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += idle_ms / 1000;
        deadline.tv_nsec += (long)(idle_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (p->len == 0) {
        if (p->closed) {
            rc = -ESHUTDOWN;
            break;
        }
        p->waiting++;
        int w = idle_ms >= 0 ? pthread_cond_timedwait(&p->has_work, &p->mu, &deadline)
                             : pthread_cond_wait(&p->has_work, &p->mu);
        p->waiting--;
        if (w == ETIMEDOUT && p->len == 0) {
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
    if (p->running == 0 && p->len == 0)
        pthread_cond_broadcast(&p->all_done);
    pthread_mutex_unlock(&p->mu);
}

int pf_pool_pop(pf_pool *p, void **item)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&p->mu);
    if (p->len > 0) {
        *item = pop_locked(p);
        rc = 0;
        if (p->running == 0 && p->len == 0)
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
    pthread_mutex_unlock(&p->mu);
}

int pf_pool_join(pf_pool *p, int timeout_ms)
{
    int rc = 0;
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (p->running > 0 || p->len > 0) {
        int w = timeout_ms >= 0 ? pthread_cond_timedwait(&p->all_done, &p->mu, &deadline)
                                : pthread_cond_wait(&p->all_done, &p->mu);
        if (w == ETIMEDOUT) {
            rc = (p->running > 0 || p->len > 0) ? -ETIMEDOUT : 0;
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
    out->queued = p->len;
    pthread_mutex_unlock(&p->mu);
}
