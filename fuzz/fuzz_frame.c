/* Fuzz target for csrc/pf_frame.c.
 *
 * Input layout (missing bytes read as 0):
 *   [0]      mode (% PF_FRAME_NMODES)
 *   [1]      flags: bit0 keep_delim; bits1-3 delim_len - 1; bit4 use the
 *            custom delimiter bytes [9..16] (else bit5 ? "\r\n" : "\n");
 *            bit6 max_size = PF_FRAME_LIMIT_MAX (no limit)
 *   [2..3]   limit, little endian: max_size = limit % 4096 (RAW: + 1),
 *            fixed_size = 1 + limit % 1024
 *   [4..7]   seed of the PRNG choosing read sizes and batch sizes
 *   [8]      largest read size - 1 (0: byte at a time)
 *   [9..16]  custom delimiter
 *   [17..]   the stream
 *
 * Checks, for every input:
 *  - whole delivery: each pf_framer_next() call equals a naive stateless
 *    reference framer on the same bytes (return code and frame);
 *  - each frame: offsets in bounds, consumed <= len, length <= limits,
 *    header + payload + trailer (the output-side API) == the bytes consumed;
 *  - split delivery through a pf_buf, reads cut at PRNG points, mixing
 *    pf_framer_next() and pf_framer_next_batch(): every call equals the
 *    reference on the same bytes (so errors are reported as soon as they are
 *    knowable and never earlier), and the frames and final status equal whole
 *    delivery (RAW: the chunks concatenate to the input instead);
 *  - errors are sticky; pf_framer_need() promises progress; "need more"
 *    only below pf_framer_max_pending().
 *
 * libFuzzer: clang -DPF_LIBFUZZER -fsanitize=fuzzer,address,undefined.
 * Otherwise main() below is a standalone driver (replays files, then
 * random/mutated inputs from a seeded PRNG): see fuzz/run.sh.
 */
#include "pf_buf.h"
#include "pf_frame.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 17
#define MAXF 4096 /* frames recorded per delivery (RAW splits can be many) */

static const uint8_t *g_input;
static size_t g_input_len;

static void fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_frame: CHECK failed at line %d: %s\n", line, what);
#ifndef PF_LIBFUZZER
    {
        const char *path = getenv("PF_FUZZ_CRASH");
        FILE *fp = fopen(path ? path : "fuzz_frame_crash.bin", "wb");
        if (fp) {
            fwrite(g_input, 1, g_input_len, fp);
            fclose(fp);
            fprintf(stderr, "fuzz_frame: input written to %s\n",
                    path ? path : "fuzz_frame_crash.bin");
        }
    }
#endif
    abort();
}
#define CHECK(c) ((c) ? (void)0 : fail(#c, __LINE__))

