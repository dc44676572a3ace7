/* Unit tests for csrc/pf_frame.c. Build and run (tests/test_frame_c.py does):
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Icsrc \
 *      [-fsanitize=address,undefined] csrc/pf_frame.c csrc/pf_buf.c tests/c/test_frame.c
 * Prints one line per failure and "N passed, N failed"; exit status 1 if any
 * failed. PF_TEST_TIME_SCALE=k multiplies the time limits (valgrind). */
#include "pf_buf.h"
#include "pf_frame.h"
#include "pf_test.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const unsigned char *U(const char *s) { return (const unsigned char *)s; }

static pf_framer mk(pf_frame_mode mode, size_t max, const char *delim,
                    int keep, size_t fixed)
{
    pf_frame_opts o;
    pf_framer f;

    pf_frame_opts_init(&o, mode);
    o.max_size = max;
    o.fixed_size = fixed;
    if (delim) {
        o.delim_len = strlen(delim);
        memcpy(o.delim, delim, o.delim_len);
    }
    o.keep_delim = keep;
    if (pf_framer_init(&f, &o) != 0) {
        fprintf(stderr, "  mk: pf_framer_init failed\n");
        g_fail_here++;
    }
    return f;
}

/* Messages of a whole buffer, joined as "m1|m2|..." plus the status:
 * "a|b|" then "#0" (need more), "#E" (EMSGSIZE). rest: bytes left. */
static void frame_all(pf_framer *f, const unsigned char *buf, size_t len,
                      char *out, size_t outsz, size_t *rest)
{
    size_t pos = 0, o = 0;
    pf_frame fm;
    int rc;

    out[0] = 0;
    for (;;) {
        rc = pf_framer_next(f, buf + pos, len - pos, &fm);
        if (rc != 1)
            break;
        if (o + fm.length + 2 < outsz) {
            memcpy(out + o, buf + pos + fm.offset, fm.length);
            o += fm.length;
            out[o++] = '|';
        }
        pos += fm.consumed;
    }
    snprintf(out + o, outsz - o, "#%s", rc == 0 ? "0" : rc == -EMSGSIZE ? "E" : "?");
    if (rest)
        *rest = len - pos;
}

/* The same through a pf_buf fed `step` bytes at a time (step 0: a
 * pseudo-random step in 1..7 each time). */
static void frame_steps(pf_framer *f, const unsigned char *buf, size_t len,
                        size_t step, char *out, size_t outsz)
{
    pf_buf b;
    pf_frame fm;
    size_t pos = 0, o = 0, n;
    uint32_t r = 12345;
    int rc = 0;

    pf_buf_init(&b, len + 16);
    out[0] = 0;
    while (pos < len && rc >= 0) {
        r = r * 1103515245u + 12345u;
        n = step ? step : 1 + (r >> 16) % 7;
        if (n > len - pos)
            n = len - pos;
        EXPECT_EQ(pf_buf_append(&b, buf + pos, n), 0);
        pos += n;
        while ((rc = pf_framer_next(f, pf_buf_data(&b), pf_buf_len(&b), &fm)) == 1) {
            if (o + fm.length + 2 < outsz) {
                memcpy(out + o, pf_buf_data(&b) + fm.offset, fm.length);
                o += fm.length;
                out[o++] = '|';
            }
            pf_buf_consume(&b, fm.consumed);
            if (pos % 3 == 0)
                pf_buf_compact(&b); /* scan state must survive compaction */
        }
    }
    if (len == 0)
        rc = pf_framer_next(f, NULL, 0, &fm);
    snprintf(out + o, outsz - o, "#%s", rc == 0 ? "0" : rc == -EMSGSIZE ? "E" : "?");
    pf_buf_free(&b);
}

#define EXPECT_FRAMES(f, s, want)                                   \
    do {                                                            \
        char got_[4096];                                            \
        frame_all(&(f), U(s), strlen(s), got_, sizeof(got_), NULL); \
        if (strcmp(got_, (want)) != 0) {                            \
            fprintf(stderr, "  %s:%d: got \"%s\", want \"%s\"\n",   \
                    __FILE__, __LINE__, got_, (want));              \
            g_fail_here++;                                          \
        }                                                           \
    } while (0)

