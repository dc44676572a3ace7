/* tlsref: the C reference TLS server of pyfast.bench's TLS scenarios:
 * OpenSSL's own cost for a handshake and an echo, with nothing around it.
 *
 * Bench-only C linked with OpenSSL, compiled on first use as tlsgen.c is
 * (pyfast.bench.cbuild); pyfast's wheel does not build or need it.
 *
 *   tlsref LISTEN_FD CERT KEY
 *
 * One thread, one epoll: accept4 on the inherited listening socket
 * (non-blocking), SSL_accept driven by readiness, then read and write back
 * every plaintext byte until the peer closes, then close (no close_notify,
 * as ssl.SSLSocket.close).  The same work as the Python servers' echo
 * handler on a server with ssl_context.  Runs until killed (SIGTERM).
 * Returns 1 when it cannot start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PF_TLSREF_BUF 65536

typedef struct {
    int fd;
    int handshaken;
    SSL *ssl;
    char *pending;          /* plaintext not yet taken by SSL_write */
    int npending;
} pf_tlsref_conn;

static char pf_buf[PF_TLSREF_BUF];

static void pf_tlsref_close(pf_tlsref_conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    free(c->pending);
    free(c);
}

/* Write n bytes of plaintext; what does not fit waits for EPOLLOUT.
 * 0, or -1 when the connection failed. */
static int pf_tlsref_write(int ep, pf_tlsref_conn *c, const char *data, int n)
{
    while (n > 0) {
        int w = SSL_write(c->ssl, data, n);
        if (w > 0) {
            data += w;
            n -= w;
            continue;
        }
        if (SSL_get_error(c->ssl, w) != SSL_ERROR_WANT_WRITE)
            return -1;
        /* SSL_write must be retried with the same bytes. */
        c->pending = malloc((size_t)n);
        if (c->pending == NULL)
            return -1;
        memcpy(c->pending, data, (size_t)n);
        c->npending = n;
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return 0;
}

/* Drive one connection after a readiness event: 0, or -1 to close it. */
static int pf_tlsref_step(int ep, pf_tlsref_conn *c)
{
    if (c->npending) {
        char *p = c->pending;
        int n = c->npending;
        c->pending = NULL;
        c->npending = 0;
        int rc = pf_tlsref_write(ep, c, p, n);
        free(p);
        if (rc < 0 || c->npending)
            return rc;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return -1;
    }
    if (!c->handshaken) {
        int rc = SSL_accept(c->ssl);
        if (rc != 1) {
            int err = SSL_get_error(c->ssl, rc);
            ERR_clear_error();
            return err == SSL_ERROR_WANT_READ ? 0 : -1;
        }
        c->handshaken = 1;
    }
    for (;;) {
        int n = SSL_read(c->ssl, pf_buf, sizeof pf_buf);
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            ERR_clear_error();
            return err == SSL_ERROR_WANT_READ ? 0 : -1;
        }
        if (pf_tlsref_write(ep, c, pf_buf, n) < 0)
            return -1;
        if (c->npending)
            return 0;
    }
}

static void pf_tlsref_accept(int ep, int lfd, SSL_CTX *ctx)
{
    int one = 1;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;   /* EAGAIN; EMFILE: the next readiness retries */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pf_tlsref_conn *c = calloc(1, sizeof *c);
        SSL *ssl = c ? SSL_new(ctx) : NULL;
        if (ssl == NULL) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->ssl = ssl;
        SSL_set_fd(ssl, fd);
        SSL_set_accept_state(ssl);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            pf_tlsref_close(c);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tlsref LISTEN_FD CERT KEY\n");
        return 1;
    }
    int lfd = atoi(argv[1]);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) < 0) {
        perror("tlsref");
        return 1;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("tlsref: listening socket");
        return 1;
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("tlsref: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            pf_tlsref_conn *c = evs[i].data.ptr;
            if (c == NULL)
                pf_tlsref_accept(ep, lfd, ctx);
            else if (pf_tlsref_step(ep, c) < 0)
                pf_tlsref_close(c);   /* close() takes it out of the epoll set */
        }
    }
}