static uint32_t xs32(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* ---- naive reference framer: stateless, obviously correct ------------- */

static int ref_next(const pf_frame_opts *o, const uint8_t *buf, size_t len,
                    pf_frame *out)
{
    size_t p, hl, n, i;

    out->offset = out->length = out->consumed = 0;
    switch (o->mode) {
    case PF_FRAME_LINE:
        /* First delimiter occurrence; the payload before it may not exceed
         * max_size; an error once positions 0..max_size are all decided. */
        for (p = 0; p <= o->max_size && p + o->delim_len <= len; p++) {
            if (memcmp(buf + p, o->delim, o->delim_len) == 0) {
                out->length = o->keep_delim ? p + o->delim_len : p;
                out->consumed = p + o->delim_len;
                return 1;
            }
        }
        return len >= o->max_size + o->delim_len ? -EMSGSIZE : 0;
    case PF_FRAME_LEN16:
    case PF_FRAME_LEN32:
        hl = o->mode == PF_FRAME_LEN16 ? 2 : 4;
        if (len < hl)
            return 0;
        for (n = 0, i = 0; i < hl; i++)
            n = n * 256 + buf[i];
        if (n > o->max_size)
            return -EMSGSIZE;
        if (len < hl + n)
            return 0;
        out->offset = hl;
        out->length = n;
        out->consumed = hl + n;
        return 1;
    case PF_FRAME_FIXED:
        if (len < o->fixed_size)
            return 0;
        out->length = out->consumed = o->fixed_size;
        return 1;
    case PF_FRAME_RAW:
        if (len == 0)
            return 0;
        out->length = out->consumed = len < o->max_size ? len : o->max_size;
        return 1;
    }
    return -EINVAL;
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct {
    size_t n;          /* frames */
    pf_frame f[MAXF];  /* offsets absolute in the stream */
    size_t consumed;   /* stream bytes consumed */
    int status;        /* 0 or the final error */
} result;

static int same_frame(const pf_frame *a, const pf_frame *b)
{
    return a->offset == b->offset && a->length == b->length &&
           a->consumed == b->consumed;
}

/* Invariants of one frame at absolute position `at` of the stream. */
static void check_frame(const pf_framer *fr, const uint8_t *s, size_t at,
                        size_t avail, const pf_frame *fm)
{
    const pf_frame_opts *o = &fr->o;
    unsigned char hdr[PF_FRAME_HDR_MAX];
    const unsigned char *trl;
    size_t tl;
    int hl;

    CHECK(fm->consumed >= 1);
    CHECK(fm->consumed <= avail);
    CHECK(fm->offset <= fm->consumed && fm->length <= fm->consumed - fm->offset);
    switch (o->mode) {
    case PF_FRAME_LINE:
        CHECK(fm->offset == 0);
        CHECK(fm->consumed - o->delim_len <= o->max_size);
        CHECK(fm->length == (o->keep_delim ? fm->consumed
                                           : fm->consumed - o->delim_len));
        break;
    case PF_FRAME_LEN16:
    case PF_FRAME_LEN32:
        CHECK(fm->length <= o->max_size);
        break;
    case PF_FRAME_FIXED:
        CHECK(fm->length == o->fixed_size);
        break;
    case PF_FRAME_RAW:
        CHECK(fm->length >= 1 && fm->length <= o->max_size);
        break;
    }
    /* header + payload + trailer reproduces the consumed bytes */
    hl = pf_frame_header(o->mode, fm->length, hdr);
    CHECK(hl >= 0);
    tl = pf_framer_trailer(fr, &trl);
    CHECK((size_t)hl + fm->length + tl == fm->consumed);
    CHECK(hl == 0 || memcmp(hdr, s + at, (size_t)hl) == 0);
    CHECK((size_t)hl == fm->offset);
    CHECK(tl == 0 || memcmp(trl, s + at + hl + fm->length, tl) == 0);
}

/* One framer call compared with the reference on the same bytes. */
static int next_checked(pf_framer *fr, const uint8_t *buf, size_t len,
                        pf_frame *out)
{
    pf_frame ref;
    int rr, rc;

    rc = pf_framer_next(fr, buf, len, out);
    rr = ref_next(&fr->o, buf, len, &ref);
    CHECK(rc == rr);
    if (rc == 1)
        CHECK(same_frame(out, &ref));
    if (rc == 0) {
        size_t need = pf_framer_need(fr, buf, len);
        CHECK(need > len);
        CHECK(len < pf_framer_max_pending(fr));
        /* LEN/FIXED know exactly: need bytes make a message (or an error) */
        if (fr->o.mode == PF_FRAME_LEN16 || fr->o.mode == PF_FRAME_LEN32 ||
            fr->o.mode == PF_FRAME_FIXED)
            CHECK(need - len <= fr->o.max_size + 4 + fr->o.fixed_size);
    }
    if (rc < 0) {
        pf_frame again;
        CHECK(pf_framer_next(fr, buf, len, &again) == rc); /* sticky */
        CHECK(again.consumed == 0);
    }
    return rc;
}

static void whole(pf_framer *fr, const uint8_t *s, size_t len, result *r)
{
    pf_frame fm;
    int rc;

    memset(r, 0, sizeof(*r));
    for (;;) {
        rc = next_checked(fr, s + r->consumed, len - r->consumed, &fm);
        if (rc <= 0) {
            r->status = rc;
            return;
        }
        check_frame(fr, s, r->consumed, len - r->consumed, &fm);
        if (r->n < MAXF) {
            r->f[r->n] = fm;
            r->f[r->n].offset += r->consumed;
        }
        r->n++;
        r->consumed += fm.consumed;
    }
}

/* Reads cut at PRNG points into a pf_buf; frames via next or next_batch. */
static void split(pf_framer *fr, const uint8_t *s, size_t len, uint32_t seed,
                  size_t maxread, result *r)
{
    pf_buf b;
    pf_frame fm[8];
    size_t pos = 0;
    int rc, i;

    memset(r, 0, sizeof(*r));
    pf_buf_init(&b, len + 1);
    while (pos < len || pos == 0) {
        size_t n = 1 + xs32(&seed) % maxread;
        if (n > len - pos)
            n = len - pos;
        CHECK(pf_buf_append(&b, s + pos, n) == 0);
        pos += n;
        CHECK(pf_buf_len(&b) == pos - r->consumed);
        for (;;) {
            const uint8_t *d = pf_buf_data(&b);
            size_t dl = pf_buf_len(&b);
            if (xs32(&seed) & 1) {
                rc = next_checked(fr, d, dl, &fm[0]);
                if (rc == 1) {
                    check_frame(fr, s, r->consumed, dl, &fm[0]);
                    if (r->n < MAXF) {
                        r->f[r->n] = fm[0];
                        r->f[r->n].offset += r->consumed;
                    }
                    r->n++;
                    r->consumed += fm[0].consumed;
                    pf_buf_consume(&b, fm[0].consumed);
                }
            } else {
                size_t want = 1 + xs32(&seed) % 8, got = 12345, at = 0;
                rc = pf_framer_next_batch(fr, d, dl, fm, want, &got);
                CHECK(rc <= (int)want);
                if (rc < 0) {
                    pf_frame ref;
                    CHECK(got == 0);
                    CHECK(ref_next(&fr->o, d, dl, &ref) == rc);
                }
                for (i = 0; i < rc; i++) {
                    pf_frame rel = fm[i];
                    CHECK(rel.offset >= at);
                    rel.offset -= at;
                    check_frame(fr, s, r->consumed + at, dl - at, &rel);
                    if (r->n < MAXF) {
                        r->f[r->n] = rel;
                        r->f[r->n].offset += r->consumed + at;
                    }
                    r->n++;
                    at += rel.consumed;
                }
                if (rc >= 0) {
                    CHECK(got == at);
                    r->consumed += got;
                    pf_buf_consume(&b, got);
                    /* batch stopped early: the rest is checked by a plain
                     * next call against the reference */
                    if (rc < (int)want) {
                        rc = next_checked(fr, pf_buf_data(&b), pf_buf_len(&b),
                                          &fm[0]);
                        if (rc == 1)
                            CHECK(0 && "batch stopped before a complete frame");
                    } else {
                        rc = 1;
                    }
                }
            }
            if (rc <= 0)
                break;
        }
        if (rc < 0) {
            r->status = rc;
            break;
        }
        if (len == 0)
            break;
    }
    pf_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t h[HDR];
    pf_frame_opts o;
    pf_framer fr;
    static result rw, rs;
    const uint8_t *s;
    size_t len, limit, i;
    uint32_t seed;
    int mode;

    g_input = data;
    g_input_len = size;
    memset(h, 0, sizeof(h));
    memcpy(h, data, size < HDR ? size : HDR);
    s = size > HDR ? data + HDR : data; /* data, not NULL, when empty */
    len = size > HDR ? size - HDR : 0;

    mode = h[0] % PF_FRAME_NMODES;
    pf_frame_opts_init(&o, (pf_frame_mode)mode);
    limit = (size_t)h[2] | ((size_t)h[3] << 8);
    o.keep_delim = h[1] & 1;
    o.max_size = limit % 4096 + (mode == PF_FRAME_RAW);
    if (h[1] & 0x40)
        o.max_size = PF_FRAME_LIMIT_MAX;
    o.fixed_size = 1 + limit % 1024;
    if (h[1] & 0x10) {
        o.delim_len = 1 + ((h[1] >> 1) & 7);
        memcpy(o.delim, h + 9, o.delim_len);
    } else if (h[1] & 0x20) {
        o.delim_len = 2;
        memcpy(o.delim, "\r\n", 2);
    }
    seed = (uint32_t)h[4] | ((uint32_t)h[5] << 8) | ((uint32_t)h[6] << 16) |
           ((uint32_t)h[7] << 24);

    CHECK(pf_framer_init(&fr, &o) == 0);
    whole(&fr, s, len, &rw);
    /* whole delivery ends on "need more" only if the rest is incomplete */
    if (rw.status == 0 && mode == PF_FRAME_RAW)
        CHECK(rw.consumed == len);

    pf_framer_reset(&fr);
    split(&fr, s, len, seed, (size_t)h[8] + 1, &rs);
    CHECK(rs.status == rw.status);
    if (mode == PF_FRAME_RAW) {
        CHECK(rs.consumed == len);
    } else {
        CHECK(rs.n == rw.n && rs.consumed == rw.consumed);
        for (i = 0; i < rw.n && i < MAXF; i++)
            CHECK(same_frame(&rs.f[i], &rw.f[i]));
    }

    /* Error stays until reset, even with more data. */
    if (rw.status < 0) {
        pf_frame fm;
        CHECK(pf_framer_next(&fr, s, len, &fm) == rw.status);
        CHECK(pf_framer_next_batch(&fr, s, len, &fm, 1, NULL) == rw.status);
        CHECK(pf_framer_need(&fr, s, len) == 0);
        pf_framer_reset(&fr);
        CHECK(fr.err == 0);
    }
    return 0;
}

/* ---- standalone driver (gcc; no libFuzzer) -------------------------------- */
#ifndef PF_LIBFUZZER
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#define MAXSEEDS 256
#define MAXIN 8192

static uint8_t *g_seeds[MAXSEEDS];
static size_t g_seedlen[MAXSEEDS];
static size_t g_nseeds;
static unsigned long g_ran;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!fp) {
        perror(path);
        exit(2);
    }
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n < 0 || n > MAXIN * 16) {
        fclose(fp);
        return;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fprintf(stderr, "%s: read error\n", path);
        exit(2);
    }
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    g_ran++;
    if (g_nseeds < MAXSEEDS) {
        g_seeds[g_nseeds] = buf;
        g_seedlen[g_nseeds++] = (size_t)n;
    } else {
        free(buf);
    }
}