/* ---- LINE --------------------------------------------------------------- */

static void test_line_lf_messages_and_pending_tail(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 100, NULL, 0, 0);
    size_t rest;
    char got[256];

    frame_all(&f, U("a\nbc\n\nd"), 7, got, sizeof(got), &rest);
    EXPECT(strcmp(got, "a|bc||#0") == 0);
    EXPECT_EQ(rest, 1);
}

static void test_line_crlf_split_across_reads(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 100, "\r\n", 0, 0);
    const unsigned char *s = U("hello\r\nworld\r\n");
    pf_frame fm;

    /* "hello\r" : the delimiter's first byte only */
    EXPECT_EQ(pf_framer_next(&f, s, 6, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, s, 7, &fm), 1);
    EXPECT_EQ(fm.offset, 0);
    EXPECT_EQ(fm.length, 5);
    EXPECT_EQ(fm.consumed, 7);
    s += fm.consumed;
    EXPECT_EQ(pf_framer_next(&f, s, 6, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, s, 7, &fm), 1);
    EXPECT_EQ(fm.length, 5);
    EXPECT(memcmp(s, "world", 5) == 0);
}

static void test_line_crlf_lone_cr_and_lf_are_data(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 100, "\r\n", 0, 0);
    EXPECT_FRAMES(f, "a\rb\nc\r\r\n\r\n", "a\rb\nc\r||#0");
}

static void test_line_keep_delim(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 100, "\r\n", 1, 0);
    const unsigned char *t;

    EXPECT_FRAMES(f, "ab\r\n\r\nc", "ab\r\n|\r\n|#0");
    EXPECT_EQ(pf_framer_trailer(&f, &t), 0); /* the payload carries it */
}

static void test_line_self_overlapping_delimiter(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 100, "aab", 0, 0);
    EXPECT_FRAMES(f, "aaabxaab", "a|x|#0");
}

static void test_line_8_byte_delimiter_split_at_every_point(void)
{
    const char *s = "one<<END>>two<<END>><<END>>";
    size_t step;

    for (step = 1; step <= 9; step++) {
        pf_framer f = mk(PF_FRAME_LINE, 100, "<<END>>", 0, 0);
        char got[256];
        frame_steps(&f, U(s), strlen(s), step, got, sizeof(got));
        EXPECT(strcmp(got, "one|two||#0") == 0);
    }
    {
        pf_framer f = mk(PF_FRAME_LINE, 100, "12345678", 0, 0);
        EXPECT_FRAMES(f, "x1234567812345678", "x||#0");
    }
}

static void test_line_max_exactly_at_limit_ok_one_over_fails(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 5, NULL, 0, 0);
    pf_frame fm;

    EXPECT_FRAMES(f, "12345\n", "12345|#0");
    f = mk(PF_FRAME_LINE, 5, NULL, 0, 0);
    EXPECT_FRAMES(f, "123456\n", "#E");

    /* Detected at max + delim_len bytes, before any delimiter arrives. */
    f = mk(PF_FRAME_LINE, 5, NULL, 0, 0);
    EXPECT_EQ(pf_framer_next(&f, U("12345"), 5, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, U("123456"), 6, &fm), -EMSGSIZE);

    f = mk(PF_FRAME_LINE, 5, "\r\n", 0, 0);
    EXPECT_EQ(pf_framer_next(&f, U("12345\r"), 6, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, U("12345\r\n"), 7, &fm), 1);
    EXPECT_EQ(fm.length, 5);
    f = mk(PF_FRAME_LINE, 5, "\r\n", 0, 0);
    EXPECT_EQ(pf_framer_next(&f, U("123456"), 6, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, U("1234567"), 7, &fm), -EMSGSIZE);

    /* keep_delim: the limit still excludes the delimiter */
    f = mk(PF_FRAME_LINE, 5, "\r\n", 1, 0);
    EXPECT_FRAMES(f, "12345\r\n", "12345\r\n|#0");

    /* max 0: only empty lines */
    f = mk(PF_FRAME_LINE, 0, NULL, 0, 0);
    EXPECT_FRAMES(f, "\n\nx", "||#E");
}

