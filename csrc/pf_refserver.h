/* pf_refserver: the C reference servers, "what one core can do".
 *
 * pf_ref_echo_tcp: epoll (level-triggered) TCP or Unix stream echo. Accepts
 * with accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) and stops reading a connection
 * while its echo is not fully written. What it echoes, and who closes, is the
 * mode: the same work as the Python handlers of the benchmark's scenarios.
 *   PF_REF_ECHO  every byte read, until the client closes (recv/sendall loop);
 *   PF_REF_LINE  complete '\n'-terminated lines, a partial line is kept until
 *                its end arrives (a line longer than 1 MiB closes that
 *                connection), until the client closes (readline/write loop);
 *   PF_REF_ONCE  one read, its echo, then shutdown(SHUT_WR) and close: the
 *                server closes first (socketserver's recv, sendall, return).
 * pf_ref_echo_udp: recvfrom/sendto datagram echo.
 *
 * Both serve the given bound fd (a listening socket for TCP) until stop_fd
 * (an eventfd or the read end of a pipe; -1 for none) becomes readable, then
 * close every connection they opened and return 0; -errno on failure. The
 * caller owns and closes fd and stop_fd. To stop on SIGTERM, have the signal
 * handler write to stop_fd (Python: signal.set_wakeup_fd).
 *
 * Plain C, no Python.
 */
#ifndef PF_REFSERVER_H
#define PF_REFSERVER_H

#include <stdint.h>

struct pf_ref_stats {
    uint64_t accepted;   /* connections accepted */
    uint64_t bytes;      /* bytes (TCP) or datagrams' bytes (UDP) echoed */
    uint64_t datagrams;  /* datagrams echoed (UDP) */
};

enum pf_ref_mode {
    PF_REF_ECHO = 0,
    PF_REF_LINE = 1,
    PF_REF_ONCE = 2,
};

int pf_ref_echo_tcp(int listen_fd, int mode, int stop_fd, struct pf_ref_stats *stats);
int pf_ref_echo_udp(int fd, int stop_fd, struct pf_ref_stats *stats);

#endif
