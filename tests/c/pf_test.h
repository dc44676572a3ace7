/* pf_test.h: the C unit tests' harness (tests/c/test_*.c), one per test
 * program.  EXPECT(cond) / EXPECT_EQ(a, b) report a failed check with its
 * line and let the test go on; RUN(fn) runs one test and prints "ok" or
 * "FAIL" for it; pf_test_report() prints "N passed, N failed" (tests) and
 * is main's exit status.  PF_TEST_TIME_SCALE=k: time_scale() == k, for
 * slow runs (valgrind, sanitizers). */
#ifndef PF_TEST_H
#define PF_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int g_fail_here;
static int g_passed, g_failed;

#define EXPECT(c)                                                            \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "  %s:%d: EXPECT(%s)\n", __FILE__, __LINE__, #c); \
            g_fail_here++;                                                   \
        }                                                                    \
    } while (0)

#define EXPECT_EQ(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) {                                                       \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_);                      \
            g_fail_here++;                                                    \
        }                                                                     \
    } while (0)

static inline void run(const char *name, void (*fn)(void))
{
    g_fail_here = 0;
    fn();
    if (g_fail_here) {
        fprintf(stderr, "FAIL %s\n", name);
        g_failed++;
    } else {
        printf("ok   %s\n", name);
        g_passed++;
    }
}
#define RUN(fn) run(#fn, fn)

static inline double time_scale(void)
{
    const char *s = getenv("PF_TEST_TIME_SCALE");
    return s ? atof(s) : 1.0;
}

static inline int pf_test_report(void)
{
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

#endif
