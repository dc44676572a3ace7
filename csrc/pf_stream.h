/* pf_stream.h: the read and write buffers behind StreamRequestHandler's
 * rfile and wfile, and the socket calls they make.
 *
 * pf_rbuf: bytes received and not yet consumed, [start, end) of data.
 * pf_wbuf: bytes written and not yet sent, [start, end) of data.
 * Both grow on demand, geometrically (a long line arriving in many reads
 * is not reallocated per read), and give back an allocation larger than
 * PF_BYTES_KEEP once emptied.
 */
#ifndef PF_STREAM_H
#define PF_STREAM_H

#include <stddef.h>
#include <sys/types.h>

typedef struct pf_bytes {
    unsigned char *data;
    size_t cap, start, end;
} pf_bytes;

typedef pf_bytes pf_rbuf;
typedef pf_bytes pf_wbuf;

static inline size_t pf_bytes_len(const pf_bytes *b) { return b->end - b->start; }
static inline unsigned char *pf_bytes_head(const pf_bytes *b) { return b->data + b->start; }

/* An emptied buffer keeps an allocation up to this size (bytes). */
#define PF_BYTES_KEEP ((size_t)1 << 20)

void pf_bytes_free(pf_bytes *b);
/* Make room for at least want more bytes after end: compact first, then
 * grow the allocation by doubling it (from first bytes, or 256 when first
 * is 0, for an empty buffer) until len + want fit.  0 or -ENOMEM. */
int pf_bytes_reserve(pf_bytes *b, size_t want, size_t first);
/* Drop n bytes from the front (freeing an emptied allocation larger than
 * PF_BYTES_KEEP). */
void pf_bytes_consume(pf_bytes *b, size_t n);
/* Append n bytes.  0 or -ENOMEM. */
int pf_bytes_append(pf_bytes *b, const void *src, size_t n);

/* One recv(2) into the free space of b, after reserving at least want
 * bytes (pf_bytes_reserve(b, want, want)).  Returns bytes read, 0 at end of
 * stream, or -errno (-EAGAIN when flags has MSG_DONTWAIT or the socket is
 * non-blocking and nothing is there; -EINTR is returned, see pf_common.h). */
ssize_t pf_rbuf_fill(pf_rbuf *b, int fd, size_t want, int flags);

/* One recv(2) into buf.  Count, 0 at end of stream, or -errno (EINTR returned). */
ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags);
/* send(2) as much of buf as the socket takes now, MSG_NOSIGNAL added.
 * Returns bytes sent (may be short), or -errno; -EAGAIN when none fit.
 * With MSG_DONTWAIT in flags it never blocks; EINTR is retried. */
ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags);

/* poll(2) fd for events (POLLIN/POLLOUT) up to timeout_ms (-1: no limit).
 * 1 ready (or error/hang-up pending: the next call reports it), 0 timed out,
 * -EINTR on a signal, other -errno. */
int pf_wait_fd(int fd, short events, int timeout_ms);

#endif
