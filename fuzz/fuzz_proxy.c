/* Fuzz target for csrc/pf_proxy.c (PROXY protocol header parser).
 *
 * Input layout (missing bytes read as 0):
 *   [0..1]   limit, little endian: max_len = 107 + limit % 4000
 *            (limit 0: the default, PF_PROXY_DEFAULT_MAX)
 *   [2..5]   seed of the PRNG choosing the piece sizes
 *   [6]      largest piece - 1 (0: a byte at a time)
 *   [7..]    the stream (header, then payload)
 *
 * Checks, for every input:
 *  - split delivery (pieces cut at PRNG points) gives what whole delivery
 *    gives: the same status, the header ending at the same byte, the same
 *    header fields, the same reason for an error; every piece before the
 *    end is all header; pf_proxy_need() never promises too much (a piece
 *    that completes the header is at least need() bytes long);
 *  - a header is at most max_len bytes and what it says it is: fed alone,
 *    its bytes give it again, and one byte less needs more;
 *  - an IPv4/IPv6 header re-encoded (v1 text and v2 binary) parses to the
 *    same addresses and ports;
 *  - errors are sticky.
 *
 * libFuzzer: clang -DPF_LIBFUZZER -fsanitize=fuzzer,address,undefined.
 * Otherwise main() below is a standalone driver (replays the files named
 * on the command line, then generated and mutated inputs from a seeded
 * PRNG): see fuzz/run.sh proxy.
 */
#include "pf_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRE 7

static const uint8_t *g_in;
static size_t g_in_len;

static void fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_proxy: CHECK failed at line %d: %s\n", line, what);
#ifndef PF_LIBFUZZER
    const char *path = getenv("PF_FUZZ_CRASH");
    FILE *fp = fopen(path ? path : "fuzz_proxy_crash.bin", "wb");
    if (fp) {
        fwrite(g_in, 1, g_in_len, fp);
        fclose(fp);
    }
#endif
    abort();
}
#define CHECK(c) ((c) ? (void)0 : fail(#c, __LINE__))

static uint32_t rnd(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x2545F491u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static const void *ip_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                                    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
}

static void same_addresses(const pf_proxy_header *a, const pf_proxy_header *b)
{
    size_t n = a->family == AF_INET ? 4 : 16;
    CHECK(b->family == a->family);
    CHECK(memcmp(ip_of(&a->src), ip_of(&b->src), n) == 0);
    CHECK(memcmp(ip_of(&a->dst), ip_of(&b->dst), n) == 0);
    CHECK(port_of(&a->src) == port_of(&b->src));
    CHECK(port_of(&a->dst) == port_of(&b->dst));
}

