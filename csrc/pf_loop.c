/* pf_loop.c: the one event-loop core.  See pf_loop.h. */
#include "pf_loop.h"
#include "pf_common.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EPOLL 256       /* most fd events one epoll_wait returns */
#define LOOP_MAX_TIMEOUT_MS 86400000 /* a timer further away waits again */

/* Counted loops open in this process (see pf_loop_yield). */
static int loops_open;

int64_t pf_loop_now_ns(void)
{
    return pf_now_ns();
}

int64_t pf_loop_now_ms(void)
{
    return pf_now_ms();
}

static void loop_release(pf_loop *l);

int pf_loop_open(pf_loop *l, int count_for_yield)
{
    int rc;
    memset(l, 0, sizeof(*l));
    l->epfd = -1;
    l->wakefd = -1;
    rc = pthread_mutex_init(&l->inbox_mu, NULL);
    if (rc != 0)
        return -rc;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wakefd < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = PF_LOOP_RESERVED_TAG};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    if (count_for_yield) {
        l->counted = 1;
        __atomic_fetch_add(&loops_open, 1, __ATOMIC_RELAXED);
    }
    return 0;
fail:
    loop_release(l);
    return rc;
}

void pf_loop_close(pf_loop *l)
{
    if (l->epfd < 0)
        return; /* closed already */
    loop_release(l);
}

static void loop_release(pf_loop *l)
{
    if (l->counted)
        __atomic_fetch_sub(&loops_open, 1, __ATOMIC_RELAXED);
    l->counted = 0;
    if (l->wakefd >= 0)
        close(l->wakefd);
    if (l->epfd >= 0)
        close(l->epfd);
    l->wakefd = -1;
    l->epfd = -1;
    free(l->timers);
    free(l->heap);
    free(l->free_ids);
    l->timers = NULL;
    l->heap = NULL;
    l->free_ids = NULL;
    l->ntimers_cap = l->heap_len = l->nfree = 0;
    pf_msgq_free(&l->inbox);
    pthread_mutex_destroy(&l->inbox_mu);
}

/* ---- descriptors ------------------------------------------------------ */

static int loop_ctl(pf_loop *l, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
        return PF_NEG_ERRNO();
    return 0;
}

int pf_loop_add(pf_loop *l, int fd, uint32_t events, uint64_t tag)
{
    if (tag == PF_LOOP_RESERVED_TAG)
        return -EINVAL;
    return loop_ctl(l, EPOLL_CTL_ADD, fd, events, tag);
}

int pf_loop_mod(pf_loop *l, int fd, uint32_t events, uint64_t tag)
{
    if (tag == PF_LOOP_RESERVED_TAG)
        return -EINVAL;
    return loop_ctl(l, EPOLL_CTL_MOD, fd, events, tag);
}

int pf_loop_del(pf_loop *l, int fd)
{
    return loop_ctl(l, EPOLL_CTL_DEL, fd, 0, 0);
}

/* ---- timers: a binary min-heap of ids into a slab, on (deadline, seq) -- */

static int heap_less(const pf_loop *l, int a, int b)
{
    const pf_loop_timer *x = &l->timers[l->heap[a]], *y = &l->timers[l->heap[b]];
    if (x->deadline_ns != y->deadline_ns)
        return x->deadline_ns < y->deadline_ns;
    return x->seq < y->seq;
}

static void heap_swap(pf_loop *l, int a, int b)
{
    int t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->timers[l->heap[a]].heap_idx = a;
    l->timers[l->heap[b]].heap_idx = b;
}

