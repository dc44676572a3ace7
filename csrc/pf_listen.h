/* pf_listen.h: accepting connections.
 *
 * The listening socket itself is created, bound and put in listening state
 * by Python (socketserver's server_bind/server_activate hooks stay
 * overridable); C accepts on its file descriptor.
 */
#ifndef PF_LISTEN_H
#define PF_LISTEN_H

#include <sys/socket.h>

typedef struct pf_listener {
    int fd;         /* listening socket, owned by Python's socket object */
    int reserve_fd; /* spare descriptor given up to shed a client on EMFILE */
    unsigned long shed; /* connections closed at once for lack of descriptors */
} pf_listener;

/* Make fd non-blocking and open the reserve descriptor.  0 or -errno. */
int pf_listener_init(pf_listener *l, int fd);
/* Close the reserve descriptor (never the listening socket). */
void pf_listener_close(pf_listener *l);

/* Accept one connection with accept4(flags | SOCK_CLOEXEC).
 * flags: 0 for a blocking connection (socketserver handlers), SOCK_NONBLOCK
 * for event-loop use.  Returns the new fd and fills addr/addrlen, or:
 *   -EAGAIN   nothing is pending;
 *   -EMFILE / -ENFILE  out of descriptors: one pending client was accepted
 *             with the reserve descriptor and closed at once, so the
 *             listener does not stay readable and the caller does not spin
 *             (libuv's approach); the caller may log and carry on;
 *   other -errno from accept4.
 * EINTR and ECONNABORTED (a client gone before accept) are retried. */
int pf_listener_accept(pf_listener *l, int flags, struct sockaddr *addr,
                       socklen_t *addrlen);

#endif
