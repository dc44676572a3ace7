/* pf_proxy: the PROXY protocol header parser (see pf_proxy.h). */
#include "pf_proxy.h"
#include "pf_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

enum { ST_START = 0, ST_V1 = 1, ST_V2 = 2, ST_DONE = 3 };

static const unsigned char V1_SIG[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const unsigned char V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
/* v2 address block size per family nibble: UNSPEC, INET, INET6, UNIX. */
static const size_t V2_ADDR_LEN[4] = {0, 12, 36, 216};

static int fail(pf_proxy *p, int err, const char *reason)
{
    p->err = err;
    p->reason = reason;
    return err;
}

int pf_proxy_init(pf_proxy *p, size_t max_len)
{
    memset(&p->hdr, 0, sizeof p->hdr);
    p->have = p->total = 0;
    p->state = ST_START;
    p->err = 0;
    p->reason = NULL;
    if (max_len == 0)
        max_len = PF_PROXY_DEFAULT_MAX;
    p->max_len = max_len;
    if (max_len < PF_PROXY_V1_MAX || max_len > PF_PROXY_MAX_LEN)
        return fail(p, -EINVAL, "max_len out of range");
    return 0;
}

/* ---- version 1 ------------------------------------------------------- */

/* A decimal port: 1..5 digits, no leading zero (but "0"), <= 65535. */
static int v1_port(const unsigned char *s, size_t n, uint16_t *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* A numeric address of family af into *ss. */
static int v1_addr(int af, const unsigned char *s, size_t n, uint16_t port,
                   struct sockaddr_storage *ss, socklen_t *sl)
{
    char text[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(ss, 0, sizeof *ss);
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, text, &a->sin_addr) != 1)
            return -1;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        *sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        *sl = sizeof *a;
    }
    return 0;
}

/* p->buf[0..have) is "PROXY ...\n" (signature checked). */
static int v1_parse(pf_proxy *p)
{
    pf_proxy_header *h = &p->hdr;
    const unsigned char *f[4];
    size_t flen[4], nf = 0;
    uint16_t sport, dport;
    int af;

    if (p->buf[p->have - 2] != '\r')
        return fail(p, -EPROTO, "v1 header: line not ended by CRLF");
    const unsigned char *s = p->buf + sizeof V1_SIG;
    size_t n = p->have - 2 - sizeof V1_SIG;  /* between "PROXY " and CRLF */

    h->version = 1;
    h->command = PF_PROXY_CMD_PROXY;
    if (n >= 7 && memcmp(s, "UNKNOWN", 7) == 0 && (n == 7 || s[7] == ' ')) {
        h->family = AF_UNSPEC;  /* the rest of the line is ignored */
        return 0;
    }
    if (n < 5 || memcmp(s, "TCP", 3) != 0 || (s[3] != '4' && s[3] != '6') || s[4] != ' ')
        return fail(p, -EPROTO, "v1 header: protocol is not TCP4, TCP6 or UNKNOWN");
    af = s[3] == '4' ? AF_INET : AF_INET6;
    /* Exactly four fields separated by single spaces. */
    const unsigned char *q = s + 5, *end = s + n;
    while (q <= end) {
        const unsigned char *sp = memchr(q, ' ', (size_t)(end - q));
        const unsigned char *e = sp ? sp : end;
        if (nf == 4 || e == q)
            return fail(p, -EPROTO, "v1 header: not four single-space separated fields");
        f[nf] = q;
        flen[nf++] = (size_t)(e - q);
        q = e + 1;
        if (!sp)
            break;
    }
    if (nf != 4)
        return fail(p, -EPROTO, "v1 header: not four single-space separated fields");
    if (v1_port(f[2], flen[2], &sport) < 0 || v1_port(f[3], flen[3], &dport) < 0)
        return fail(p, -EPROTO, "v1 header: bad port");
    if (v1_addr(af, f[0], flen[0], sport, &h->src, &h->src_len) < 0
        || v1_addr(af, f[1], flen[1], dport, &h->dst, &h->dst_len) < 0)
        return fail(p, -EPROTO, "v1 header: bad address for its protocol");
    h->family = af;
    h->socktype = SOCK_STREAM;
    return 0;
}

