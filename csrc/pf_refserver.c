/* pf_refserver.c: see pf_refserver.h. */
#include "pf_refserver.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REF_BUF (64 * 1024)
#define REF_MAX_EVENTS 256
#define REF_UDP_BATCH 64
#define REF_MAX_LINE (1024 * 1024)

struct ref_conn {
    int fd;
    int close_after;       /* PF_REF_ONCE: close once the echo is written */
    char *pend;            /* unsent echo, or NULL */
    size_t pend_off, pend_len;
    char *part;            /* PF_REF_LINE: a line without its '\n' yet */
    size_t part_len, part_cap;
    struct ref_conn *prev, *next;
};

/* epoll keys that are not connections */
static char key_listen, key_stop;

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static void xclose(int fd)
{
    while (close(fd) < 0 && errno == EINTR)
        ;
}

static int add_fd(int ep, int fd, uint32_t ev, void *ptr)
{
    struct epoll_event e = { .events = ev, .data.ptr = ptr };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void conn_free(struct ref_conn **head, struct ref_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    xclose(c->fd);
    free(c->pend);
    free(c->part);
    free(c);
}

/* Write the pending echo. Returns 1 when all is written, 0 if more remains,
 * -1 on error. */
static int conn_flush(struct ref_conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->pend_off += (size_t)n;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
    return 1;
}

/* Send data[0..len); what the socket does not take now is kept in c->pend
 * and written on EPOLLOUT, reading stopped meanwhile. Returns 0 or -1. */
static int conn_reply(int ep, struct ref_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            c->pend_len = len - off;
            c->pend = malloc(c->pend_len);
            if (c->pend == NULL)
                return -1;
            memcpy(c->pend, data + off, c->pend_len);
            c->pend_off = 0;
            struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
            return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0 ? -1 : 0;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Append data to the partial line. Returns 0, or -1 (no memory, too long). */
static int part_append(struct ref_conn *c, const char *data, size_t len)
{
    if (c->part_len + len > REF_MAX_LINE)
        return -1;
    if (c->part_len + len > c->part_cap) {
        size_t cap = c->part_cap ? c->part_cap : 256;
        while (cap < c->part_len + len)
            cap *= 2;
        char *p = realloc(c->part, cap);
        if (p == NULL)
            return -1;
        c->part = p;
        c->part_cap = cap;
    }
    memcpy(c->part + c->part_len, data, len);
    c->part_len += len;
    return 0;
}

/* PF_REF_LINE: echo the complete lines of buf[0..n) after the partial line
 * held so far; keep the new partial line. Returns 0 or -1. */
static int conn_lines(int ep, struct ref_conn *c, char *buf, size_t n, struct pf_ref_stats *st)
{
    const char *data = buf;
    size_t len = n;
    if (c->part_len > 0) {
        if (part_append(c, buf, n) < 0)
            return -1;
        data = c->part;
        len = c->part_len;
    }
    const char *nl = memrchr(data, '\n', len);
    size_t whole = nl ? (size_t)(nl - data) + 1 : 0;
    if (whole > 0 && conn_reply(ep, c, data, whole) < 0)
        return -1;
    if (st)
        st->bytes += whole;
    if (data == c->part) {
        memmove(c->part, c->part + whole, len - whole);
        c->part_len = len - whole;
        return 0;
    }
    return part_append(c, buf + whole, n - whole);
}

/* Read once and echo as `mode` says. Returns 0, or -1 when the connection
 * is done (closed by the peer, failed, or PF_REF_ONCE's reply written). */
static int conn_echo(int ep, struct ref_conn *c, int mode, char *buf, struct pf_ref_stats *st)
{
    ssize_t n;
    do
        n = recv(c->fd, buf, REF_BUF, 0);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (mode == PF_REF_LINE)
        return conn_lines(ep, c, buf, (size_t)n, st);
    if (conn_reply(ep, c, buf, (size_t)n) < 0)
        return -1;
    if (st)
        st->bytes += (uint64_t)n;
    if (mode == PF_REF_ONCE) {
        if (c->pend != NULL) {
            c->close_after = 1;
            return 0;
        }
        shutdown(c->fd, SHUT_WR);
        return -1;
    }
    return 0;
}

/* Accept every pending connection. EMFILE: accept and drop one with the
 * spare fd so the listener does not stay readable forever. */
static void do_accept(int ep, int lfd, int *spare, struct ref_conn **head, struct pf_ref_stats *st)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && *spare >= 0) {
                xclose(*spare);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    xclose(fd);
                *spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return;   /* EAGAIN, or an error for which retrying now won't help */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* fails on AF_UNIX: fine */
        struct ref_conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            xclose(fd);
            continue;
        }
        c->fd = fd;
        if (add_fd(ep, fd, EPOLLIN, c) < 0) {
            xclose(fd);
            free(c);
            continue;
        }
        c->next = *head;
        if (*head)
            (*head)->prev = c;
        *head = c;
        if (st)
            st->accepted++;
    }
}

