/* Unit tests of csrc/pf_proxy.c (the PROXY protocol header parser).
 * Built and run by tests/test_proxy_c.py (ASan + UBSan where available). */
#include "pf_proxy.h"
#include "pf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

static const unsigned char SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Feed s whole; return the result, *used set. */
static int feed_all(pf_proxy *p, const void *s, size_t n, size_t *used)
{
    EXPECT_EQ(pf_proxy_init(p, 0), 0);
    return pf_proxy_feed(p, s, n, used);
}

/* Feed s in pieces of `step` bytes; the header must end exactly at hdr_len
 * and every piece before must be all header. */
static int feed_split(pf_proxy *p, const unsigned char *s, size_t n, size_t step,
                      size_t hdr_len)
{
    size_t off = 0, used = 0;
    int r = 0;
    pf_proxy_init(p, 0);
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        r = pf_proxy_feed(p, s + off, k, &used);
        if (r != 0)
            break;
        EXPECT_EQ(used, k);
        off += k;
    }
    if (r == 1)
        EXPECT_EQ(off + used, hdr_len);
    return r;
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
                                    : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static const char *host_of(const struct sockaddr_storage *ss, char *buf, size_t n)
{
    if (ss->ss_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)n);
    return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)n);
}

/* ---- version 1 ---- */

static void test_v1_tcp4_then_payload(void)
{
    static const char s[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.0\r\n";
    pf_proxy p;
    size_t used;
    char h[64];
    EXPECT_EQ(feed_all(&p, s, sizeof s - 1, &used), 1);
    EXPECT_EQ(used, 45);
    EXPECT_EQ(p.hdr.length, 45);
    EXPECT_EQ(p.hdr.version, 1);
    EXPECT_EQ(p.hdr.command, PF_PROXY_CMD_PROXY);
    EXPECT_EQ(p.hdr.family, AF_INET);
    EXPECT_EQ(p.hdr.socktype, SOCK_STREAM);
    EXPECT(strcmp(host_of(&p.hdr.src, h, sizeof h), "192.0.2.7") == 0);
    EXPECT_EQ(port_of(&p.hdr.src), 56324);
    EXPECT(strcmp(host_of(&p.hdr.dst, h, sizeof h), "198.51.100.1") == 0);
    EXPECT_EQ(port_of(&p.hdr.dst), 443);
    EXPECT_EQ(p.hdr.src_len, sizeof(struct sockaddr_in));
    /* Done is final: more bytes are not header. */
    EXPECT_EQ(pf_proxy_feed(&p, (const unsigned char *)"x", 1, &used), 1);
    EXPECT_EQ(used, 0);
    EXPECT_EQ(pf_proxy_need(&p), 0);
}

static void test_v1_tcp6(void)
{
    static const char s[] = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";
    pf_proxy p;
    size_t used;
    char h[64];
    EXPECT_EQ(feed_all(&p, s, sizeof s - 1, &used), 1);
    EXPECT_EQ(used, sizeof s - 1);
    EXPECT_EQ(p.hdr.family, AF_INET6);
    EXPECT(strcmp(host_of(&p.hdr.src, h, sizeof h), "2001:db8::1") == 0);
    EXPECT_EQ(port_of(&p.hdr.src), 0);
    EXPECT_EQ(port_of(&p.hdr.dst), 65535);
}

static void test_v1_unknown_keeps_connection_address(void)
{
    static const char *ok[] = {"PROXY UNKNOWN\r\n",
                               "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"};
    for (size_t i = 0; i < 2; i++) {
        pf_proxy p;
        size_t used;
        EXPECT_EQ(feed_all(&p, ok[i], strlen(ok[i]), &used), 1);
        EXPECT_EQ(used, strlen(ok[i]));
        EXPECT_EQ(p.hdr.family, AF_UNSPEC);
        EXPECT_EQ(p.hdr.src_len, 0);
    }
}

static void test_v1_longest_line_is_107_bytes(void)
{
    unsigned char s[120];
    pf_proxy p;
    size_t used;
    memcpy(s, "PROXY UNKNOWN ", 14);
    memset(s + 14, 'x', sizeof s - 14);
    s[105] = '\r';
    s[106] = '\n';
    EXPECT_EQ(feed_all(&p, s, 107, &used), 1);
    EXPECT_EQ(used, 107);
    /* one byte longer: no CRLF within 107 bytes, reported at byte 107 */
    s[105] = 'x';
    s[106] = '\r';
    s[107] = '\n';
    EXPECT_EQ(feed_all(&p, s, 106, &used), 0);
    EXPECT_EQ(pf_proxy_feed(&p, s + 106, 1, &used), -EMSGSIZE);
    EXPECT(p.reason != NULL);
    /* a line that never ends, fed whole */
    memset(s + 14, 'x', sizeof s - 14);
    EXPECT_EQ(feed_all(&p, s, sizeof s, &used), -EMSGSIZE);
}

static void test_v1_malformed(void)
{
    static const char *bad[] = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",        /* LF without CR */
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",     /* double space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",     /* trailing space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",        /* three fields */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",    /* five fields */
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",  /* port range */
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",     /* sign */
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",        /* short address */
        "PROXY TCP4 ::1 ::1 1 2\r\n",               /* IPv6 under TCP4 */
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",      /* IPv4 under TCP6 */
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",      /* protocol */
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY \r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 \r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_proxy p;
        size_t used;
        int r = feed_all(&p, bad[i], strlen(bad[i]), &used);
        if (r != -EPROTO)
            fprintf(stderr, "  case %zu: %s -> %d\n", i, bad[i], r);
        EXPECT_EQ(r, -EPROTO);
        /* sticky */
        EXPECT_EQ(pf_proxy_feed(&p, (const unsigned char *)"\r\n", 2, &used), -EPROTO);
        EXPECT_EQ(pf_proxy_need(&p), 0);
    }
}