static void test_line_endless_stream_detected_at_limit_with_bounded_buffer(void)
{
    /* A client streaming without a newline: the error comes at
     * max_line + delim_len bytes, the buffer never exceeds its cap. */
    pf_framer f = mk(PF_FRAME_LINE, 1024, "\r\n", 0, 0);
    unsigned char chunk[100];
    pf_buf b;
    pf_frame fm;
    size_t total = 0;
    int rc = 0;

    memset(chunk, 'x', sizeof(chunk));
    pf_buf_init(&b, 4096);
    while (total < (1u << 20)) {
        EXPECT_EQ(pf_buf_append(&b, chunk, 1), 0);
        total++;
        rc = pf_framer_next(&f, pf_buf_data(&b), pf_buf_len(&b), &fm);
        if (rc != 0)
            break;
    }
    EXPECT_EQ(rc, -EMSGSIZE);
    EXPECT_EQ(total, 1024 + 2);
    EXPECT(b.cap <= 4096);
    pf_buf_free(&b);
}

/* Feeds an n-byte line one byte per read; gives up after `lim` seconds (a
 * quadratic scan would otherwise run for minutes). Returns the time. */
static double line_feed_bytewise(size_t n, const char *delim, unsigned char fill,
                                 double lim)
{
    pf_framer f = mk(PF_FRAME_LINE, 2 * n, delim, 0, 0);
    size_t dl = strlen(delim), i;
    pf_buf b;
    pf_frame fm;
    double t0 = now();
    int rc = 0;

    pf_buf_init(&b, n + 64);
    for (i = 0; i < n + dl; i++) {
        unsigned char c = i < n ? fill : (unsigned char)delim[i - n];
        EXPECT_EQ(pf_buf_append(&b, &c, 1), 0);
        rc = pf_framer_next(&f, pf_buf_data(&b), pf_buf_len(&b), &fm);
        if (rc != 0)
            break;
        if ((i & 0xfff) == 0 && now() - t0 > lim)
            break;
    }
    EXPECT_EQ(rc, 1);
    EXPECT_EQ(i, n + dl - 1);
    EXPECT_EQ(fm.length, n);
    pf_buf_free(&b);
    return now() - t0;
}

static void test_line_1mb_byte_at_a_time_is_linear(void)
{
    /* O(n^2) rescanning would be ~5e11 byte compares here. */
    double lim = 5.0 * time_scale();
    double t1 = line_feed_bytewise(1u << 20, "\n", 'x', lim);
    double t2 = line_feed_bytewise(1u << 20, "\r\n", '\r', lim); /* memchr hits everywhere */
    double t3 = line_feed_bytewise(1u << 20, "aab", 'a', lim);
    printf("     1 MB line, 1 byte/read: %.3f s (\\n), %.3f s (\\r\\n over \\r), "
           "%.3f s (aab over a)\n", t1, t2, t3);
    EXPECT(t1 < lim);
    EXPECT(t2 < lim);
    EXPECT(t3 < lim);
}

/* ---- LEN16 / LEN32 ------------------------------------------------------ */

