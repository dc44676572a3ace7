/* pf_common.h: conventions shared by every csrc/ file.
 *
 * - Public names start with pf_, internal ones are static.
 * - Functions return 0 (or a count / a file descriptor) on success and a
 *   negative errno on failure; errno itself is never the error channel.
 * - EINTR: internal loops retry it.  The few calls that block on behalf of
 *   Python (pf_loop_wait, pf_wait_fd, blocking pf_sock_recv/pf_sock_send)
 *   return -EINTR instead, so that the Cython layer can run Python's signal
 *   handlers and retry, as CPython does (PEP 475): that is how Ctrl-C reaches
 *   a thread blocked in C.
 * - No Python.h anywhere in csrc/.
 */
#ifndef PF_COMMON_H
#define PF_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define PF_NEG_ERRNO() (errno > 0 ? -errno : -EIO)

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t pf_now_ms(void);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t pf_now_ns(void);

/* Set or clear O_NONBLOCK on fd.  0 or -errno. */
int pf_set_nonblocking(int fd, int on);

#endif