static void test_missing_header_reported_at_first_differing_byte(void)
{
    static const char *missing[] = {"GET / HTTP/1.1\r\n", "PROXZ", "PR\r\n",
                                    "\r\n\r\nGET", "\x16\x03\x01", "proxy "};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        pf_proxy p;
        size_t used;
        EXPECT_EQ(feed_all(&p, missing[i], strlen(missing[i]), &used), -ENOMSG);
    }
    /* "PROX" alone may still become a header */
    pf_proxy p;
    size_t used;
    EXPECT_EQ(feed_all(&p, "PROX", 4, &used), 0);
    EXPECT_EQ(used, 4);
    EXPECT_EQ(pf_proxy_feed(&p, (const unsigned char *)"Z", 1, &used), -ENOMSG);
}

static void test_v1_split_at_every_size(void)
{
    static const char s[] = "PROXY TCP6 2001:db8::5 2001:db8::6 1234 80\r\nhello";
    size_t hl = sizeof s - 1 - 5;
    for (size_t step = 1; step <= sizeof s; step++) {
        pf_proxy p;
        EXPECT_EQ(feed_split(&p, (const unsigned char *)s, sizeof s - 1, step, hl), 1);
        EXPECT_EQ(p.hdr.family, AF_INET6);
        EXPECT_EQ(port_of(&p.hdr.src), 1234);
        EXPECT_EQ(p.hdr.length, hl);
    }
}

/* ---- version 2 ---- */

/* A v2 header into out: fixed part, then `body` (len bytes). */
static size_t v2(unsigned char *out, unsigned ver_cmd, unsigned fam, const void *body, size_t len)
{
    memcpy(out, SIG, 12);
    out[12] = (unsigned char)ver_cmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(len >> 8);
    out[15] = (unsigned char)len;
    if (len)
        memcpy(out + 16, body, len);
    return 16 + len;
}

static const unsigned char IP4_BLOCK[12] = {192, 0, 2, 9, 10, 0, 0, 1, 0xC3, 0x50, 0x1F, 0x90};