static void test_len16_messages_including_zero_length(void)
{
    pf_framer f = mk(PF_FRAME_LEN16, 100, NULL, 0, 0);
    static const unsigned char s[] = {0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'z', 0, 5, 'x'};
    pf_frame fm;
    const unsigned char *p = s;
    size_t left = sizeof(s);

    EXPECT_EQ(pf_framer_next(&f, p, left, &fm), 1);
    EXPECT_EQ(fm.offset, 2);
    EXPECT_EQ(fm.length, 3);
    EXPECT_EQ(fm.consumed, 5);
    p += fm.consumed, left -= fm.consumed;
    EXPECT_EQ(pf_framer_next(&f, p, left, &fm), 1);
    EXPECT_EQ(fm.length, 0);
    EXPECT_EQ(fm.consumed, 2);
    p += fm.consumed, left -= fm.consumed;
    EXPECT_EQ(pf_framer_next(&f, p, left, &fm), 1);
    EXPECT_EQ(fm.length, 1);
    EXPECT_EQ(p[fm.offset], 'z');
    p += fm.consumed, left -= fm.consumed;
    EXPECT_EQ(pf_framer_next(&f, p, left, &fm), 0);
    EXPECT_EQ(pf_framer_need(&f, p, left), 7);
    EXPECT_EQ(pf_framer_next(&f, p, 1, &fm), 0);
    EXPECT_EQ(pf_framer_need(&f, p, 1), 2);
}

static void test_len_header_at_max_ok_plus_one_fails_at_header(void)
{
    unsigned char s[4 + 301];
    pf_frame fm;
    pf_framer f;

    memset(s, 'p', sizeof(s));
    f = mk(PF_FRAME_LEN16, 300, NULL, 0, 0);
    s[0] = 300 >> 8, s[1] = 300 & 0xff;
    EXPECT_EQ(pf_framer_next(&f, s, 2 + 299, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, s, 2 + 300, &fm), 1);
    EXPECT_EQ(fm.length, 300);
    f = mk(PF_FRAME_LEN16, 300, NULL, 0, 0);
    s[0] = 301 >> 8, s[1] = 301 & 0xff;
    EXPECT_EQ(pf_framer_next(&f, s, 1, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, s, 2, &fm), -EMSGSIZE); /* header alone */

    f = mk(PF_FRAME_LEN32, 300, NULL, 0, 0);
    s[0] = 0, s[1] = 0, s[2] = 300 >> 8, s[3] = 300 & 0xff;
    EXPECT_EQ(pf_framer_next(&f, s, 4 + 300, &fm), 1);
    EXPECT_EQ(fm.offset, 4);
    EXPECT_EQ(fm.length, 300);
    f = mk(PF_FRAME_LEN32, 300, NULL, 0, 0);
    s[2] = 301 >> 8, s[3] = 301 & 0xff;
    EXPECT_EQ(pf_framer_next(&f, s, 3, &fm), 0);
    EXPECT_EQ(pf_framer_next(&f, s, 4, &fm), -EMSGSIZE);

    /* LEN16 with max above 65535: the header is the only bound */
    f = mk(PF_FRAME_LEN16, 1u << 20, NULL, 0, 0);
    s[0] = 0xff, s[1] = 0xff;
    EXPECT_EQ(pf_framer_next(&f, s, 2, &fm), 0);
    EXPECT_EQ(pf_framer_need(&f, s, 2), 2 + 65535);
}

