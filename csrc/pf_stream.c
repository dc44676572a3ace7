#include "pf_stream.h"
#include "pf_common.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recv(fd, buf, len, flags);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : PF_NEG_ERRNO();
    return n;
}

ssize_t pf_buf_recv(pf_buf *b, int fd, size_t want, int flags)
{
    int rc = pf_buf_reserve(b, want);
    if (rc < 0)
        return rc;
    ssize_t n = pf_sock_recv(fd, pf_buf_tail(b), pf_buf_avail(b), flags);
    if (n > 0)
        pf_buf_commit(b, (size_t)n);
    return n;
}

ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, flags | MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : PF_NEG_ERRNO();
    }
}

int pf_wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return PF_NEG_ERRNO();
    return n > 0 ? 1 : 0;
}
