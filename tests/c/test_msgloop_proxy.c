/* Unit tests for the PROXY protocol in csrc/pf_msgloop.c (o.proxy): the
 * header is parsed before framing, OPEN carries the client's address and
 * comes once the header is complete, bad headers give REFUSED and no
 * OPEN/MSG; with TLS too (o.tls_ctx), the bytes behind the header start
 * the handshake.  Built and run by tests/test_proxy_c.py (ASan + UBSan when
 * available).  Loopback TCP only.  PF_TEST_TIME_SCALE=k scales the waits. */
#include "pf_common.h"
#include "pf_msgloop.h"
#include "pf_test.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char V2_LOCAL[16] = "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
/* v2 PROXY TCP4 198.51.100.9:4000 -> 10.0.0.1:80, then a 5-byte TLV */
static const char V2_TCP4[36] = "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x14"
                                "\xC6\x33\x64\x09\x0A\x00\x00\x01\x0F\xA0\x00\x50"
                                "\x04\x00\x05" "abcde";

typedef struct {
    int fd;                  /* loopback listener */
    int port;                /* its port */
    pf_msgloop l;
} bench;

typedef struct {
    int opens, msgs, closes, refused, refused_err;
    int refused_tls;         /* the REFUSED's conn->tls was set */
    char open_host[64], refused_host[64];
    int open_port, refused_port;
    char msg[64];
    const char *reason;
} seen;

static void start_tls(bench *b, int proxy_ms, const pf_proxy_net *nets, int nnets,
                      void *tls_ctx, int handshake_ms)
{
    pf_msgloop_opts o;
    b->fd = pf_test_listen(&b->port);
    pf_msgloop_opts_init(&o);
    o.proxy = 1;
    o.proxy_ms = proxy_ms;
    o.proxy_trusted = nets;
    o.proxy_ntrusted = nnets;
    o.tls_ctx = tls_ctx;
    o.handshake_ms = handshake_ms;
    if (pf_msgloop_init(&b->l, b->fd, &o) < 0) {
        perror("pf_msgloop_init");
        exit(2);
    }
}

static void start(bench *b, int proxy_ms, const pf_proxy_net *nets, int nnets)
{
    start_tls(b, proxy_ms, nets, nnets, NULL, 0);
}

static void stop(bench *b)
{
    pf_msgloop_shutdown(&b->l, 0);
    pf_msgloop_destroy(&b->l);
    close(b->fd);
}

static int dial(const bench *b) { return pf_test_client(b->port, 0); }

static void record(seen *s, const pf_mevent *e)
{
    if (e->type == PF_MEV_OPEN) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)e->data;
        inet_ntop(AF_INET, &a->sin_addr, s->open_host, sizeof s->open_host);
        s->open_port = ntohs(a->sin_port);
        s->opens++;
    } else if (e->type == PF_MEV_MSG) {
        size_t n = e->len < sizeof s->msg - 1 ? e->len : sizeof s->msg - 1;
        memcpy(s->msg, e->data, n);
        s->msg[n] = '\0';
        s->msgs++;
    } else if (e->type == PF_MEV_CLOSE) {
        s->closes++;
    } else if (e->type == PF_MEV_REFUSED) {
        s->refused++;
        s->refused_err = e->err;
        s->reason = e->reason;
        s->refused_tls = e->conn->tls != NULL;
        EXPECT(e->len >= sizeof(struct sockaddr_in));
        const struct sockaddr_in *a = (const struct sockaddr_in *)e->data;
        inet_ntop(AF_INET, &a->sin_addr, s->refused_host, sizeof s->refused_host);
        s->refused_port = ntohs(a->sin_port);
    }
}

/* Poll up to `rounds` times (timeout ms each), recording events, until
 * done(s) holds. */
static void run_until(bench *b, seen *s, int (*done)(const seen *), int rounds, int timeout)
{
    for (int i = 0; i < rounds && !done(s); i++) {
        int n = pf_msgloop_poll(&b->l, (int)(timeout * time_scale()));
        for (int k = 0; k < n; k++)
            record(s, &b->l.ev[k]);
    }
}

static int got_msg(const seen *s) { return s->msgs > 0 || s->refused > 0; }
static int got_refused(const seen *s) { return s->refused > 0; }
static int got_open(const seen *s) { return s->opens > 0 || s->refused > 0; }

static void test_v2_header_and_message_in_one_segment(void)
{
    bench b;
    seen s = {0};
    char data[64];
    start(&b, 1000, NULL, -1);
    int fd = dial(&b);
    memcpy(data, V2_TCP4, sizeof V2_TCP4);
    memcpy(data + sizeof V2_TCP4, "hello\n", 6);
    EXPECT_EQ(write(fd, data, sizeof V2_TCP4 + 6), (ssize_t)sizeof V2_TCP4 + 6);
    run_until(&b, &s, got_msg, 20, 100);
    EXPECT_EQ(s.opens, 1);
    EXPECT(strcmp(s.open_host, "198.51.100.9") == 0);
    EXPECT_EQ(s.open_port, 4000);
    EXPECT_EQ(s.msgs, 1);
    EXPECT(strcmp(s.msg, "hello") == 0);
    EXPECT_EQ(s.refused, 0);
    close(fd);
    stop(&b);
}