static void test_v2_tcp4_then_payload(void)
{
    unsigned char s[64];
    pf_proxy p;
    size_t used;
    char h[64];
    size_t n = v2(s, 0x21, 0x11, IP4_BLOCK, 12);
    memcpy(s + n, "ping\n", 5);
    EXPECT_EQ(feed_all(&p, s, n + 5, &used), 1);
    EXPECT_EQ(used, 28);
    EXPECT_EQ(p.hdr.version, 2);
    EXPECT_EQ(p.hdr.command, PF_PROXY_CMD_PROXY);
    EXPECT_EQ(p.hdr.family, AF_INET);
    EXPECT_EQ(p.hdr.socktype, SOCK_STREAM);
    EXPECT(strcmp(host_of(&p.hdr.src, h, sizeof h), "192.0.2.9") == 0);
    EXPECT_EQ(port_of(&p.hdr.src), 50000);
    EXPECT(strcmp(host_of(&p.hdr.dst, h, sizeof h), "10.0.0.1") == 0);
    EXPECT_EQ(port_of(&p.hdr.dst), 8080);
}

static void test_v2_tcp6_and_udp(void)
{
    unsigned char body[36] = {0}, s[64];
    pf_proxy p;
    size_t used;
    char h[64];
    body[0] = 0x20; body[1] = 0x01; body[2] = 0x0d; body[3] = 0xb8; body[15] = 7;
    body[31] = 1;
    body[32] = 0x04; body[33] = 0xD2; /* 1234 */
    body[34] = 0x00; body[35] = 0x50; /* 80 */
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x21, 0x21, body, 36), &used), 1);
    EXPECT_EQ(p.hdr.family, AF_INET6);
    EXPECT(strcmp(host_of(&p.hdr.src, h, sizeof h), "2001:db8::7") == 0);
    EXPECT(strcmp(host_of(&p.hdr.dst, h, sizeof h), "::1") == 0);
    EXPECT_EQ(port_of(&p.hdr.src), 1234);
    EXPECT_EQ(port_of(&p.hdr.dst), 80);
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x21, 0x12, IP4_BLOCK, 12), &used), 1);
    EXPECT_EQ(p.hdr.socktype, SOCK_DGRAM);
}

static void test_v2_unix(void)
{
    unsigned char body[216] = {0}, s[256];
    pf_proxy p;
    size_t used;
    memcpy(body, "/run/client.sock", 16);
    memcpy(body + 108, "/run/server.sock", 16);
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x21, 0x31, body, 216), &used), 1);
    EXPECT_EQ(used, 232);
    EXPECT_EQ(p.hdr.family, AF_UNIX);
    const struct sockaddr_un *u = (const struct sockaddr_un *)&p.hdr.src;
    EXPECT_EQ(p.hdr.src_len, offsetof(struct sockaddr_un, sun_path) + 16);
    EXPECT(memcmp(u->sun_path, "/run/client.sock", 16) == 0);
}

static void test_v2_local_and_unspec_keep_connection_address(void)
{
    unsigned char s[64];
    pf_proxy p;
    size_t used;
    /* LOCAL with no address block (HAProxy's health checks) */
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x20, 0x00, NULL, 0), &used), 1);
    EXPECT_EQ(used, 16);
    EXPECT_EQ(p.hdr.command, PF_PROXY_CMD_LOCAL);
    EXPECT_EQ(p.hdr.family, AF_UNSPEC);
    /* LOCAL with an address block: ignored */
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x20, 0x11, IP4_BLOCK, 12), &used), 1);
    EXPECT_EQ(p.hdr.family, AF_UNSPEC);
    EXPECT_EQ(p.hdr.src_len, 0);
    /* PROXY, family UNSPEC */
    EXPECT_EQ(feed_all(&p, s, v2(s, 0x21, 0x00, NULL, 0), &used), 1);
    EXPECT_EQ(p.hdr.family, AF_UNSPEC);
}

