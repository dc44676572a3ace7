#include "pf_hub.h"
#include "pf_common.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define HUB_MAX_EPOLL 256

/* Hubs open in this process (see pf_hub_yield). */
static int hubs_open;

int64_t pf_hub_now_ns(void)
{
    return pf_now_ns();
}

int pf_hub_open(pf_hub *h)
{
    int rc;
    h->epfd = -1;
    h->wakefd = -1;
    h->timers = NULL;
    h->heap = NULL;
    h->free_ids = NULL;
    h->ntimers_cap = 0;
    h->heap_len = 0;
    h->nfree = 0;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd < 0)
        return PF_NEG_ERRNO();
    h->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->wakefd < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    /* Counted while both descriptors are open: pf_hub_close uncounts. */
    __atomic_fetch_add(&hubs_open, 1, __ATOMIC_RELAXED);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wakefd, &ev) < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    return 0;
fail:
    pf_hub_close(h);
    return rc;
}

void pf_hub_close(pf_hub *h)
{
    if (h->epfd >= 0 && h->wakefd >= 0)
        __atomic_fetch_sub(&hubs_open, 1, __ATOMIC_RELAXED);
    if (h->wakefd >= 0)
        close(h->wakefd);
    if (h->epfd >= 0)
        close(h->epfd);
    h->wakefd = -1;
    h->epfd = -1;
    free(h->timers);
    free(h->heap);
    free(h->free_ids);
    h->timers = NULL;
    h->heap = NULL;
    h->free_ids = NULL;
    h->ntimers_cap = h->heap_len = h->nfree = 0;
}

static int hub_ctl(pf_hub *h, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(h->epfd, op, fd, &ev) < 0)
        return PF_NEG_ERRNO();
    return 0;
}

/* The eventfd is registered with tag 0 and fds are registered with
 * tag + 1 internally, so that any caller tag (fd 0 included) works. */
int pf_hub_add(pf_hub *h, int fd, uint32_t events, uint64_t tag)
{
    return hub_ctl(h, EPOLL_CTL_ADD, fd, events, tag + 1);
}

int pf_hub_mod(pf_hub *h, int fd, uint32_t events, uint64_t tag)
{
    return hub_ctl(h, EPOLL_CTL_MOD, fd, events, tag + 1);
}

int pf_hub_del(pf_hub *h, int fd)
{
    return hub_ctl(h, EPOLL_CTL_DEL, fd, 0, 0);
}

int pf_hub_wake(pf_hub *h)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(h->wakefd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, a wake-up is pending anyway. */
    if (n < 0 && errno != EAGAIN)
        return PF_NEG_ERRNO();
    return 0;
}

/* ---- timers: a binary min-heap of ids into a slab ---- */

static int heap_less(const pf_hub *h, int a, int b)
{
    return h->timers[h->heap[a]].deadline_ns < h->timers[h->heap[b]].deadline_ns;
}

static void heap_swap(pf_hub *h, int a, int b)
{
    int t = h->heap[a];
    h->heap[a] = h->heap[b];
    h->heap[b] = t;
    h->timers[h->heap[a]].heap_idx = a;
    h->timers[h->heap[b]].heap_idx = b;
}

static void heap_up(pf_hub *h, int i)
{
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!heap_less(h, i, parent))
            break;
        heap_swap(h, i, parent);
        i = parent;
    }
}

static void heap_down(pf_hub *h, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->heap_len && heap_less(h, l, m))
            m = l;
        if (r < h->heap_len && heap_less(h, r, m))
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
}

static void heap_remove(pf_hub *h, int i)
{
    int id = h->heap[i];
    int last = --h->heap_len;
    if (i != last) {
        h->heap[i] = h->heap[last];
        h->timers[h->heap[i]].heap_idx = i;
        heap_down(h, i);
        heap_up(h, i);
    }
    h->timers[id].heap_idx = -1;
    h->free_ids[h->nfree++] = id;
}