static void run_path(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char sub[4096];

    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    d = opendir(path);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        run_path(sub);
    }
    closedir(d);
}

/* Structured input: options biased to small limits, a stream built from
 * messages near the limits plus noise, from an alphabet rich in
 * delimiter bytes. */
static size_t gen(uint32_t *r, uint8_t *out)
{
    static const uint8_t alpha[] = {'\n', '\r', 'a', 'b', 0, 0xff, '\n', '\r'};
    size_t n = 0, target = xs32(r) % 2048, i, k, lim, dl;
    int mode = (int)(xs32(r) % PF_FRAME_NMODES);

    for (i = 0; i < HDR; i++)
        out[i] = (uint8_t)xs32(r);
    out[0] = (uint8_t)mode;
    out[1] &= (xs32(r) % 4 == 0) ? 0xff : 0xbf; /* rarely unlimited */
    lim = xs32(r) % 4 ? xs32(r) % 64 : xs32(r) % 4096;
    out[2] = (uint8_t)lim;
    out[3] = (uint8_t)(lim >> 8);
    out[8] = xs32(r) % 3 ? (uint8_t)(xs32(r) % 8) : (uint8_t)xs32(r);
    for (i = 9; i < HDR; i++)
        out[i] = alpha[xs32(r) % sizeof(alpha)];
    dl = out[1] & 0x10 ? 1 + ((out[1] >> 1) & 7) : (out[1] & 0x20 ? 2 : 1);
    n = HDR;
    while (n - HDR < target && n < MAXIN - 64) {
        size_t body = xs32(r) % 4 == 0 ? lim + (xs32(r) % 3) - 1 : xs32(r) % (lim + 2);
        if (body > 4096)
            body = 4096;
        if (n + body + 16 > MAXIN)
            break;
        switch (mode) {
        case PF_FRAME_LEN16:
        case PF_FRAME_LEN32:
            k = mode == PF_FRAME_LEN16 ? 2 : 4;
            for (i = 0; i < k; i++)
                out[n++] = (uint8_t)(body >> (8 * (k - 1 - i)));
            if (xs32(r) % 16 == 0) /* huge or random header */
                for (i = 0; i < k; i++)
                    out[n - 1 - i] = xs32(r) % 2 ? 0xff : (uint8_t)xs32(r);
            for (i = 0; i < body; i++)
                out[n++] = (uint8_t)xs32(r);
            break;
        default:
            for (i = 0; i < body; i++)
                out[n++] = alpha[xs32(r) % sizeof(alpha)];
            if (xs32(r) % 2) { /* the delimiter, maybe cut short */
                const uint8_t *d = out[1] & 0x10 ? out + 9
                                   : (out[1] & 0x20 ? (const uint8_t *)"\r\n"
                                                     : (const uint8_t *)"\n");
                k = xs32(r) % 8 ? dl : xs32(r) % dl;
                for (i = 0; i < k; i++)
                    out[n++] = d[i];
            }
            break;
        }
    }
    return n;
}