static void test_v1_header_split_across_polls(void)
{
    static const char line[] = "PROXY TCP4 203.0.113.4 10.0.0.1 6000 80\r\nsplit\n";
    bench b;
    seen s = {0};
    start(&b, 5000, NULL, -1);
    int fd = dial(&b);
    for (size_t i = 0; i < sizeof line - 1; i++) {
        EXPECT_EQ(write(fd, line + i, 1), 1);
        run_until(&b, &s, got_msg, 1, 20);
        if (i + 1 < sizeof line - 1 - 6)
            EXPECT_EQ(s.opens, 0); /* no OPEN before the header is whole */
    }
    run_until(&b, &s, got_msg, 20, 100);
    EXPECT_EQ(s.opens, 1);
    EXPECT(strcmp(s.open_host, "203.0.113.4") == 0);
    EXPECT(strcmp(s.msg, "split") == 0);
    close(fd);
    stop(&b);
}

static void test_local_keeps_the_peer_address(void)
{
    bench b;
    seen s = {0};
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    start(&b, 1000, NULL, -1);
    int fd = dial(&b);
    getsockname(fd, (struct sockaddr *)&me, &len);
    EXPECT_EQ(write(fd, V2_LOCAL, sizeof V2_LOCAL), (ssize_t)sizeof V2_LOCAL);
    run_until(&b, &s, got_open, 20, 100);
    EXPECT_EQ(s.opens, 1);
    EXPECT(strcmp(s.open_host, "127.0.0.1") == 0);
    EXPECT_EQ(s.open_port, ntohs(me.sin_port));
    close(fd);
    stop(&b);
}

static void test_missing_header_refused_no_open_no_message(void)
{
    bench b;
    seen s = {0};
    char c;
    start(&b, 1000, NULL, -1);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    run_until(&b, &s, got_refused, 20, 100);
    run_until(&b, &s, got_msg, 2, 10);
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, -ENOMSG);
    EXPECT(s.reason && strstr(s.reason, "no PROXY") != NULL);
    EXPECT_EQ(s.opens + s.msgs + s.closes, 0);
    EXPECT(recv(fd, &c, 1, 0) <= 0); /* closed */
    close(fd);
    stop(&b);
}

static void test_untrusted_peer_refused_before_reading(void)
{
    pf_proxy_net nets[1] = {{AF_INET, 8, {10}}};
    bench b;
    seen s = {0};
    start(&b, 1000, nets, 1);
    int fd = dial(&b);
    run_until(&b, &s, got_refused, 20, 100);
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, -EACCES);
    EXPECT_EQ(s.opens, 0);
    EXPECT_EQ(b.l.proxy_refused, 1);
    close(fd);
    stop(&b);
}

static void test_stalled_header_refused_after_proxy_ms(void)
{
    bench b;
    seen s = {0};
    start(&b, 150, NULL, -1);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, V2_TCP4, 20), 20);
    int64_t t0 = pf_now_ms();
    run_until(&b, &s, got_refused, 100, 100);
    int64_t took = pf_now_ms() - t0;
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, PF_MCLOSE_PROXY);
    EXPECT(took >= 100 && took < 3000 * time_scale());
    EXPECT_EQ(s.opens, 0);
    close(fd);
    stop(&b);
}

static void test_shutdown_with_a_header_pending(void)
{
    bench b;
    seen s = {0};
    start(&b, 0, NULL, -1);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, "PROXY ", 6), 6);
    run_until(&b, &s, got_open, 5, 20);
    int n = pf_msgloop_shutdown(&b.l, 0);
    for (int k = 0; k < n; k++)
        record(&s, &b.l.ev[k]);
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, PF_MCLOSE_SHUTDOWN);
    EXPECT_EQ(s.opens, 0);
    pf_msgloop_destroy(&b.l);
    close(b.fd);
    close(fd);
}

/* An accept whose OPEN waits for the header is I/O without an event: the
 * poll goes on waiting (0 means a timeout or a wake-up only), so one call
 * returns the OPEN once the header is in. */
static void test_poll_returns_the_open_not_zero_after_the_accept(void)
{
    bench b;
    seen s = {0};
    start(&b, 5000, NULL, -1);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, V2_LOCAL, sizeof V2_LOCAL), (ssize_t)sizeof V2_LOCAL);
    int64_t t0 = pf_now_ms();
    int n = pf_msgloop_poll(&b.l, (int)(2000 * time_scale()));
    EXPECT(n >= 1);
    for (int k = 0; k < n; k++)
        record(&s, &b.l.ev[k]);
    EXPECT_EQ(s.opens, 1);
    EXPECT(pf_now_ms() - t0 < 1000 * time_scale());
    close(fd);
    stop(&b);
}

/* ---- with TLS (o.tls_ctx): a server-side SSL_CTX without a certificate,
 * from the libssl mapped here (as CPython's _ssl maps it): every handshake
 * fails, which is what these tests need. */