static int timers_grow(pf_hub *h)
{
    int cap = h->ntimers_cap ? h->ntimers_cap * 2 : 64;
    pf_hub_timer *t = realloc(h->timers, (size_t)cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    h->timers = t;
    int *heap = realloc(h->heap, (size_t)cap * sizeof *heap);
    if (!heap)
        return -ENOMEM;
    h->heap = heap;
    int *free_ids = realloc(h->free_ids, (size_t)cap * sizeof *free_ids);
    if (!free_ids)
        return -ENOMEM;
    h->free_ids = free_ids;
    /* New ids go on the free stack highest first, so low ids are used first. */
    for (int id = cap - 1; id >= h->ntimers_cap; id--) {
        h->timers[id].heap_idx = -1;
        h->free_ids[h->nfree++] = id;
    }
    h->ntimers_cap = cap;
    return 0;
}

int pf_hub_timer_add(pf_hub *h, int64_t deadline_ns, uint64_t tag)
{
    if (h->nfree == 0) {
        int rc = timers_grow(h);
        if (rc < 0)
            return rc;
    }
    int id = h->free_ids[--h->nfree];
    pf_hub_timer *t = &h->timers[id];
    t->deadline_ns = deadline_ns;
    t->tag = tag;
    t->heap_idx = h->heap_len;
    h->heap[h->heap_len++] = id;
    heap_up(h, t->heap_idx);
    return id;
}

int pf_hub_timer_cancel(pf_hub *h, int id, uint64_t tag)
{
    if (id < 0 || id >= h->ntimers_cap)
        return 0;
    pf_hub_timer *t = &h->timers[id];
    if (t->heap_idx < 0 || t->tag != tag)
        return 0;
    heap_remove(h, t->heap_idx);
    return 1;
}

int pf_hub_timer_count(const pf_hub *h)
{
    return h->heap_len;
}

/* ---- the wait ---- */

int pf_hub_wait(pf_hub *h, int timeout_ms, pf_hub_event *out, int max)
{
    struct epoll_event evs[HUB_MAX_EPOLL];
    int n, count = 0, woken = 0;

    if (max < 1)
        return -EINVAL;
    if (h->heap_len > 0) {
        int64_t left = h->timers[h->heap[0]].deadline_ns - pf_hub_now_ns();
        /* Round up: waking before the deadline would only wait again. */
        int64_t ms = left <= 0 ? 0 : (left + 999999) / 1000000;
        if (timeout_ms < 0 || ms < timeout_ms)
            timeout_ms = (int)(ms > 86400000 ? 86400000 : ms);
    }
    /* Leave room for the wake-up in out[]. */
    int want = max > HUB_MAX_EPOLL ? HUB_MAX_EPOLL : max;
    n = epoll_wait(h->epfd, evs, want, timeout_ms);
    if (n < 0)
        return PF_NEG_ERRNO(); /* -EINTR included: see pf_common.h */
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == 0) {
            uint64_t c;
            ssize_t r;
            do {
                r = read(h->wakefd, &c, sizeof c);
            } while (r < 0 && errno == EINTR);
            woken = 1;
            continue;
        }
        out[count].tag = evs[i].data.u64 - 1;
        out[count].events = evs[i].events;
        count++;
    }
    if (woken) {
        /* count < n <= max: there is room. */
        out[count].tag = 0;
        out[count].events = PF_HUB_WAKE;
        count++;
    }
    if (h->heap_len > 0 && count < max) {
        int64_t now = pf_hub_now_ns();
        while (h->heap_len > 0 && count < max) {
            pf_hub_timer *t = &h->timers[h->heap[0]];
            if (t->deadline_ns > now)
                break;
            out[count].tag = t->tag;
            out[count].events = PF_HUB_TIMER;
            count++;
            heap_remove(h, 0);
        }
    }
    return count;
}

/* ---- fairness between hubs (see pf_hub.h) ---- */

void pf_hub_yield(void)
{
    if (__atomic_load_n(&hubs_open, __ATOMIC_RELAXED) > 1)
        sched_yield();
}