static size_t mutate(uint32_t *r, uint8_t *buf, size_t n)
{
    static const uint8_t ins[] = {'\n', '\r', 0xff, 0, 'a', 'b'};
    int k, rounds = 1 + (int)(xs32(r) % 8);
    size_t i, m;

    for (k = 0; k < rounds; k++) {
        switch (xs32(r) % 6) {
        case 0: /* flip a bit */
            if (n)
                buf[xs32(r) % n] ^= (uint8_t)(1u << (xs32(r) % 8));
            break;
        case 1: /* set a byte */
            if (n)
                buf[xs32(r) % n] = (uint8_t)xs32(r);
            break;
        case 2: /* insert bytes */
            m = 1 + xs32(r) % 16;
            if (n + m <= MAXIN) {
                size_t j;
                i = xs32(r) % (n + 1);
                memmove(buf + i + m, buf + i, n - i);
                for (j = 0; j < m; j++)
                    buf[i + j] = ins[xs32(r) % sizeof(ins)];
                n += m;
            }
            break;
        case 3: /* delete bytes */
            if (n) {
                i = xs32(r) % n;
                m = 1 + xs32(r) % 16;
                if (m > n - i)
                    m = n - i;
                memmove(buf + i, buf + i + m, n - i - m);
                n -= m;
            }
            break;
        case 4: /* duplicate a block */
            if (n) {
                i = xs32(r) % n;
                m = 1 + xs32(r) % 64;
                if (m > n - i)
                    m = n - i;
                if (n + m <= MAXIN) {
                    memmove(buf + n, buf + i, m);
                    n += m;
                }
            }
            break;
        case 5: /* truncate */
            if (n)
                n = xs32(r) % (n + 1);
            break;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    double seconds = 10, t0;
    unsigned long iters = 0, it;
    uint32_t seed = 1, r;
    static uint8_t buf[MAXIN + 64];
    size_t n;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            iters = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            seed = (uint32_t)strtoul(argv[++i], NULL, 10);
        else
            run_path(argv[i]);
    }
    printf("fuzz_frame: replayed %lu files\n", g_ran);
    t0 = now();
    for (it = 0; iters ? it < iters : now() - t0 < seconds; it++) {
        r = seed * 2654435761u + (uint32_t)it * 40503u + 1;
        xs32(&r);
        if (g_nseeds && xs32(&r) % 2) {
            size_t k = xs32(&r) % g_nseeds;
            n = g_seedlen[k] < MAXIN ? g_seedlen[k] : MAXIN;
            memcpy(buf, g_seeds[k], n);
        } else {
            n = gen(&r, buf);
        }
        if (xs32(&r) % 2)
            n = mutate(&r, buf, n);
        LLVMFuzzerTestOneInput(buf, n);
        g_ran++;
    }
    printf("fuzz_frame: %lu inputs in %.1f s (seed %u), 0 failed\n", g_ran,
           now() - t0, seed);
    for (n = 0; n < g_nseeds; n++)
        free(g_seeds[n]);
    return 0;
}
#endif /* PF_LIBFUZZER */