static void test_v2_tlvs_skipped_not_kept(void)
{
    unsigned char body[1500], s[1600];
    pf_proxy p;
    memcpy(body, IP4_BLOCK, 12);
    memset(body + 12, 0xEE, sizeof body - 12); /* TLVs: opaque */
    size_t n = v2(s, 0x21, 0x11, body, sizeof body);
    memcpy(s + n, "after", 5);
    for (size_t step = 1; step <= n + 5; step = step * 3 + 1) {
        EXPECT_EQ(feed_split(&p, s, n + 5, step, n), 1);
        EXPECT_EQ(p.hdr.family, AF_INET);
        EXPECT_EQ(port_of(&p.hdr.src), 50000);
        EXPECT_EQ(p.hdr.length, n);
    }
}

static void test_v2_split_at_every_size(void)
{
    unsigned char s[64];
    size_t n = v2(s, 0x21, 0x11, IP4_BLOCK, 12);
    memcpy(s + n, "payload", 7);
    for (size_t step = 1; step <= n + 7; step++) {
        pf_proxy p;
        EXPECT_EQ(feed_split(&p, s, n + 7, step, n), 1);
        EXPECT_EQ(port_of(&p.hdr.dst), 8080);
    }
}

static void test_v2_oversized_reported_at_length_field(void)
{
    unsigned char s[32];
    pf_proxy p;
    size_t used;
    v2(s, 0x21, 0x11, IP4_BLOCK, 12);
    s[14] = 0xFF;
    s[15] = 0xFF; /* 65535 bytes announced */
    EXPECT_EQ(feed_all(&p, s, 15, &used), 0);
    EXPECT_EQ(pf_proxy_need(&p), 1);
    EXPECT_EQ(pf_proxy_feed(&p, s + 15, 1, &used), -EMSGSIZE);
    /* within a larger limit it is fine: 65535 more bytes needed */
    EXPECT_EQ(pf_proxy_init(&p, PF_PROXY_MAX_LEN), 0);
    EXPECT_EQ(pf_proxy_feed(&p, s, 16, &used), 0);
    EXPECT_EQ(pf_proxy_need(&p), 65535);
    /* the limit is the whole header: 16 + length */
    unsigned char body[300] = {0};
    memcpy(body, IP4_BLOCK, 12);
    size_t n = v2(s, 0x21, 0x11, body, 0); /* fixed part only */
    (void)n;
    s[14] = 0;
    s[15] = 200; /* 216 bytes in all */
    EXPECT_EQ(pf_proxy_init(&p, 215), 0);
    EXPECT_EQ(pf_proxy_feed(&p, s, 16, &used), -EMSGSIZE);
    EXPECT_EQ(pf_proxy_init(&p, 216), 0);
    EXPECT_EQ(pf_proxy_feed(&p, s, 16, &used), 0);
    EXPECT_EQ(pf_proxy_feed(&p, body, 200, &used), 1);
}

static void test_v2_malformed(void)
{
    static const struct { unsigned ver_cmd, fam; size_t len; } bad[] = {
        {0x11, 0x11, 12}, /* version 1 */
        {0x31, 0x11, 12}, /* version 3 */
        {0x22, 0x11, 12}, /* command 2 */
        {0x21, 0x41, 12}, /* family 4 */
        {0x21, 0x13, 12}, /* transport 3 */
        {0x21, 0x11, 11}, /* IPv4 block short */
        {0x21, 0x21, 12}, /* IPv6 block short */
        {0x21, 0x31, 36}, /* UNIX block short */
    };
    unsigned char body[64] = {0}, s[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pf_proxy p;
        size_t used;
        size_t n = v2(s, bad[i].ver_cmd, bad[i].fam, body, bad[i].len);
        EXPECT_EQ(feed_all(&p, s, n, &used), -EPROTO);
        EXPECT(p.reason != NULL);
    }
    /* a broken signature byte */
    for (size_t k = 1; k < 12; k++) {
        pf_proxy p;
        size_t used;
        size_t n = v2(s, 0x21, 0x11, IP4_BLOCK, 12);
        s[k] ^= 0x40;
        EXPECT_EQ(feed_all(&p, s, n, &used), -ENOMSG);
    }
}

