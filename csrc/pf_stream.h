/* pf_stream.h: the socket calls behind StreamRequestHandler's rfile and
 * wfile.  Their read and write buffers are pf_bufs without a cap
 * (pf_buf.h; pf_buf_recv reads into one).
 */
#ifndef PF_STREAM_H
#define PF_STREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "pf_buf.h"

/* Read into b: one recv(2) on fd (flags: MSG_DONTWAIT...) into its free
 * space after reserving at least want bytes (pf_buf_reserve).  Bytes read
 * (committed to b), 0 at end of stream, or -errno: -EAGAIN when the socket
 * is non-blocking (or flags has MSG_DONTWAIT) and nothing is there, -EINTR
 * returned (see pf_common.h), -ENOBUFS / -ENOMEM from the reserve. */
ssize_t pf_buf_recv(pf_buf *b, int fd, size_t want, int flags);

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
