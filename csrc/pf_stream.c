#include "pf_stream.h"
#include "pf_common.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void pf_bytes_free(pf_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = b->start = b->end = 0;
}

int pf_bytes_reserve(pf_bytes *b, size_t want, size_t first)
{
    size_t len = pf_bytes_len(b);
    if (b->cap - b->end >= want)
        return 0;
    if (b->start > 0) { /* compact */
        memmove(b->data, b->data + b->start, len);
        b->start = 0;
        b->end = len;
        if (b->cap - b->end >= want)
            return 0;
    }
    /* Geometric growth: a line or message arriving in many reads costs
     * amortised O(1) per byte, not a reallocation per read. */
    size_t ncap = b->cap ? b->cap : (first > 0 ? first : 256);
    while (ncap < len + want && ncap <= SIZE_MAX / 2)
        ncap *= 2;
    if (ncap < len + want)
        ncap = len + want;
    unsigned char *n = realloc(b->data, ncap);
    if (!n)
        return -ENOMEM;
    b->data = n;
    b->cap = ncap;
    return 0;
}

void pf_bytes_consume(pf_bytes *b, size_t n)
{
    if (n >= pf_bytes_len(b)) {
        b->start = b->end = 0;
        if (b->cap > PF_BYTES_KEEP)
            pf_bytes_free(b); /* what one long line or message grew */
        return;
    }
    b->start += n;
}

int pf_bytes_append(pf_bytes *b, const void *src, size_t n)
{
    int rc = pf_bytes_reserve(b, n, b->end - b->start + n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->end, src, n);
    b->end += n;
    return 0;
}

ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recv(fd, buf, len, flags);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : PF_NEG_ERRNO();
    return n;
}

ssize_t pf_rbuf_fill(pf_rbuf *b, int fd, size_t want, int flags)
{
    int rc = pf_bytes_reserve(b, want, want);
    if (rc < 0)
        return rc;
    ssize_t n = pf_sock_recv(fd, b->data + b->end, b->cap - b->end, flags);
    if (n > 0)
        b->end += (size_t)n;
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