static void test_need_and_limits(void)
{
    pf_proxy p;
    size_t used;
    EXPECT_EQ(pf_proxy_init(&p, 0), 0);
    EXPECT_EQ(p.max_len, PF_PROXY_DEFAULT_MAX);
    EXPECT_EQ(pf_proxy_need(&p), 15);
    EXPECT_EQ(pf_proxy_feed(&p, (const unsigned char *)"PROXY ", 6, &used), 0);
    EXPECT_EQ(pf_proxy_need(&p), 9);
    EXPECT_EQ(pf_proxy_feed(&p, NULL, 0, &used), 0);
    EXPECT_EQ(used, 0);
    EXPECT_EQ(pf_proxy_init(&p, PF_PROXY_V1_MAX - 1), -EINVAL);
    EXPECT_EQ(pf_proxy_feed(&p, (const unsigned char *)"P", 1, &used), -EINVAL);
    EXPECT_EQ(pf_proxy_init(&p, PF_PROXY_MAX_LEN + 1), -EINVAL);
    EXPECT_EQ(pf_proxy_init(&p, PF_PROXY_V1_MAX), 0);
}

static void test_trusted_networks(void)
{
    pf_proxy_net nets[3] = {{AF_INET, 8, {10}}, {AF_INET, 27, {192, 0, 2, 32}},
                            {AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}}};
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    const struct sockaddr *sa = (const struct sockaddr *)&a, *sb = (const struct sockaddr *)&b;
    inet_pton(AF_INET, "10.200.0.1", &a.sin_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sa), 1);
    inet_pton(AF_INET, "11.0.0.1", &a.sin_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sa), 0);
    inet_pton(AF_INET, "192.0.2.63", &a.sin_addr); /* last of /27 */
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sa), 1);
    inet_pton(AF_INET, "192.0.2.64", &a.sin_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sa), 0);
    inet_pton(AF_INET6, "2001:db8:ffff::1", &b.sin6_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sb), 1);
    inet_pton(AF_INET6, "2001:db9::1", &b.sin6_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sb), 0);
    inet_pton(AF_INET6, "::ffff:10.1.1.1", &b.sin6_addr); /* IPv4-mapped */
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sb), 1);
    inet_pton(AF_INET6, "::ffff:11.1.1.1", &b.sin6_addr);
    EXPECT_EQ(pf_proxy_trusted(nets, 3, sb), 0);
    EXPECT_EQ(pf_proxy_trusted(nets, 0, sa), 0);   /* empty list: nobody */
    EXPECT_EQ(pf_proxy_trusted(NULL, -1, sa), 1);  /* no list: anybody */
    EXPECT_EQ(pf_proxy_trusted(nets, 0, (const struct sockaddr *)&u), 1);
}

int main(void)
{
    RUN(test_v1_tcp4_then_payload);
    RUN(test_v1_tcp6);
    RUN(test_v1_unknown_keeps_connection_address);
    RUN(test_v1_longest_line_is_107_bytes);
    RUN(test_v1_malformed);
    RUN(test_missing_header_reported_at_first_differing_byte);
    RUN(test_v1_split_at_every_size);
    RUN(test_v2_tcp4_then_payload);
    RUN(test_v2_tcp6_and_udp);
    RUN(test_v2_unix);
    RUN(test_v2_local_and_unspec_keep_connection_address);
    RUN(test_v2_tlvs_skipped_not_kept);
    RUN(test_v2_split_at_every_size);
    RUN(test_v2_oversized_reported_at_length_field);
    RUN(test_v2_malformed);
    RUN(test_need_and_limits);
    RUN(test_trusted_networks);
    return pf_test_report();
}
