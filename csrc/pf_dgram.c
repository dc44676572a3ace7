#include "pf_dgram.h"
#include "pf_common.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* The arrays of `max` datagrams that a receive batch and a reply queue
 * both have: `bytes` of data, and message headers each pointing at its own
 * iovec and address, linked once here.  0 or -ENOMEM (the caller frees
 * what was allocated, with slots_free). */
static int slots_alloc(int max, size_t bytes, unsigned char **data, struct mmsghdr **msgs,
                       struct iovec **iov, struct sockaddr_storage **addrs)
{
    *data = malloc(bytes);
    *msgs = calloc((size_t)max, sizeof **msgs);
    *iov = calloc((size_t)max, sizeof **iov);
    *addrs = calloc((size_t)max, sizeof **addrs);
    if (!*data || !*msgs || !*iov || !*addrs)
        return -ENOMEM;
    for (int i = 0; i < max; i++) {
        (*msgs)[i].msg_hdr.msg_iov = &(*iov)[i];
        (*msgs)[i].msg_hdr.msg_iovlen = 1;
        (*msgs)[i].msg_hdr.msg_name = &(*addrs)[i];
    }
    return 0;
}

static void slots_free(unsigned char *data, struct mmsghdr *msgs, struct iovec *iov,
                       struct sockaddr_storage *addrs)
{
    free(data);
    free(msgs);
    free(iov);
    free(addrs);
}

int pf_dgram_batch_init(pf_dgram_batch *b, int max, size_t slot)
{
    memset(b, 0, sizeof *b);
    if (max < 1 || slot < 1)
        return -EINVAL;
    b->max = max;
    b->slot = slot;
    int rc = slots_alloc(max, (size_t)max * slot, &b->data, &b->msgs, &b->iov, &b->addrs);
    if (rc < 0) {
        pf_dgram_batch_free(b);
        return rc;
    }
    for (int i = 0; i < max; i++) {
        b->iov[i].iov_base = b->data + (size_t)i * slot;
        b->iov[i].iov_len = slot;
    }
    return 0;
}

void pf_dgram_batch_free(pf_dgram_batch *b)
{
    slots_free(b->data, b->msgs, b->iov, b->addrs);
    memset(b, 0, sizeof *b);
}

int pf_dgram_recv_batch(pf_dgram_batch *b, int fd)
{
    /* recvmmsg writes each slot's address length back: give the room again. */
    for (int i = 0; i < b->max; i++)
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->addrs[i];
    for (;;) {
        int n = recvmmsg(fd, b->msgs, (unsigned int)b->max, MSG_DONTWAIT, NULL);
        if (n >= 0)
            return n > 0 ? n : -EAGAIN;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : PF_NEG_ERRNO();
    }
}

int pf_dgram_ipv4(const char *host, long port, struct sockaddr_in *out)
{
    if (port < 0 || port > 65535)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -EINVAL;
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return 0;
}

ssize_t pf_dgram_sendto(int fd, const void *buf, size_t len, int flags,
                        const struct sockaddr *addr, socklen_t addrlen)
{
    for (;;) {
        ssize_t n = sendto(fd, buf, len, flags | MSG_DONTWAIT, addr, addrlen);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : PF_NEG_ERRNO();
    }
}

int pf_dgram_outq_init(pf_dgram_outq *q, int max, size_t cap)
{
    memset(q, 0, sizeof *q);
    if (max < 1 || cap < 1)
        return -EINVAL;
    q->max = max;
    q->cap = cap;
    int rc = slots_alloc(max, cap, &q->data, &q->msgs, &q->iov, &q->addrs);
    if (rc < 0)
        pf_dgram_outq_free(q);
    return rc;
}

void pf_dgram_outq_free(pf_dgram_outq *q)
{
    slots_free(q->data, q->msgs, q->iov, q->addrs);
    memset(q, 0, sizeof *q);
}

int pf_dgram_outq_add(pf_dgram_outq *q, const void *buf, size_t len,
                      const struct sockaddr *addr, socklen_t addrlen)
{
    if (len > q->cap)
        return -EMSGSIZE;
    if (addrlen > (socklen_t)sizeof q->addrs[0])
        return -EINVAL;
    if (q->n == q->max || len > q->cap - q->used)
        return -ENOBUFS;
    int i = q->n++;
    unsigned char *p = q->data + q->used;
    if (len > 0)
        memcpy(p, buf, len);
    q->used += len;
    q->iov[i].iov_base = p;
    q->iov[i].iov_len = len;
    memcpy(&q->addrs[i], addr, addrlen);
    q->msgs[i].msg_hdr.msg_namelen = addrlen;
    return 0;
}

static void outq_clear(pf_dgram_outq *q)
{
    q->n = q->sent = 0;
    q->used = 0;
}

int pf_dgram_outq_send(pf_dgram_outq *q, int fd, int flags)
{
    while (q->sent < q->n) {
        int k = sendmmsg(fd, &q->msgs[q->sent], (unsigned int)(q->n - q->sent), flags);
        if (k > 0) {
            q->sent += k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EWOULDBLOCK)
            return -EAGAIN;
        return k < 0 ? PF_NEG_ERRNO() : -EIO;
    }
    outq_clear(q);
    return 0;
}

void pf_dgram_outq_skip(pf_dgram_outq *q)
{
    if (q->sent < q->n && ++q->sent == q->n)
        outq_clear(q);
}
