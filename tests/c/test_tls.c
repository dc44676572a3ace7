/* C unit tests of pf_tls.c (the message loop's TLS record layer) without
 * certificates: loading OpenSSL from the process, the SSL_CTX check, and
 * what a server-side connection does with bad input (plaintext, a
 * partial record, a malformed handshake record).  The program is not
 * linked with OpenSSL: it maps libssl with dlopen first, as importing
 * CPython's _ssl does.  Run by tests/test_tls_message.py. */
#include "pf_tls.h"
#include "pf_test.h"

#include <dlfcn.h>
#include <errno.h>

static void *g_ctx;
static void (*g_ctx_free)(void *);

static int map_libssl(void)
{
    const char *names[] = {"libssl.so.3", "libssl.so.1.1", "libssl.so"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (dlopen(names[i], RTLD_NOW | RTLD_GLOBAL))
            return 0;
    return -1;
}

static void test_load_needs_a_mapped_libssl(void)
{
    const char *why = NULL;
    EXPECT_EQ(pf_tls_load(NULL, &why), -ENOENT);
    EXPECT(why != NULL);
    EXPECT_EQ(map_libssl(), 0);
    why = NULL;
    EXPECT_EQ(pf_tls_load(NULL, &why), 0);
    EXPECT(why == NULL);
    EXPECT(strncmp(pf_tls_library_version(), "OpenSSL", 7) == 0);
    EXPECT_EQ(pf_tls_load(NULL, &why), 0); /* idempotent */
}

static void make_ctx(void)
{
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libssl.so.1.1", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libssl.so", RTLD_NOW | RTLD_NOLOAD);
    void *(*method)(void) = (void *(*)(void))dlsym(h, "TLS_server_method");
    void *(*ctx_new)(void *) = (void *(*)(void *))dlsym(h, "SSL_CTX_new");
    g_ctx_free = (void (*)(void *))dlsym(h, "SSL_CTX_free");
    g_ctx = ctx_new(method());
}

static void test_ctx_check_compares_options_and_verify_mode(void)
{
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libssl.so.1.1", RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen("libssl.so", RTLD_NOW | RTLD_NOLOAD);
    uint64_t (*get_options)(void *) = (uint64_t (*)(void *))dlsym(h, "SSL_CTX_get_options");
    uint64_t opts = get_options(g_ctx);
    EXPECT_EQ(pf_tls_ctx_check(g_ctx, opts, 0), 0);
    EXPECT_EQ(pf_tls_ctx_check(g_ctx, opts ^ 1, 0), -EINVAL);
    EXPECT_EQ(pf_tls_ctx_check(g_ctx, opts, 3), -EINVAL);
    EXPECT_EQ(pf_tls_ctx_check(NULL, opts, 0), -EINVAL);
    /* hold + release leave the caller's reference (ASan: no double free) */
    pf_tls_ctx_hold(g_ctx);
    pf_tls_ctx_release(g_ctx);
}

static void test_plaintext_http_is_a_tls_error(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    unsigned char buf[256];
    pf_tls *t = pf_tls_new(g_ctx);
    EXPECT(t != NULL);
    EXPECT_EQ(pf_tls_feed(t, req, sizeof(req) - 1), 0);
    EXPECT_EQ(pf_tls_read(t, buf, sizeof(buf)), -EPROTO);
    EXPECT(strcmp(pf_tls_reason(t), "TLS error") != 0); /* OpenSSL's reason */
    EXPECT(!pf_tls_done(t));
    pf_tls_free(t);
}

static void test_partial_record_waits_for_more(void)
{
    unsigned char buf[256], *der = (unsigned char *)"x";
    const unsigned char *alpn = (const unsigned char *)"x";
    unsigned alpn_len = 9;
    const char *proto = "x";
    int bits = 9;
    pf_tls *t = pf_tls_new(g_ctx);
    EXPECT(!pf_tls_has_input(t));
    EXPECT_EQ(pf_tls_read(t, buf, sizeof(buf)), 0);
    EXPECT_EQ(pf_tls_feed(t, "\x16\x03\x01", 3), 0);
    EXPECT_EQ(pf_tls_read(t, buf, sizeof(buf)), 0); /* more ciphertext needed */
    EXPECT(pf_tls_has_input(t));                    /* the 3 bytes are held */
    EXPECT_EQ(pf_tls_out_len(t), 0);
    /* Nothing to tell before the handshake. */
    EXPECT(pf_tls_version(t) == NULL);
    EXPECT(pf_tls_cipher(t, &proto, &bits) == NULL && proto == NULL && bits == 0);
    pf_tls_alpn(t, &alpn, &alpn_len);
    EXPECT(alpn == NULL && alpn_len == 0);
    EXPECT_EQ(pf_tls_peer_cert(t, &der), 0);
    EXPECT(der == NULL);
    EXPECT_EQ(pf_tls_peer_verified(t), 0);
    pf_tls_close_notify(t); /* before the handshake: nothing */
    EXPECT_EQ(pf_tls_out_len(t), 0);
    pf_tls_free(t);
}

static void test_malformed_hello_gets_an_alert_sent_in_pieces(void)
{
    /* A handshake record whose body is not a ClientHello. */
    static const unsigned char rec[] = {0x16, 0x03, 0x01, 0x00, 0x05,
                                        0x01, 0x00, 0x00, 0x01, 0xff};
    unsigned char buf[256];
    const unsigned char *p;
    pf_tls *t = pf_tls_new(g_ctx);
    EXPECT_EQ(pf_tls_feed(t, rec, sizeof(rec)), 0);
    EXPECT_EQ(pf_tls_read(t, buf, sizeof(buf)), -EPROTO);
    size_t n = pf_tls_out_len(t);
    EXPECT(n >= 7);                       /* an alert record */
    EXPECT_EQ(pf_tls_out_peek(t, &p), n);
    EXPECT_EQ(p[0], 0x15);                /* content type: alert */
    pf_tls_out_drop(t, 2);                /* the socket took 2 bytes */
    EXPECT_EQ(pf_tls_out_peek(t, &p), n - 2);
    pf_tls_out_drop(t, n - 2);
    EXPECT_EQ(pf_tls_out_len(t), 0);
    pf_tls_set_reason(t, "cut short");
    EXPECT(strcmp(pf_tls_reason(t), "cut short") == 0);
    pf_tls_free(t);
}

int main(void)
{
    RUN(test_load_needs_a_mapped_libssl);
    make_ctx();
    if (!g_ctx) {
        fprintf(stderr, "SSL_CTX_new failed\n");
        return 2;
    }
    RUN(test_ctx_check_compares_options_and_verify_mode);
    RUN(test_plaintext_http_is_a_tls_error);
    RUN(test_partial_record_waits_for_more);
    RUN(test_malformed_hello_gets_an_alert_sent_in_pieces);
    g_ctx_free(g_ctx);
    return pf_test_report();
}
