#include "pf_listen.h"
#include "pf_common.h"

#include <fcntl.h>
#include <unistd.h>

static int open_reserve(void)
{
    int fd;
    do {
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? PF_NEG_ERRNO() : fd;
}

int pf_listener_init(pf_listener *l, int fd)
{
    int rc;
    l->fd = fd;
    l->shed = 0;
    l->reserve_fd = -1;
    rc = pf_set_nonblocking(fd, 1);
    if (rc < 0)
        return rc;
    rc = open_reserve();
    if (rc < 0)
        return rc;
    l->reserve_fd = rc;
    return 0;
}

void pf_listener_close(pf_listener *l)
{
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    l->reserve_fd = -1;
}

/* Out of descriptors: release the reserve, accept the oldest pending client
 * and close it (it sees a reset/EOF rather than hanging in the backlog),
 * take the reserve back. */
static void shed_one(pf_listener *l)
{
    if (l->reserve_fd < 0)
        return;
    close(l->reserve_fd);
    l->reserve_fd = -1;
    int fd;
    do {
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        close(fd);
        l->shed++;
    }
    int r = open_reserve();
    if (r >= 0)
        l->reserve_fd = r;
}

int pf_listener_accept(pf_listener *l, int flags, struct sockaddr *addr,
                       socklen_t *addrlen)
{
    for (;;) {
        socklen_t len = addrlen ? *addrlen : 0;
        int fd = accept4(l->fd, addr, addrlen ? &len : NULL, flags | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (addrlen)
                *addrlen = len;
            return fd;
        }
        int err = errno;
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (err == EWOULDBLOCK)
            return -EAGAIN;
        if (err == EMFILE || err == ENFILE)
            shed_one(l);
        return -err;
    }
}