/* Re-encode an IP header as v1 and as v2; both must parse the same. */
static void round_trip(const pf_proxy_header *h)
{
    char line[PF_PROXY_V1_MAX + 1], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    unsigned char bin[PF_PROXY_V2_HDR + 36];
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    size_t alen = h->family == AF_INET ? 4 : 16, used;
    uint16_t sp = htons(port_of(&h->src)), dp = htons(port_of(&h->dst));
    pf_proxy p;

    CHECK(inet_ntop(h->family, ip_of(&h->src), s, sizeof s) != NULL);
    CHECK(inet_ntop(h->family, ip_of(&h->dst), d, sizeof d) != NULL);
    int n = snprintf(line, sizeof line, "PROXY TCP%c %s %s %u %u\r\n",
                     h->family == AF_INET ? '4' : '6', s, d, port_of(&h->src), port_of(&h->dst));
    CHECK(n > 0 && (size_t)n < sizeof line);
    CHECK(pf_proxy_init(&p, 0) == 0);
    CHECK(pf_proxy_feed(&p, (const unsigned char *)line, (size_t)n, &used) == 1);
    CHECK(used == (size_t)n);
    same_addresses(h, &p.hdr);

    memcpy(bin, sig, 12);
    bin[12] = 0x21;
    bin[13] = h->family == AF_INET ? 0x11 : 0x21;
    bin[14] = 0;
    bin[15] = (unsigned char)(alen * 2 + 4);
    memcpy(bin + 16, ip_of(&h->src), alen);
    memcpy(bin + 16 + alen, ip_of(&h->dst), alen);
    memcpy(bin + 16 + 2 * alen, &sp, 2);
    memcpy(bin + 18 + 2 * alen, &dp, 2);
    CHECK(pf_proxy_init(&p, 0) == 0);
    CHECK(pf_proxy_feed(&p, bin, 20 + 2 * alen, &used) == 1);
    same_addresses(h, &p.hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pre[PRE] = {0};
    pf_proxy whole, split, again;
    size_t used, off = 0;
    int rw, rs = 0;

    g_in = data;
    g_in_len = size;
    memcpy(pre, data, size < PRE ? size : PRE);
    const uint8_t *s = size > PRE ? data + PRE : NULL;
    size_t len = size > PRE ? size - PRE : 0;
    unsigned limit = (unsigned)pre[0] | (unsigned)pre[1] << 8;
    size_t max_len = limit ? PF_PROXY_V1_MAX + limit % 4000 : 0;
    uint32_t r = (uint32_t)pre[2] | (uint32_t)pre[3] << 8 | (uint32_t)pre[4] << 16
                 | (uint32_t)pre[5] << 24;
    size_t piece = (size_t)pre[6] + 1;

    CHECK(pf_proxy_init(&whole, max_len) == 0);
    rw = pf_proxy_feed(&whole, s, len, &used);
    CHECK(rw == 1 || rw == 0 || rw == -ENOMSG || rw == -EPROTO || rw == -EMSGSIZE);
    if (rw == 0) {
        CHECK(used == len);
        CHECK(pf_proxy_need(&whole) >= 1);
    }
    if (rw < 0) {
        CHECK(whole.reason != NULL);
        CHECK(pf_proxy_need(&whole) == 0);
        CHECK(pf_proxy_feed(&whole, (const unsigned char *)"\r\n", 2, NULL) == rw);
    }

    /* Split delivery. */
    CHECK(pf_proxy_init(&split, max_len) == 0);
    while (off < len) {
        size_t k = 1 + rnd(&r) % piece, need = pf_proxy_need(&split);
        if (k > len - off)
            k = len - off;
        rs = pf_proxy_feed(&split, s + off, k, &used);
        if (rs != 0) {
            if (rs == 1)
                CHECK(used >= need && used <= k);
            break;
        }
        CHECK(used == k);
        off += k;
    }
    CHECK(rs == rw);
    CHECK(split.reason == whole.reason);
    if (rw != 1)
        return 0;

    /* The header: where it ends, what it holds, what it re-encodes to. */
    const pf_proxy_header *h = &whole.hdr;
    CHECK(off + used == h->length);
    CHECK(memcmp(&split.hdr, h, sizeof *h) == 0);
    CHECK(h->length <= whole.max_len && h->length <= len);
    CHECK(h->version == 1 || h->version == 2);
    CHECK(h->family == AF_UNSPEC || h->family == AF_INET || h->family == AF_INET6
          || h->family == AF_UNIX);
    CHECK((h->family == AF_UNSPEC) == (h->src_len == 0));
    CHECK(pf_proxy_init(&again, max_len) == 0);
    CHECK(pf_proxy_feed(&again, s, h->length - 1, &used) == 0);
    CHECK(pf_proxy_feed(&again, s + h->length - 1, 1, &used) == 1 && used == 1);
    CHECK(memcmp(&again.hdr, h, sizeof *h) == 0);
    if (h->family == AF_INET || h->family == AF_INET6)
        round_trip(h);
    return 0;
}

/* ---- standalone driver (gcc; no libFuzzer) ------------------------------ */
#ifndef PF_LIBFUZZER
#include <time.h>

#define MAXIN 4096
#define MAXSEEDS 64

static uint8_t g_seed_buf[MAXSEEDS][MAXIN];
static size_t g_seed_len[MAXSEEDS], g_nseeds;

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Near-valid headers: v1 or v2, right or slightly off, then payload. */
static size_t generate(uint32_t *r, uint8_t *out)
{
    static const char *v1[] = {
        "PROXY TCP4 %u.%u.%u.%u 10.0.0.%u %u %u\r\n",
        "PROXY TCP6 2001:db8::%x ::%x %u %u\r\n",
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN %u %u\r\n",
    };
    size_t n = PRE, i;
    for (i = 0; i < PRE; i++)
        out[i] = (uint8_t)rnd(r);
    if (rnd(r) % 2)
        out[0] = out[1] = 0;
    if (rnd(r) % 2) {
        int k = (int)(rnd(r) % 4), m;
        char *t = (char *)out + n;
        unsigned a = rnd(r) % 256, b = rnd(r) % 65536, c = rnd(r) % 70000;
        if (k == 0)
            m = snprintf(t, 200, v1[0], a, a, 1u, 2u, b % 256, b, c);
        else if (k == 1)
            m = snprintf(t, 200, v1[1], a, b, b, c);
        else if (k == 2)
            m = snprintf(t, 200, "%s", v1[2]);
        else
            m = snprintf(t, 200, v1[3], a, b);
        n += (size_t)m;
    } else {
        static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
        static const size_t alen[4] = {0, 12, 36, 216};
        unsigned fam = rnd(r) % 4, tr = 1 + rnd(r) % 2;
        size_t body = alen[fam] + (rnd(r) % 3 ? 0 : rnd(r) % 400);
        memcpy(out + n, sig, 12);
        out[n + 12] = rnd(r) % 8 ? 0x21 : (uint8_t)(0x20 | rnd(r) % 3);
        out[n + 13] = (uint8_t)(fam << 4 | tr);
        out[n + 14] = (uint8_t)(body >> 8);
        out[n + 15] = (uint8_t)body;
        n += 16;
        for (i = 0; i < body && n < MAXIN - 64; i++)
            out[n++] = (uint8_t)rnd(r);
    }
    for (i = rnd(r) % 32; i > 0; i--)
        out[n++] = (uint8_t)rnd(r);
    return n;
}

static size_t mutate(uint32_t *r, uint8_t *b, size_t n)
{
    for (int k = 1 + (int)(rnd(r) % 4); k > 0 && n > PRE; k--) {
        size_t i = PRE + rnd(r) % (n - PRE);
        switch (rnd(r) % 5) {
        case 0: b[i] ^= (uint8_t)(1u << rnd(r) % 8); break;
        case 1: b[i] = " \r\n:.0"[rnd(r) % 6]; break;
        case 2: n = i; break;                                    /* truncate */
        case 3: memmove(b + i, b + i + 1, n - i - 1); n--; break; /* delete */
        default:                                                 /* insert */
            if (n < MAXIN) {
                memmove(b + i + 1, b + i, n - i);
                b[i] = (uint8_t)rnd(r);
                n++;
            }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    double secs = 10, t0;
    uint32_t seed = 1;
    unsigned long ran = 0, it;
    static uint8_t buf[MAXIN + 256];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            secs = atof(argv[++i]);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            seed = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else {
            FILE *fp = fopen(argv[i], "rb");
            if (!fp) {
                perror(argv[i]);
                return 2;
            }
            size_t n = fread(buf, 1, MAXIN, fp);
            fclose(fp);
            LLVMFuzzerTestOneInput(buf, n);
            ran++;
            if (g_nseeds < MAXSEEDS) {
                memcpy(g_seed_buf[g_nseeds], buf, n);
                g_seed_len[g_nseeds++] = n;
            }
        }
    }
    printf("fuzz_proxy: replayed %lu files\n", ran);
    t0 = seconds_now();
    for (it = 0; seconds_now() - t0 < secs; it++) {
        uint32_t r = seed * 2654435761u ^ (uint32_t)it * 97u;
        size_t n;
        rnd(&r);
        if (g_nseeds && rnd(&r) % 3 == 0) {
            size_t k = rnd(&r) % g_nseeds;
            n = g_seed_len[k];
            memcpy(buf, g_seed_buf[k], n);
        } else {
            n = generate(&r, buf);
        }
        if (rnd(&r) % 2)
            n = mutate(&r, buf, n);
        LLVMFuzzerTestOneInput(buf, n);
        ran++;
    }
    printf("fuzz_proxy: %lu inputs in %.1f s (seed %u), 0 failed\n", ran,
           seconds_now() - t0, seed);
    return 0;
}
#endif /* PF_LIBFUZZER */