static void test_len32_0xffffffff(void)
{
    static const unsigned char s[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    pf_frame fm;
    pf_framer f = mk(PF_FRAME_LEN32, PF_FRAME_DEFAULT_MAX, NULL, 0, 0);

    EXPECT_EQ(pf_framer_next(&f, s, sizeof(s), &fm), -EMSGSIZE);
#if SIZE_MAX > 0xFFFFFFFFu
    f = mk(PF_FRAME_LEN32, 0xFFFFFFFFu, NULL, 0, 0);
    EXPECT_EQ(pf_framer_next(&f, s, sizeof(s), &fm), 0);
    EXPECT_EQ(pf_framer_need(&f, s, sizeof(s)), (size_t)4 + 0xFFFFFFFFu);
    f = mk(PF_FRAME_LEN32, 0xFFFFFFFEu, NULL, 0, 0);
    EXPECT_EQ(pf_framer_next(&f, s, 4, &fm), -EMSGSIZE);
#endif
}

/* ---- FIXED / RAW -------------------------------------------------------- */

static void test_fixed_size_messages(void)
{
    pf_framer f = mk(PF_FRAME_FIXED, 0, NULL, 0, 3);
    const unsigned char *t;
    unsigned char hdr[PF_FRAME_HDR_MAX];

    EXPECT_FRAMES(f, "abcdefg", "abc|def|#0");
    f = mk(PF_FRAME_FIXED, 0, NULL, 0, 1);
    EXPECT_FRAMES(f, "xy", "x|y|#0");
    EXPECT_EQ(pf_framer_need(&f, U("ab"), 2), 0);
    f = mk(PF_FRAME_FIXED, 0, NULL, 0, 3);
    EXPECT_EQ(pf_framer_need(&f, U("ab"), 2), 3);
    EXPECT_EQ(pf_framer_trailer(&f, &t), 0);
    EXPECT(t == NULL);
    EXPECT_EQ(pf_frame_header(PF_FRAME_FIXED, 3, hdr), 0);
}

static void test_raw_chunks_capped_at_max(void)
{
    pf_framer f = mk(PF_FRAME_RAW, 4, NULL, 0, 0);
    pf_frame fm;

    EXPECT_FRAMES(f, "abcdefghij", "abcd|efgh|ij|#0");
    EXPECT_EQ(pf_framer_next(&f, NULL, 0, &fm), 0);
    EXPECT_EQ(pf_framer_need(&f, NULL, 0), 1);
}

/* ---- all modes ---------------------------------------------------------- */

static void test_error_state_is_sticky_until_reset(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 3, NULL, 0, 0);
    pf_frame fm[4];
    size_t used = 99;

    EXPECT_EQ(pf_framer_next(&f, U("abcdef"), 6, &fm[0]), -EMSGSIZE);
    EXPECT_EQ(pf_framer_next(&f, U("a\n"), 2, &fm[0]), -EMSGSIZE);
    EXPECT_EQ(fm[0].consumed, 0);
    EXPECT_EQ(pf_framer_next_batch(&f, U("a\n"), 2, fm, 4, &used), -EMSGSIZE);
    EXPECT_EQ(used, 0);
    EXPECT_EQ(pf_framer_need(&f, U("a"), 1), 0);
    pf_framer_reset(&f);
    EXPECT_EQ(pf_framer_next(&f, U("a\n"), 2, &fm[0]), 1);

    f = mk(PF_FRAME_LEN16, 3, NULL, 0, 0);
    EXPECT_EQ(pf_framer_next(&f, U("\x00\x04"), 2, &fm[0]), -EMSGSIZE);
    EXPECT_EQ(pf_framer_next(&f, U("\x00\x01z"), 3, &fm[0]), -EMSGSIZE);
}

#define S(lit) lit, sizeof(lit) - 1 /* a literal and its length (may hold NULs) */

