/* pf_refserver.c: see pf_refserver.h. */
#include "pf_refserver.h"
#include "pf_buf.h"
#include "pf_common.h"
#include "pf_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REF_BUF (64 * 1024)
#define REF_MAX_EVENTS 256
#define REF_UDP_BATCH 64
#define REF_MAX_LINE (1024 * 1024)

struct ref_conn {
    int fd;
    int close_after;       /* PF_REF_ONCE: close once the echo is written */
    pf_buf pend;           /* unsent echo (no cap) */
    pf_buf part;           /* PF_REF_LINE: a line without its '\n' yet */
    struct ref_conn *prev, *next;
};

/* pf_loop tags that are not connections (a connection's: its pointer) */
#define TAG_LISTEN 0
#define TAG_STOP 1
static inline uint64_t conn_tag(const struct ref_conn *c) { return (uint64_t)(uintptr_t)c; }

static void xclose(int fd)
{
    while (close(fd) < 0 && errno == EINTR)
        ;
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
    pf_buf_free(&c->pend);
    pf_buf_free(&c->part);
    free(c);
}

/* Write the pending echo. Returns 1 when all is written, 0 if more remains,
 * -1 on error. */
static int conn_flush(struct ref_conn *c)
{
    while (pf_buf_len(&c->pend) > 0) {
        ssize_t n = send(c->fd, pf_buf_data(&c->pend), pf_buf_len(&c->pend), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        pf_buf_consume(&c->pend, (size_t)n);
    }
    pf_buf_shrink(&c->pend);
    return 1;
}

/* Send data[0..len); what the socket does not take now is kept in c->pend
 * and written on EPOLLOUT, reading stopped meanwhile. Returns 0 or -1. */
static int conn_reply(pf_loop *l, struct ref_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            if (pf_buf_append(&c->pend, data + off, len - off) < 0)
                return -1;
            return pf_loop_mod(l, c->fd, EPOLLOUT, conn_tag(c)) < 0 ? -1 : 0;
        }
        off += (size_t)w;
    }
    return 0;
}

/* PF_REF_LINE: echo the complete lines of buf[0..n) after the partial line
 * held so far; keep the new partial line. Returns 0 or -1. */
static int conn_lines(pf_loop *l, struct ref_conn *c, char *buf, size_t n, struct pf_ref_stats *st)
{
    const char *data = buf;
    size_t len = n;
    int held = pf_buf_len(&c->part) > 0;
    if (held) {
        if (pf_buf_append(&c->part, buf, n) < 0)
            return -1; /* -ENOBUFS: over REF_MAX_LINE */
        data = (const char *)pf_buf_data(&c->part);
        len = pf_buf_len(&c->part);
    }
    const char *nl = memrchr(data, '\n', len);
    size_t whole = nl ? (size_t)(nl - data) + 1 : 0;
    if (whole > 0 && conn_reply(l, c, data, whole) < 0)
        return -1;
    if (st)
        st->bytes += whole;
    if (held) {
        pf_buf_consume(&c->part, whole);
        return 0;
    }
    return pf_buf_append(&c->part, buf + whole, n - whole) < 0 ? -1 : 0;
}

/* Read once and echo as `mode` says. Returns 0, or -1 when the connection
 * is done (closed by the peer, failed, or PF_REF_ONCE's reply written). */
static int conn_echo(pf_loop *l, struct ref_conn *c, int mode, char *buf, struct pf_ref_stats *st)
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
        return conn_lines(l, c, buf, (size_t)n, st);
    if (conn_reply(l, c, buf, (size_t)n) < 0)
        return -1;
    if (st)
        st->bytes += (uint64_t)n;
    if (mode == PF_REF_ONCE) {
        if (pf_buf_len(&c->pend) > 0) {
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
static void do_accept(pf_loop *l, int lfd, int *spare, struct ref_conn **head, struct pf_ref_stats *st)
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
        pf_buf_init(&c->pend, 0);
        pf_buf_init(&c->part, REF_MAX_LINE);
        if (pf_loop_add(l, fd, EPOLLIN, conn_tag(c)) < 0) {
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
    int rc = 0, spare = -1, loop_ok = 0;
    if (mode != PF_REF_ECHO && mode != PF_REF_LINE && mode != PF_REF_ONCE)
        return -EINVAL;
    struct ref_conn *head = NULL;
    char *buf = NULL;
    pf_loop loop;
    pf_loop_event evs[REF_MAX_EVENTS];

    rc = pf_set_nonblocking(listen_fd, 1);
    if (rc < 0)
        goto out;
    buf = malloc(REF_BUF);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if ((rc = pf_loop_open(&loop, 0)) < 0)
        goto out;
    loop_ok = 1;
    if ((rc = pf_loop_add(&loop, listen_fd, EPOLLIN, TAG_LISTEN)) < 0)
        goto out;
    if (stop_fd >= 0 && (rc = pf_loop_add(&loop, stop_fd, EPOLLIN, TAG_STOP)) < 0)
        goto out;

    for (;;) {
        int k = pf_loop_wait(&loop, -1, evs, REF_MAX_EVENTS);
        if (k == -EINTR)
            continue;
        if (k < 0) {
            rc = k;
            goto out;
        }
        for (int i = 0; i < k; i++) {
            uint64_t tag = evs[i].tag;
            if (tag == TAG_STOP)
                goto out;
            if (tag == TAG_LISTEN) {
                do_accept(&loop, listen_fd, &spare, &head, stats);
                continue;
            }
            struct ref_conn *c = (struct ref_conn *)(uintptr_t)tag;
            uint32_t ev = evs[i].events;
            if (pf_buf_len(&c->pend) > 0) {   /* waiting for EPOLLOUT */
                int r = (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? conn_flush(c) : 0;
                if (r < 0) {
                    conn_free(&head, c);
                } else if (r == 1 && c->close_after) {
                    shutdown(c->fd, SHUT_WR);
                    conn_free(&head, c);
                } else if (r == 1) {
                    if (pf_loop_mod(&loop, c->fd, EPOLLIN, conn_tag(c)) < 0)
                        conn_free(&head, c);
                }
                continue;
            }
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (conn_echo(&loop, c, mode, buf, stats) < 0)
                    conn_free(&head, c);
            }
        }
    }

out:
    while (head != NULL)
        conn_free(&head, head);
    if (loop_ok)
        pf_loop_close(&loop);
    if (spare >= 0)
        xclose(spare);
    free(buf);
    return rc;
}

int pf_ref_echo_udp(int fd, int stop_fd, struct pf_ref_stats *stats)
{
    int rc = 0, loop_ok = 0;
    char *buf = NULL;
    pf_loop loop;
    pf_loop_event evs[4];

    rc = pf_set_nonblocking(fd, 1);
    if (rc < 0)
        goto out;
    buf = malloc(REF_BUF);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = pf_loop_open(&loop, 0)) < 0)
        goto out;
    loop_ok = 1;
    if ((rc = pf_loop_add(&loop, fd, EPOLLIN, TAG_LISTEN)) < 0)
        goto out;
    if (stop_fd >= 0 && (rc = pf_loop_add(&loop, stop_fd, EPOLLIN, TAG_STOP)) < 0)
        goto out;

    for (;;) {
        int k = pf_loop_wait(&loop, -1, evs, 4);
        if (k == -EINTR)
            continue;
        if (k < 0) {
            rc = k;
            goto out;
        }
        for (int i = 0; i < k; i++) {
            if (evs[i].tag == TAG_STOP)
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
    if (loop_ok)
        pf_loop_close(&loop);
    free(buf);
    return rc;
}
