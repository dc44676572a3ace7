#include "pf_waiter.h"
#include "pf_common.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int pf_waiter_open(pf_waiter *w)
{
    int rc;
    w->epfd = -1;
    w->wakefd = -1;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        return PF_NEG_ERRNO();
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wakefd < 0) {
        rc = PF_NEG_ERRNO();
        goto fail;
    }
    rc = pf_waiter_add(w, w->wakefd, EPOLLIN, PF_WAITER_WAKE_TAG);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    pf_waiter_close(w);
    return rc;
}

void pf_waiter_close(pf_waiter *w)
{
    if (w->wakefd >= 0)
        close(w->wakefd);
    if (w->epfd >= 0)
        close(w->epfd);
    w->wakefd = -1;
    w->epfd = -1;
}

static int waiter_ctl(pf_waiter *w, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(w->epfd, op, fd, &ev) < 0)
        return PF_NEG_ERRNO();
    return 0;
}

int pf_waiter_add(pf_waiter *w, int fd, uint32_t events, uint64_t tag)
{
    return waiter_ctl(w, EPOLL_CTL_ADD, fd, events, tag);
}

int pf_waiter_mod(pf_waiter *w, int fd, uint32_t events, uint64_t tag)
{
    return waiter_ctl(w, EPOLL_CTL_MOD, fd, events, tag);
}

int pf_waiter_del(pf_waiter *w, int fd)
{
    return waiter_ctl(w, EPOLL_CTL_DEL, fd, 0, 0);
}

int pf_waiter_wake(pf_waiter *w)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(w->wakefd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, a wake-up is pending anyway. */
    if (n < 0 && errno != EAGAIN)
        return PF_NEG_ERRNO();
    return 0;
}

int pf_waiter_wait(pf_waiter *w, int timeout_ms, uint64_t *tags, int max)
{
    struct epoll_event evs[16];
    if (max > 16)
        max = 16;
    if (max < 1)
        return -EINVAL;
    int n = epoll_wait(w->epfd, evs, max, timeout_ms);
    if (n < 0)
        return PF_NEG_ERRNO(); /* -EINTR included: see pf_common.h */
    for (int i = 0; i < n; i++) {
        tags[i] = evs[i].data.u64;
        if (tags[i] == PF_WAITER_WAKE_TAG) {
            uint64_t count;
            ssize_t r;
            do {
                r = read(w->wakefd, &count, sizeof count);
            } while (r < 0 && errno == EINTR);
        }
    }
    return n;
}