static void test_byte_at_a_time_equals_whole_buffer_all_modes(void)
{
    static const struct {
        pf_frame_mode mode;
        size_t max;
        const char *delim;
        int keep;
        size_t fixed;
        const char *stream;
        size_t len;
    } cases[] = {
        {PF_FRAME_LINE, 8, NULL, 0, 0, S("a\nbb\n\nccc\ndddddddd\nx")},
        {PF_FRAME_LINE, 8, NULL, 0, 0, S("a\nbb\nddddddddd\n")},
        {PF_FRAME_LINE, 8, "\r\n", 0, 0, S("a\r\nb\rb\r\n\r\n\r\r\r\n\n\r\nz\r")},
        {PF_FRAME_LINE, 8, "\r\n", 1, 0, S("a\r\nb\rb\r\n\r\n\r\r\r\n\n\r\n")},
        {PF_FRAME_LINE, 3, "\r\n", 0, 0, S("abc\r\nabc\r\r\n")},
        {PF_FRAME_LINE, 20, "abcabd", 0, 0, S("xabcabcabdyabcababcabdabcabd")},
        {PF_FRAME_LEN16, 10, NULL, 0, 0, S("\x00\x02" "hi" "\x00\x00" "\x00\x0a" "0123456789" "\x00\x01")},
        {PF_FRAME_LEN16, 10, NULL, 0, 0, S("\x00\x02" "hi" "\x00\x0b" "0123456789a")},
        {PF_FRAME_LEN32, 10, NULL, 0, 0, S("\x00\x00\x00\x02" "hi" "\x00\x00\x00\x00" "\x00\x00\x00\x01" "z" "\x00")},
        {PF_FRAME_FIXED, 0, NULL, 0, 4, S("0123456789abcdefg")},
    };
    size_t i, step;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len;
        char whole[1024], part[1024];
        pf_framer f = mk(cases[i].mode, cases[i].max, cases[i].delim,
                         cases[i].keep, cases[i].fixed);
        frame_all(&f, U(cases[i].stream), len, whole, sizeof(whole), NULL);
        for (step = 0; step <= 3; step++) { /* 0: random steps */
            f = mk(cases[i].mode, cases[i].max, cases[i].delim, cases[i].keep,
                   cases[i].fixed);
            frame_steps(&f, U(cases[i].stream), len, step, part, sizeof(part));
            if (strcmp(whole, part) != 0) {
                fprintf(stderr, "  case %zu step %zu: whole \"%s\" != split \"%s\"\n",
                        i, step, whole, part);
                g_fail_here++;
            }
        }
    }
    /* RAW: chunks differ, their concatenation does not */
    {
        pf_framer f = mk(PF_FRAME_RAW, 3, NULL, 0, 0);
        char part[256];
        frame_steps(&f, U("abcdefgh"), 8, 1, part, sizeof(part));
        EXPECT(strcmp(part, "a|b|c|d|e|f|g|h|#0") == 0);
    }
}

static void test_batch_returns_frames_then_error_next_call(void)
{
    pf_framer f = mk(PF_FRAME_LINE, 3, NULL, 0, 0);
    const unsigned char *s = U("a\nbc\n\nabcdef");
    pf_frame fm[8];
    size_t used = 0;
    int n;

    n = pf_framer_next_batch(&f, s, 12, fm, 2, &used);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(fm[0].offset, 0);
    EXPECT_EQ(fm[0].length, 1);
    EXPECT_EQ(fm[1].offset, 2); /* relative to buf, not to frame 0 */
    EXPECT_EQ(fm[1].length, 2);
    EXPECT_EQ(used, 5);
    n = pf_framer_next_batch(&f, s + used, 12 - used, fm, 8, &used);
    EXPECT_EQ(n, 1); /* the empty line; the overlong one is next */
    EXPECT_EQ(fm[0].length, 0);
    EXPECT_EQ(used, 1);
    n = pf_framer_next_batch(&f, s + 6, 6, fm, 8, &used);
    EXPECT_EQ(n, -EMSGSIZE);
    EXPECT_EQ(pf_framer_next_batch(&f, s, 12, fm, 0, NULL), -EMSGSIZE);

    f = mk(PF_FRAME_LEN16, 100, NULL, 0, 0);
    n = pf_framer_next_batch(&f, U("\x00\x01" "a\x00\x00\x00\x02" "bc\x00"), 10, fm, 8, &used);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(fm[1].offset, 5);
    EXPECT_EQ(fm[1].length, 0);
    EXPECT_EQ(fm[2].offset, 7);
    EXPECT_EQ(fm[2].length, 2);
    EXPECT_EQ(used, 9);
    EXPECT_EQ(pf_framer_next_batch(&f, U("x"), 1, fm, 0, &used), 0);
    EXPECT_EQ(used, 0);
}

static void test_max_pending_bounds_the_read_buffer(void)
{
    pf_framer f;

    f = mk(PF_FRAME_LINE, 100, "\r\n", 0, 0);
    EXPECT_EQ(pf_framer_max_pending(&f), 102);
    f = mk(PF_FRAME_LEN16, 1u << 20, NULL, 0, 0);
    EXPECT_EQ(pf_framer_max_pending(&f), 2 + 65535);
    f = mk(PF_FRAME_LEN16, 10, NULL, 0, 0);
    EXPECT_EQ(pf_framer_max_pending(&f), 12);
#if SIZE_MAX > 0xFFFFFFFFu
    f = mk(PF_FRAME_LEN32, PF_FRAME_LIMIT_MAX, NULL, 0, 0);
    EXPECT_EQ(pf_framer_max_pending(&f), (size_t)4 + 0xFFFFFFFFu);
#endif
    f = mk(PF_FRAME_FIXED, 0, NULL, 0, 7);
    EXPECT_EQ(pf_framer_max_pending(&f), 7);
    f = mk(PF_FRAME_RAW, 10, NULL, 0, 0);
    EXPECT_EQ(pf_framer_max_pending(&f), 1);
}