/* ---- version 2 ------------------------------------------------------- */

/* p->buf[0..16) is in: check it, set p->total. */
static int v2_fixed(pf_proxy *p)
{
    unsigned ver = p->buf[12] >> 4, cmd = p->buf[12] & 0xF;
    unsigned fam = p->buf[13] >> 4, tr = p->buf[13] & 0xF;
    size_t len = ((size_t)p->buf[14] << 8) | p->buf[15];

    if (ver != 2)
        return fail(p, -EPROTO, "v2 header: version is not 2");
    if (cmd > PF_PROXY_CMD_PROXY)
        return fail(p, -EPROTO, "v2 header: command is neither LOCAL nor PROXY");
    if (fam > 3 || tr > 2)
        return fail(p, -EPROTO, "v2 header: unknown address family or transport");
    p->total = PF_PROXY_V2_HDR + len;
    if (p->total > p->max_len)
        return fail(p, -EMSGSIZE, "v2 header: longer than the limit");
    if (cmd == PF_PROXY_CMD_PROXY && tr != 0 && len < V2_ADDR_LEN[fam])
        return fail(p, -EPROTO, "v2 header: address block shorter than its family's");
    return 0;
}

static void v2_unix(const unsigned char *path, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct sockaddr_un *a = (struct sockaddr_un *)ss;
    size_t n = path[0] ? strnlen((const char *)path, sizeof a->sun_path)
                       : sizeof a->sun_path; /* abstract: every byte counts */
    memset(ss, 0, sizeof *ss);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, n);
    *sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

/* The whole header is in (its first PF_PROXY_KEEP bytes in p->buf). */
static void v2_finish(pf_proxy *p)
{
    pf_proxy_header *h = &p->hdr;
    const unsigned char *a = p->buf + PF_PROXY_V2_HDR;
    unsigned fam = p->buf[13] >> 4, tr = p->buf[13] & 0xF;

    h->version = 2;
    h->command = p->buf[12] & 0xF;
    h->family = AF_UNSPEC;
    if (h->command == PF_PROXY_CMD_LOCAL || fam == 0 || tr == 0)
        return; /* keep the connection's own addresses */
    h->socktype = tr == 1 ? SOCK_STREAM : SOCK_DGRAM;
    if (fam == 1 || fam == 2) {
        /* addresses (4 or 16 bytes each), then the two ports */
        int af = fam == 1 ? AF_INET : AF_INET6;
        size_t alen = fam == 1 ? 4 : 16;
        for (int i = 0; i < 2; i++) {
            struct sockaddr_storage *ss = i ? &h->dst : &h->src;
            struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
            ss->ss_family = (sa_family_t)af;
            memcpy(af == AF_INET ? (void *)&s4->sin_addr : (void *)&s6->sin6_addr, a + i * alen, alen);
            memcpy(af == AF_INET ? (void *)&s4->sin_port : (void *)&s6->sin6_port,
                   a + 2 * alen + 2 * (size_t)i, 2);
        }
        h->src_len = h->dst_len = af == AF_INET ? sizeof(struct sockaddr_in)
                                                : sizeof(struct sockaddr_in6);
        h->family = af;
    } else {
        v2_unix(a, &h->src, &h->src_len);
        v2_unix(a + 108, &h->dst, &h->dst_len);
        h->family = AF_UNIX;
    }
}

/* ---- feeding --------------------------------------------------------- */

static int done(pf_proxy *p, size_t *used, size_t n)
{
    p->state = ST_DONE;
    p->hdr.length = p->have;
    if (used)
        *used = n;
    return 1;
}

