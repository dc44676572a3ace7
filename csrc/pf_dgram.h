/* pf_dgram.h: receiving datagrams in batches with recvmmsg(2).
 *
 * One recvmmsg call fills up to `max` slots of `slot` bytes each; a larger
 * datagram is truncated to `slot` bytes (MSG_TRUNC), as recvfrom(slot)
 * truncates it.
 */
#ifndef PF_DGRAM_H
#define PF_DGRAM_H

#include <stddef.h>
#include <sys/socket.h>

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

#endif
