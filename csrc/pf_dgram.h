/* pf_dgram.h: receiving datagrams in batches with recvmmsg(2).
 *
 * One recvmmsg call fills up to `max` slots of `slot` bytes each; a larger
 * datagram is truncated to `slot` bytes (MSG_TRUNC), as recvfrom(slot)
 * truncates it.
 */
#ifndef PF_DGRAM_H
#define PF_DGRAM_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct pf_dgram_batch {
    int max;               /* slots */
    size_t slot;           /* bytes per slot */
    unsigned char *data;   /* max * slot bytes */
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *addrs;
} pf_dgram_batch;

/* 0 or -ENOMEM / -EINVAL. */
int pf_dgram_batch_init(pf_dgram_batch *b, int max, size_t slot);
void pf_dgram_batch_free(pf_dgram_batch *b);

/* Receive up to b->max datagrams without waiting.  Returns how many (>= 1),
 * -EAGAIN when none is queued, other -errno.  EINTR is retried. */
int pf_dgram_recv_batch(pf_dgram_batch *b, int fd);

/* A queue of datagrams to send with one sendmmsg(2): copies of the data in
 * one buffer of `cap` bytes, up to `max` datagrams, each with its own
 * destination address. */
typedef struct pf_dgram_outq {
    int max;               /* slots */
    int n;                 /* datagrams queued */
    int sent;              /* of those, sent (or skipped after an error) */
    size_t cap;            /* bytes of data */
    size_t used;
    unsigned char *data;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *addrs;
} pf_dgram_outq;

/* 0 or -ENOMEM / -EINVAL. */
int pf_dgram_outq_init(pf_dgram_outq *q, int max, size_t cap);
void pf_dgram_outq_free(pf_dgram_outq *q);

/* Queue a copy of len bytes for addr.  0, -ENOBUFS when the queue is full
 * (send it first), -EMSGSIZE when len > cap, -EINVAL for an address larger
 * than a sockaddr_storage. */
int pf_dgram_outq_add(pf_dgram_outq *q, const void *buf, size_t len,
                      const struct sockaddr *addr, socklen_t addrlen);

/* Send the queued datagrams not yet sent, with sendmmsg(2) and `flags`
 * (EINTR retried).  0 when all have gone out (the queue is then empty);
 * -EAGAIN when the socket is full (those sent so far are counted in
 * q->sent); another -errno is the error of datagram q->sent, which the
 * caller reports and passes over with pf_dgram_outq_skip() before sending
 * the rest. */
int pf_dgram_outq_send(pf_dgram_outq *q, int fd, int flags);

/* Pass over datagram q->sent (after its error); empties the queue when it
 * was the last. */
void pf_dgram_outq_skip(pf_dgram_outq *q);

/* Destination of queued datagram i. */
static inline const struct sockaddr *pf_dgram_outq_addr(const pf_dgram_outq *q, int i)
{
    return (const struct sockaddr *)&q->addrs[i];
}
static inline socklen_t pf_dgram_outq_addrlen(const pf_dgram_outq *q, int i)
{
    return q->msgs[i].msg_hdr.msg_namelen;
}
static inline size_t pf_dgram_outq_len(const pf_dgram_outq *q, int i)
{
    return q->iov[i].iov_len;
}

/* Fill *out with the IPv4 address of numeric `host` (dotted quad, as
 * inet_pton) and `port`.  0, or -EINVAL when host is not numeric IPv4 or
 * port is outside 0..65535 (the caller then leaves it to the socket module:
 * a name to resolve, its own error message). */
int pf_dgram_ipv4(const char *host, long port, struct sockaddr_in *out);

/* sendto(2) of one datagram without waiting (MSG_DONTWAIT added to flags),
 * EINTR retried.  Bytes sent, -EAGAIN when the socket's buffer is full, or
 * another -errno. */
ssize_t pf_dgram_sendto(int fd, const void *buf, size_t len, int flags,
                        const struct sockaddr *addr, socklen_t addrlen);

/* Datagram i of the last batch: its bytes (truncated to slot), length, and
 * the sender's address. */
static inline const unsigned char *pf_dgram_data(const pf_dgram_batch *b, int i)
{
    return b->data + (size_t)i * b->slot;
}
static inline size_t pf_dgram_len(const pf_dgram_batch *b, int i)
{
    size_t n = b->msgs[i].msg_len;
    return n > b->slot ? b->slot : n;
}
static inline const struct sockaddr *pf_dgram_addr(const pf_dgram_batch *b, int i)
{
    return (const struct sockaddr *)&b->addrs[i];
}
static inline socklen_t pf_dgram_addrlen(const pf_dgram_batch *b, int i)
{
    return b->msgs[i].msg_hdr.msg_namelen;
}

/* A key that names an IPv4 address and port exactly (family, address and
 * port in 49 bits, never 0), for a cache of decoded addresses. */
static inline uint64_t pf_dgram_ipv4_key(const struct sockaddr_in *sin)
{
    return ((uint64_t)1 << 48) | ((uint64_t)ntohl(sin->sin_addr.s_addr) << 16)
           | ntohs(sin->sin_port);
}

/* The key of datagram i's sender: pf_dgram_ipv4_key for an AF_INET sender,
 * 0 for any other family (decode it each time). */
static inline uint64_t pf_dgram_addr_key(const pf_dgram_batch *b, int i)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&b->addrs[i];
    if (pf_dgram_addrlen(b, i) < (socklen_t)sizeof *sin || sin->sin_family != AF_INET)
        return 0;
    return pf_dgram_ipv4_key(sin);
}

#endif
