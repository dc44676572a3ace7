/* pf_waiter.h: an epoll set with an eventfd wake-up.
 *
 * The waiter is what serve_forever() and handle_request() sleep in: the
 * listening socket (or any fd) plus an eventfd that shutdown() writes to,
 * so that a shutdown request ends the wait at once instead of at the next
 * poll interval (socketserver polls every 0.5 s).
 */
#ifndef PF_WAITER_H
#define PF_WAITER_H

#include <stdint.h>

typedef struct pf_waiter {
    int epfd;
    int wakefd;
} pf_waiter;

/* Tag reported for the wake-up eventfd. */
#define PF_WAITER_WAKE_TAG UINT64_MAX

int pf_waiter_open(pf_waiter *w);
void pf_waiter_close(pf_waiter *w);
/* events: EPOLLIN/EPOLLOUT...; tag is reported back by pf_waiter_wait. */
int pf_waiter_add(pf_waiter *w, int fd, uint32_t events, uint64_t tag);
int pf_waiter_mod(pf_waiter *w, int fd, uint32_t events, uint64_t tag);
int pf_waiter_del(pf_waiter *w, int fd);
/* Make the current or next pf_waiter_wait return.  Safe from any thread. */
int pf_waiter_wake(pf_waiter *w);
/* Wait up to timeout_ms (-1: no limit).  Writes up to max tags of ready fds
 * to tags and returns how many (0 on timeout).  A wake-up is reported as
 * PF_WAITER_WAKE_TAG and consumed.  Returns -EINTR when a signal arrived. */
int pf_waiter_wait(pf_waiter *w, int timeout_ms, uint64_t *tags, int max);

#endif
