/* pf_test.h: the C unit tests' harness (tests/c/test_*.c), one per test
 * program.  EXPECT(cond) / EXPECT_EQ(a, b) report a failed check with its
 * line and let the test go on; RUN(fn) runs one test and prints "ok" or
 * "FAIL" for it; pf_test_report() prints "N passed, N failed" (tests) and
 * is main's exit status.  PF_TEST_TIME_SCALE=k: time_scale() == k, for
 * slow runs (valgrind, sanitizers).  pf_test_listen / pf_test_client: a
 * loopback TCP listener and a client of it (exit 2 if they fail). */
#ifndef PF_TEST_H
#define PF_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

/* A listening loopback socket (non-blocking) and its port. */
static inline int pf_test_listen(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("listen socket");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A client connected to port; rcvbuf > 0 sets SO_RCVBUF first. */
static inline int pf_test_client(int port, int rcvbuf)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("client");
        exit(2);
    }
    return fd;
}

#endif