static void *tls_ctx(void)
{
    static void *ctx;
    if (ctx)
        return ctx;
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
    if (!h) h = dlopen("libssl.so.1.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) h = dlopen("libssl.so", RTLD_NOW | RTLD_GLOBAL);
    const char *why = NULL;
    if (!h || pf_tls_load(NULL, &why) < 0) {
        fprintf(stderr, "no libssl: %s\n", why ? why : dlerror());
        exit(2);
    }
    void *(*method)(void) = (void *(*)(void))dlsym(h, "TLS_server_method");
    void *(*ctx_new)(void *) = (void *(*)(void *))dlsym(h, "SSL_CTX_new");
    ctx = ctx_new(method()); /* the process's, to its end */
    return ctx;
}

/* The header and a non-TLS byte stream in one segment: the header is
 * read as plaintext, the rest goes to the handshake, which fails: REFUSED
 * for TLS (conn->tls set, tls_refused), with the header's client. */
static void test_tls_header_then_garbage_refused_at_the_handshake(void)
{
    static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
    bench b;
    seen s = {0};
    char data[64];
    start_tls(&b, 1000, NULL, -1, tls_ctx(), 1000);
    int fd = dial(&b);
    memcpy(data, V2_TCP4, sizeof V2_TCP4);
    memcpy(data + sizeof V2_TCP4, garbage, sizeof garbage - 1);
    EXPECT_EQ(write(fd, data, sizeof V2_TCP4 + sizeof garbage - 1),
              (ssize_t)(sizeof V2_TCP4 + sizeof garbage - 1));
    run_until(&b, &s, got_refused, 20, 100);
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, PF_MCLOSE_TLS);
    EXPECT(s.refused_tls);
    EXPECT(strcmp(s.refused_host, "198.51.100.9") == 0);
    EXPECT_EQ(s.refused_port, 4000);
    EXPECT_EQ(s.opens + s.msgs, 0);
    EXPECT_EQ(b.l.tls_refused, 1);
    EXPECT_EQ(b.l.proxy_refused, 0);
    close(fd);
    stop(&b);
}

/* A bad header on a TLS server: refused for its header (conn->tls still
 * NULL, proxy_refused), with the peer's address; no TLS state made. */
static void test_tls_bad_header_refused_for_the_header(void)
{
    bench b;
    seen s = {0};
    start_tls(&b, 1000, NULL, -1, tls_ctx(), 1000);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, "\x16\x03\x01\x00\x05hello", 10), 10);
    run_until(&b, &s, got_refused, 20, 100);
    EXPECT_EQ(s.refused, 1);
    EXPECT(!s.refused_tls);
    EXPECT(strcmp(s.refused_host, "127.0.0.1") == 0);
    EXPECT_EQ(b.l.proxy_refused, 1);
    EXPECT_EQ(b.l.tls_refused, 0);
    EXPECT_EQ(s.opens, 0);
    close(fd);
    stop(&b);
}

/* The header alone, then silence: the handshake's clock runs from the
 * header's end (handshake_ms, not proxy_ms), REFUSED with the client's
 * address. */
static void test_tls_header_then_silence_refused_after_handshake_ms(void)
{
    static const char line[] = "PROXY TCP4 203.0.113.4 10.0.0.1 6000 443\r\n";
    bench b;
    seen s = {0};
    start_tls(&b, 10000, NULL, -1, tls_ctx(), 150);
    int fd = dial(&b);
    EXPECT_EQ(write(fd, line, sizeof line - 1), (ssize_t)sizeof line - 1);
    int64_t t0 = pf_now_ms();
    run_until(&b, &s, got_refused, 100, 100);
    int64_t took = pf_now_ms() - t0;
    EXPECT_EQ(s.refused, 1);
    EXPECT_EQ(s.refused_err, PF_MCLOSE_HANDSHAKE);
    EXPECT(s.refused_tls);
    EXPECT(strcmp(s.refused_host, "203.0.113.4") == 0);
    EXPECT_EQ(s.refused_port, 6000);
    EXPECT(took >= 100 && took < 3000 * time_scale());
    EXPECT_EQ(b.l.tls_refused, 1);
    EXPECT_EQ(b.l.proxy_refused, 0);
    close(fd);
    stop(&b);
}

int main(void)
{
    RUN(test_v2_header_and_message_in_one_segment);
    RUN(test_v1_header_split_across_polls);
    RUN(test_local_keeps_the_peer_address);
    RUN(test_missing_header_refused_no_open_no_message);
    RUN(test_untrusted_peer_refused_before_reading);
    RUN(test_stalled_header_refused_after_proxy_ms);
    RUN(test_shutdown_with_a_header_pending);
    RUN(test_poll_returns_the_open_not_zero_after_the_accept);
    RUN(test_tls_header_then_garbage_refused_at_the_handshake);
    RUN(test_tls_bad_header_refused_for_the_header);
    RUN(test_tls_header_then_silence_refused_after_handshake_ms);
    return pf_test_report();
}