int pf_ref_echo_tcp(int listen_fd, int mode, int stop_fd, struct pf_ref_stats *stats)
{
    int rc = 0, ep = -1, spare = -1;
    if (mode != PF_REF_ECHO && mode != PF_REF_LINE && mode != PF_REF_ONCE)
        return -EINVAL;
    struct ref_conn *head = NULL;
    char *buf = NULL;
    struct epoll_event evs[REF_MAX_EVENTS];

    rc = set_nonblock(listen_fd);
    if (rc < 0)
        goto out;
    buf = malloc(REF_BUF);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        rc = -errno;
        goto out;
    }
    if ((rc = add_fd(ep, listen_fd, EPOLLIN, &key_listen)) < 0)
        goto out;
    if (stop_fd >= 0 && (rc = add_fd(ep, stop_fd, EPOLLIN, &key_stop)) < 0)
        goto out;

    for (;;) {
        int k = epoll_wait(ep, evs, REF_MAX_EVENTS, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        for (int i = 0; i < k; i++) {
            void *p = evs[i].data.ptr;
            if (p == &key_stop)
                goto out;
            if (p == &key_listen) {
                do_accept(ep, listen_fd, &spare, &head, stats);
                continue;
            }
            struct ref_conn *c = p;
            uint32_t ev = evs[i].events;
            if (c->pend != NULL) {   /* waiting for EPOLLOUT */
                int r = (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? conn_flush(c) : 0;
                if (r < 0) {
                    conn_free(&head, c);
                } else if (r == 1 && c->close_after) {
                    shutdown(c->fd, SHUT_WR);
                    conn_free(&head, c);
                } else if (r == 1) {
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
                        conn_free(&head, c);
                }
                continue;
            }
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (conn_echo(ep, c, mode, buf, stats) < 0)
                    conn_free(&head, c);
            }
        }
    }

out:
    while (head != NULL)
        conn_free(&head, head);
    if (ep >= 0)
        xclose(ep);
    if (spare >= 0)
        xclose(spare);
    free(buf);
    return rc;
}

int pf_ref_echo_udp(int fd, int stop_fd, struct pf_ref_stats *stats)
{
    int rc = 0, ep = -1;
    char *buf = NULL;
    struct epoll_event evs[4];

    rc = set_nonblock(fd);
    if (rc < 0)
        goto out;
    buf = malloc(REF_BUF);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        rc = -errno;
        goto out;
    }
    if ((rc = add_fd(ep, fd, EPOLLIN, &key_listen)) < 0)
        goto out;
    if (stop_fd >= 0 && (rc = add_fd(ep, stop_fd, EPOLLIN, &key_stop)) < 0)
        goto out;

    for (;;) {
        int k = epoll_wait(ep, evs, 4, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr == &key_stop)
                goto out;
            for (int b = 0; b < REF_UDP_BATCH; b++) {
                struct sockaddr_storage peer;
                socklen_t plen = sizeof(peer);
                ssize_t n = recvfrom(fd, buf, REF_BUF, 0, (struct sockaddr *)&peer, &plen);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    break;   /* EAGAIN, or a stray ICMP error: wait for more */
                }
                ssize_t w;
                do
                    w = sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen);
                while (w < 0 && errno == EINTR);
                if (w >= 0 && stats) {
                    stats->bytes += (uint64_t)w;
                    stats->datagrams++;
                }
            }
        }
    }

out:
    if (ep >= 0)
        xclose(ep);
    free(buf);
    return rc;
}
