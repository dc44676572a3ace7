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

/* A key that names datagram i's sender exactly, for a cache of decoded
 * addresses: nonzero for an AF_INET sender (address, port and family in 49
 * bits), 0 for any other family (decode it each time). */
static inline uint64_t pf_dgram_addr_key(const pf_dgram_batch *b, int i)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&b->addrs[i];
    if (pf_dgram_addrlen(b, i) < (socklen_t)sizeof *sin || sin->sin_family != AF_INET)
        return 0;
    return ((uint64_t)1 << 48) | ((uint64_t)ntohl(sin->sin_addr.s_addr) << 16)
           | ntohs(sin->sin_port);
}

#endif