/* ---- output side -------------------------------------------------------- */

static void test_header_and_trailer_for_replies(void)
{
    unsigned char h[PF_FRAME_HDR_MAX];
    const unsigned char *t;
    pf_framer f;

    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN16, 0, h), 2);
    EXPECT(h[0] == 0 && h[1] == 0);
    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN16, 65535, h), 2);
    EXPECT(h[0] == 0xff && h[1] == 0xff);
    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN16, 65536, h), -EMSGSIZE);
    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN32, 0x01020304u, h), 4);
    EXPECT(h[0] == 1 && h[1] == 2 && h[2] == 3 && h[3] == 4);
#if SIZE_MAX > 0xFFFFFFFFu
    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN32, 0xFFFFFFFFu, h), 4);
    EXPECT_EQ(pf_frame_header(PF_FRAME_LEN32, (size_t)0xFFFFFFFFu + 1, h), -EMSGSIZE);
#endif
    EXPECT_EQ(pf_frame_header(PF_FRAME_LINE, 5, h), 0);
    EXPECT_EQ(pf_frame_header(PF_FRAME_RAW, 5, h), 0);
    EXPECT_EQ(pf_frame_header((pf_frame_mode)42, 5, h), -EINVAL);

    f = mk(PF_FRAME_LINE, 10, "\r\n", 0, 0);
    EXPECT_EQ(pf_framer_trailer(&f, &t), 2);
    EXPECT(memcmp(t, "\r\n", 2) == 0);
    f = mk(PF_FRAME_LEN32, 10, NULL, 0, 0);
    EXPECT_EQ(pf_framer_trailer(&f, &t), 0);
}

static void test_invalid_options_rejected(void)
{
    pf_frame_opts o;
    pf_framer f;
    pf_frame fm;
    const unsigned char *t;

    pf_frame_opts_init(&o, PF_FRAME_LINE);
    o.delim_len = 0;
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL);
    EXPECT_EQ(pf_framer_next(&f, U("a\n"), 2, &fm), -EINVAL);
    EXPECT_EQ(pf_framer_trailer(&f, &t), 0);
    pf_framer_reset(&f);
    EXPECT_EQ(pf_framer_next(&f, U("a\n"), 2, &fm), -EINVAL);
    o.delim_len = 9;
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL);
    o.delim_len = 8;
    EXPECT_EQ(pf_framer_init(&f, &o), 0);
    o.max_size = PF_FRAME_LIMIT_MAX + 1;
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL);

    pf_frame_opts_init(&o, PF_FRAME_FIXED);
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL); /* fixed_size 0 */
    o.fixed_size = 1;
    EXPECT_EQ(pf_framer_init(&f, &o), 0);
    pf_frame_opts_init(&o, PF_FRAME_RAW);
    o.max_size = 0;
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL);
    pf_frame_opts_init(&o, PF_FRAME_LEN16);
    o.max_size = 0; /* only empty messages: allowed */
    EXPECT_EQ(pf_framer_init(&f, &o), 0);
    pf_frame_opts_init(&o, (pf_frame_mode)7);
    EXPECT_EQ(pf_framer_init(&f, &o), -EINVAL);
}

/* ---- pf_buf ------------------------------------------------------------- */