static void heap_up(pf_loop *l, int i)
{
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!heap_less(l, i, parent))
            break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(pf_loop *l, int i)
{
    for (;;) {
        int a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->heap_len && heap_less(l, a, m))
            m = a;
        if (b < l->heap_len && heap_less(l, b, m))
            m = b;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(pf_loop *l, int i)
{
    int id = l->heap[i];
    int last = --l->heap_len;
    if (i != last) {
        l->heap[i] = l->heap[last];
        l->timers[l->heap[i]].heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    l->timers[id].heap_idx = -1;
    l->free_ids[l->nfree++] = id;
}

static int timers_grow(pf_loop *l)
{
    int cap = l->ntimers_cap ? l->ntimers_cap * 2 : 64;
    pf_loop_timer *t = realloc(l->timers, (size_t)cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    l->timers = t;
    int *heap = realloc(l->heap, (size_t)cap * sizeof *heap);
    if (!heap)
        return -ENOMEM;
    l->heap = heap;
    int *free_ids = realloc(l->free_ids, (size_t)cap * sizeof *free_ids);
    if (!free_ids)
        return -ENOMEM;
    l->free_ids = free_ids;
    /* New ids go on the free stack highest first, so low ids are used first. */
    for (int id = cap - 1; id >= l->ntimers_cap; id--) {
        l->timers[id].heap_idx = -1;
        l->free_ids[l->nfree++] = id;
    }
    l->ntimers_cap = cap;
    return 0;
}

int pf_loop_timer_add(pf_loop *l, int64_t deadline_ns, uint64_t tag)
{
    if (l->nfree == 0) {
        int rc = timers_grow(l);
        if (rc < 0)
            return rc;
    }
    int id = l->free_ids[--l->nfree];
    pf_loop_timer *t = &l->timers[id];
    t->deadline_ns = deadline_ns;
    t->seq = l->timer_seq++;
    t->tag = tag;
    t->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = id;
    heap_up(l, t->heap_idx);
    return id;
}

int pf_loop_timer_cancel(pf_loop *l, int id, uint64_t tag)
{
    if (id < 0 || id >= l->ntimers_cap)
        return 0;
    pf_loop_timer *t = &l->timers[id];
    if (t->heap_idx < 0 || t->tag != tag)
        return 0;
    heap_remove(l, t->heap_idx);
    return 1;
}

int pf_loop_timer_count(const pf_loop *l)
{
    return l->heap_len;
}

int64_t pf_loop_timer_next(const pf_loop *l)
{
    return l->heap_len > 0 ? l->timers[l->heap[0]].deadline_ns : -1;
}

/* ---- wake-up and inbox ------------------------------------------------ */

int pf_loop_wake(pf_loop *l)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(l->wakefd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, a wake-up is pending anyway. */
    if (n < 0 && errno != EAGAIN)
        return PF_NEG_ERRNO();
    return 0;
}

int pf_loop_post(pf_loop *l, const pf_loop_msg *m)
{
    int rc = 0;
    pthread_mutex_lock(&l->inbox_mu);
    rc = l->inbox_closed ? -ESHUTDOWN : pf_msgq_push(&l->inbox, m);
    pthread_mutex_unlock(&l->inbox_mu);
    if (rc == 0)
        pf_loop_wake(l); /* m is queued: report that, the wake cannot fail but on EBADF */
    return rc;
}

size_t pf_loop_take(pf_loop *l, pf_loop_msg *out, size_t max)
{
    pthread_mutex_lock(&l->inbox_mu);
    size_t n = pf_msgq_take(&l->inbox, out, max);
    pthread_mutex_unlock(&l->inbox_mu);
    return n;
}

size_t pf_loop_inbox_len(pf_loop *l)
{
    pthread_mutex_lock(&l->inbox_mu);
    size_t n = pf_msgq_len(&l->inbox);
    pthread_mutex_unlock(&l->inbox_mu);
    return n;
}

size_t pf_loop_inbox_close(pf_loop *l)
{
    pthread_mutex_lock(&l->inbox_mu);
    l->inbox_closed = 1;
    size_t n = pf_msgq_len(&l->inbox);
    pthread_mutex_unlock(&l->inbox_mu);
    return n;
}

/* ---- the wait --------------------------------------------------------- */

int pf_loop_wait(pf_loop *l, int timeout_ms, pf_loop_event *out, int max)
{
    struct epoll_event evs[LOOP_MAX_EPOLL];
    int n, count = 0, woken = 0;

    if (max < 1)
        return -EINVAL;
    if (l->heap_len > 0) {
        int64_t left = l->timers[l->heap[0]].deadline_ns - pf_now_ns();
        /* Round up: waking before the deadline would only wait again. */
        int64_t ms = left <= 0 ? 0 : (left + 999999) / 1000000;
        if (timeout_ms < 0 || ms < timeout_ms)
            timeout_ms = (int)(ms > LOOP_MAX_TIMEOUT_MS ? LOOP_MAX_TIMEOUT_MS : ms);
    }
    /* At most max: the wake-up, if among them, takes its own slot's place. */
    int want = max > LOOP_MAX_EPOLL ? LOOP_MAX_EPOLL : max;
    n = epoll_wait(l->epfd, evs, want, timeout_ms);
    if (n < 0)
        return PF_NEG_ERRNO(); /* -EINTR included: see pf_loop.h */
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == PF_LOOP_RESERVED_TAG) {
            uint64_t c;
            ssize_t r;
            do {
                r = read(l->wakefd, &c, sizeof c);
            } while (r < 0 && errno == EINTR);
            woken = 1;
            continue;
        }
        out[count].tag = evs[i].data.u64;
        out[count].events = evs[i].events;
        count++;
    }
    if (woken) {
        /* count < n <= max: there is room. */
        out[count].tag = 0;
        out[count].events = PF_LOOP_WAKE;
        count++;
    }
    if (l->heap_len > 0 && count < max) {
        int64_t now = pf_now_ns();
        while (l->heap_len > 0 && count < max) {
            pf_loop_timer *t = &l->timers[l->heap[0]];
            if (t->deadline_ns > now)
                break;
            out[count].tag = t->tag;
            out[count].events = PF_LOOP_TIMER;
            count++;
            heap_remove(l, 0);
        }
    }
    return count;
}

/* ---- fairness between loops (see pf_loop.h) --------------------------- */

void pf_loop_yield(void)
{
    if (__atomic_load_n(&loops_open, __ATOMIC_RELAXED) > 1)
        sched_yield();
}