int pf_proxy_feed(pf_proxy *p, const unsigned char *data, size_t len, size_t *used)
{
    size_t i = 0;

    if (used)
        *used = 0;
    if (p->err)
        return p->err;
    if (p->state == ST_DONE)
        return 1;
    while (i < len) {
        const unsigned char *d = data + i;
        size_t left = len - i, n, k;

        switch (p->state) {
        case ST_START:
            if (d[0] == V1_SIG[0])
                p->state = ST_V1;
            else if (d[0] == V2_SIG[0])
                p->state = ST_V2;
            else
                return fail(p, -ENOMSG, "no PROXY protocol header");
            break;
        case ST_V1: {
            n = PF_PROXY_V1_MAX - p->have;
            if (n > left)
                n = left;
            const unsigned char *lf = memchr(d, '\n', n);
            if (lf)
                n = (size_t)(lf - d) + 1;
            for (k = 0; k < n && p->have + k < sizeof V1_SIG; k++)
                if (d[k] != V1_SIG[p->have + k])
                    return fail(p, -ENOMSG, "no PROXY protocol header");
            memcpy(p->buf + p->have, d, n);
            p->have += n;
            i += n;
            if (lf) {
                int r = v1_parse(p);
                return r < 0 ? r : done(p, used, i);
            }
            if (p->have >= PF_PROXY_V1_MAX)
                return fail(p, -EMSGSIZE, "v1 header: no CRLF within 107 bytes");
            break;
        }
        case ST_V2:
            if (p->have < PF_PROXY_V2_HDR) {
                n = PF_PROXY_V2_HDR - p->have;
                if (n > left)
                    n = left;
                for (k = 0; k < n && p->have + k < sizeof V2_SIG; k++)
                    if (d[k] != V2_SIG[p->have + k])
                        return fail(p, -ENOMSG, "no PROXY protocol header");
                memcpy(p->buf + p->have, d, n);
                p->have += n;
                i += n;
                if (p->have < PF_PROXY_V2_HDR)
                    break;
                int r = v2_fixed(p);
                if (r < 0)
                    return r;
            } else {
                n = p->total - p->have;
                if (n > left)
                    n = left;
                k = p->have < PF_PROXY_KEEP ? PF_PROXY_KEEP - p->have : 0;
                memcpy(p->buf + p->have, d, k < n ? k : n); /* TLVs past KEEP: skipped */
                p->have += n;
                i += n;
            }
            if (p->have == p->total) {
                v2_finish(p);
                return done(p, used, i);
            }
            break;
        }
    }
    if (used)
        *used = len;
    return 0;
}

size_t pf_proxy_need(const pf_proxy *p)
{
    /* Shortest headers: "PROXY UNKNOWN\r\n" (15 bytes), a bare v2 LOCAL (16). */
    static const size_t V1_MIN = 15;
    if (p->err || p->state == ST_DONE)
        return 0;
    switch (p->state) {
    case ST_V1:
        return p->have + 1 < V1_MIN ? V1_MIN - p->have : 1;
    case ST_V2:
        return p->have < PF_PROXY_V2_HDR ? PF_PROXY_V2_HDR - p->have : p->total - p->have;
    default:
        return V1_MIN;
    }
}

/* ---- trusted peers --------------------------------------------------- */

static int in_net(const pf_proxy_net *net, const unsigned char *a, int bits)
{
    int k = net->prefix;
    if (k < 0 || k > bits)
        return 0;
    if (memcmp(net->addr, a, (size_t)(k / 8)) != 0)
        return 0;
    if (k % 8 == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - k % 8));
    return (net->addr[k / 8] & mask) == (a[k / 8] & mask);
}

int pf_proxy_trusted(const pf_proxy_net *nets, int n, const struct sockaddr *sa)
{
    static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    const unsigned char *a4 = NULL, *a6 = NULL;

    if (n < 0 || sa->sa_family == AF_UNIX)
        return 1;
    if (sa->sa_family == AF_INET) {
        a4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        a6 = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(a6, V4_MAPPED, 12) == 0)
            a4 = a6 + 12;
    }
    for (int i = 0; i < n; i++) {
        if ((nets[i].family == AF_INET && a4 && in_net(&nets[i], a4, 32))
            || (nets[i].family == AF_INET6 && a6 && in_net(&nets[i], a6, 128)))
            return 1;
    }
    return 0;
}