static void test_buf_prepend_puts_bytes_back_in_front_in_order(void)
{
    pf_buf b;

    pf_buf_init(&b, 64);
    EXPECT_EQ(pf_buf_prepend(&b, "tail", 4), 0); /* empty, unallocated */
    EXPECT_EQ(pf_buf_len(&b), 4);
    EXPECT_EQ(pf_buf_prepend(&b, "mid-", 4), 0); /* start 0: data moves */
    EXPECT(memcmp(pf_buf_data(&b), "mid-tail", 8) == 0);
    pf_buf_consume(&b, 4);
    EXPECT_EQ(pf_buf_prepend(&b, "MID-", 4), 0); /* room before start: O(1) */
    EXPECT_EQ(b.start, 0);
    EXPECT(memcmp(pf_buf_data(&b), "MID-tail", 8) == 0);
    pf_buf_consume(&b, 2);
    EXPECT_EQ(pf_buf_prepend(&b, "head+", 5), 0); /* 2 bytes before: moves */
    EXPECT_EQ(pf_buf_len(&b), 11);
    EXPECT(memcmp(pf_buf_data(&b), "head+D-tail", 11) == 0);
    EXPECT_EQ(pf_buf_prepend(&b, "", 0), 0);
    /* the framer sees the same messages as before they were put back */
    {
        pf_framer f;
        pf_frame_opts o;
        pf_frame fr;
        pf_frame_opts_init(&o, PF_FRAME_LINE);
        EXPECT_EQ(pf_framer_init(&f, &o), 0);
        EXPECT_EQ(pf_buf_append(&b, "\n", 1), 0);
        EXPECT_EQ(pf_buf_prepend(&b, "one\n", 4), 0);
        EXPECT_EQ(pf_framer_next(&f, pf_buf_data(&b), pf_buf_len(&b), &fr), 1);
        EXPECT_EQ(fr.length, 3);
        pf_buf_consume(&b, fr.consumed);
        EXPECT_EQ(pf_framer_next(&f, pf_buf_data(&b), pf_buf_len(&b), &fr), 1);
        EXPECT_EQ(fr.length, 11);
        EXPECT(memcmp(pf_buf_data(&b) + fr.offset, "head+D-tail", 11) == 0);
    }
    pf_buf_consume(&b, pf_buf_len(&b));
    EXPECT_EQ(pf_buf_append(&b, "x", 1), 0);
    {
        unsigned char big[64];
        memset(big, 'b', sizeof(big));
        EXPECT_EQ(pf_buf_prepend(&b, big, 64), -ENOBUFS); /* over max */
        EXPECT_EQ(pf_buf_len(&b), 1);
        EXPECT_EQ(pf_buf_prepend(&b, big, 63), 0);
        EXPECT_EQ(pf_buf_len(&b), 64);
        EXPECT_EQ(pf_buf_data(&b)[63], 'x');
    }
    pf_buf_free(&b);
}

int main(void)
{
    RUN(test_line_lf_messages_and_pending_tail);
    RUN(test_line_crlf_split_across_reads);
    RUN(test_line_crlf_lone_cr_and_lf_are_data);
    RUN(test_line_keep_delim);
    RUN(test_line_self_overlapping_delimiter);
    RUN(test_line_8_byte_delimiter_split_at_every_point);
    RUN(test_line_max_exactly_at_limit_ok_one_over_fails);
    RUN(test_line_endless_stream_detected_at_limit_with_bounded_buffer);
    RUN(test_line_1mb_byte_at_a_time_is_linear);
    RUN(test_len16_messages_including_zero_length);
    RUN(test_len_header_at_max_ok_plus_one_fails_at_header);
    RUN(test_len32_0xffffffff);
    RUN(test_fixed_size_messages);
    RUN(test_raw_chunks_capped_at_max);
    RUN(test_error_state_is_sticky_until_reset);
    RUN(test_byte_at_a_time_equals_whole_buffer_all_modes);
    RUN(test_batch_returns_frames_then_error_next_call);
    RUN(test_max_pending_bounds_the_read_buffer);
    RUN(test_header_and_trailer_for_replies);
    RUN(test_invalid_options_rejected);
    RUN(test_buf_prepend_puts_bytes_back_in_front_in_order);
    return pf_test_report();
}
