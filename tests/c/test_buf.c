/* Unit tests for csrc/pf_buf.c (the one byte buffer) and pf_buf_recv
 * (csrc/pf_stream.c): reserve/commit/consume/append, compaction before
 * growth, doubling growth, the hard cap (-ENOBUFS, buffer unchanged), no
 * cap for a zeroed buffer, prepend, memory given back (PF_BUF_KEEP,
 * pf_buf_shrink) and reading from a socket into one (data and FIN in one
 * segment, a reset).  Built and run by tests/test_buf_c.py (ASan + UBSan
 * when available).  Prints one line per failure and "N passed, N failed";
 * exit status 1 if any failed. */
#include "pf_buf.h"
#include "pf_stream.h"
#include "pf_test.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_buf_append_consume_compact_and_cap(void)
{
    pf_buf b;
    unsigned char big[10000];
    size_t i;

    for (i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)i;
    pf_buf_init(&b, 8192);
    EXPECT(pf_buf_data(&b) == NULL);
    EXPECT_EQ(pf_buf_len(&b), 0);
    EXPECT_EQ(pf_buf_append(&b, big, 100), 0);
    EXPECT_EQ(b.cap, PF_BUF_MIN_ALLOC);
    pf_buf_consume(&b, 40);
    EXPECT_EQ(pf_buf_len(&b), 60);
    EXPECT_EQ(pf_buf_data(&b)[0], 40);
    /* needs compaction, not growth: 60 + 4036 == 4096 */
    EXPECT_EQ(pf_buf_reserve(&b, PF_BUF_MIN_ALLOC - 60), 0);
    EXPECT_EQ(b.cap, PF_BUF_MIN_ALLOC);
    EXPECT_EQ(b.start, 0);
    EXPECT_EQ(pf_buf_data(&b)[0], 40);
    /* growth doubles, capped at max */
    EXPECT_EQ(pf_buf_append(&b, big, 5000), 0);
    EXPECT_EQ(b.cap, 8192);
    EXPECT_EQ(pf_buf_len(&b), 5060);
    EXPECT_EQ(pf_buf_append(&b, big, 8192 - 5060 + 1), -ENOBUFS);
    EXPECT_EQ(pf_buf_len(&b), 5060); /* unchanged */
    EXPECT_EQ(pf_buf_append(&b, big, 8192 - 5060), 0);
    EXPECT_EQ(pf_buf_len(&b), 8192);
    EXPECT_EQ(pf_buf_reserve(&b, 1), -ENOBUFS);
    EXPECT_EQ(pf_buf_reserve(&b, SIZE_MAX), -ENOBUFS);
    pf_buf_consume(&b, 8192);
    EXPECT_EQ(pf_buf_len(&b), 0);
    EXPECT_EQ(b.start, 0); /* rewound when empty */
    /* reserve + tail + commit (the recv() path) */
    EXPECT_EQ(pf_buf_reserve(&b, 10), 0);
    EXPECT(pf_buf_avail(&b) >= 10);
    memcpy(pf_buf_tail(&b), "0123456789", 10);
    pf_buf_commit(&b, 10);
    EXPECT_EQ(pf_buf_len(&b), 10);
    EXPECT(memcmp(pf_buf_data(&b), "0123456789", 10) == 0);
    pf_buf_shrink(&b); /* not empty: keeps memory */
    EXPECT(b.data != NULL);
    pf_buf_consume(&b, 10);
    pf_buf_shrink(&b);
    EXPECT(b.data == NULL && b.cap == 0);
    EXPECT_EQ(pf_buf_append(&b, "x", 1), 0);
    pf_buf_free(&b);
    EXPECT(b.data == NULL);

    pf_buf_init(&b, 100); /* max below PF_BUF_MIN_ALLOC */
    EXPECT_EQ(pf_buf_append(&b, big, 100), 0);
    EXPECT_EQ(b.cap, 100);
    EXPECT_EQ(pf_buf_append(&b, big, 1), -ENOBUFS);
    pf_buf_free(&b);
}

static void test_zeroed_buf_has_no_cap_and_grows_by_doubling(void)
{
    pf_buf b;
    memset(&b, 0, sizeof b); /* as a Cython cdef class field starts */
    unsigned char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    size_t reallocs = 0, last_cap = 0;
    /* 3 MiB in 1000-byte appends: amortised, ~log2(3 MiB / 4 KiB) growths */
    for (int i = 0; i < 3 * 1024 * 1024 / 1000; i++) {
        EXPECT_EQ(pf_buf_append(&b, chunk, sizeof chunk), 0);
        if (b.cap != last_cap) {
            EXPECT(last_cap == 0 ? b.cap == PF_BUF_MIN_ALLOC : b.cap == 2 * last_cap);
            last_cap = b.cap;
            reallocs++;
        }
    }
    EXPECT(reallocs <= 12);
    EXPECT(b.cap > PF_BUF_KEEP);
    /* consuming to empty gives back what the long message grew */
    pf_buf_consume(&b, pf_buf_len(&b) - 10);
    EXPECT(b.data != NULL); /* not empty yet */
    pf_buf_consume(&b, 10);
    EXPECT(b.data == NULL && b.cap == 0 && pf_buf_len(&b) == 0);
    /* a small allocation is kept for the next message */
    EXPECT_EQ(pf_buf_append(&b, chunk, 10), 0);
    pf_buf_consume(&b, 10);
    EXPECT(b.data != NULL);
    EXPECT_EQ(b.cap, PF_BUF_MIN_ALLOC);
    EXPECT_EQ(b.start, 0);
    /* init with max 0 is the same: no cap */
    pf_buf_free(&b);
    pf_buf_init(&b, 0);
    EXPECT_EQ(pf_buf_reserve(&b, (size_t)64 << 20), 0);
    EXPECT(b.cap >= (size_t)64 << 20);
    EXPECT_EQ(pf_buf_append(&b, "x", 1), 0);
    EXPECT_EQ(pf_buf_reserve(&b, SIZE_MAX), -ENOBUFS); /* len + n would overflow */
    EXPECT_EQ(pf_buf_len(&b), 1);
    pf_buf_free(&b);
}

static void test_reserve_over_cap_leaves_buffer_unchanged(void)
{
    pf_buf b;
    pf_buf_init(&b, 5000);
    EXPECT_EQ(pf_buf_append(&b, "hello", 5), 0);
    pf_buf_consume(&b, 2);
    unsigned char *data = b.data;
    size_t start = b.start, end = b.end, cap = b.cap;
    EXPECT_EQ(pf_buf_reserve(&b, 4998), -ENOBUFS); /* 3 + 4998 > 5000 */
    EXPECT(b.data == data && b.start == start && b.end == end && b.cap == cap);
    EXPECT_EQ(pf_buf_prepend(&b, "x", 4998) , -ENOBUFS);
    EXPECT(memcmp(pf_buf_data(&b), "llo", 3) == 0);
    EXPECT_EQ(pf_buf_reserve(&b, 4997), 0);     /* exactly at the cap */
    EXPECT_EQ(b.cap, 5000);
    EXPECT(memcmp(pf_buf_data(&b), "llo", 3) == 0);
    pf_buf_free(&b);
}

static void socket_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
}

static void test_recv_reads_into_free_space_then_eof(void)
{
    pf_buf b;
    int sv[2];
    memset(&b, 0, sizeof b);
    socket_pair(sv);
    /* data and FIN together: the bytes, then 0 */
    EXPECT_EQ(write(sv[1], "abc\ndef", 7), 7);
    shutdown(sv[1], SHUT_WR);
    EXPECT_EQ(pf_buf_append(&b, "xy", 2), 0);
    EXPECT_EQ(pf_buf_recv(&b, sv[0], 16, 0), 7);
    EXPECT_EQ(pf_buf_len(&b), 9);
    EXPECT(memcmp(pf_buf_data(&b), "xyabc\ndef", 9) == 0);
    EXPECT_EQ(pf_buf_recv(&b, sv[0], 16, 0), 0);
    EXPECT_EQ(pf_buf_len(&b), 9);
    close(sv[0]);
    close(sv[1]);
    /* nothing there on a non-blocking read: -EAGAIN, buffer unchanged */
    socket_pair(sv);
    EXPECT_EQ(pf_buf_recv(&b, sv[0], 16, MSG_DONTWAIT), -EAGAIN);
    EXPECT_EQ(pf_buf_len(&b), 9);
    /* a capped buffer that cannot take want bytes: -ENOBUFS, nothing read */
    pf_buf c;
    pf_buf_init(&c, 8);
    EXPECT_EQ(write(sv[1], "z", 1), 1);
    EXPECT_EQ(pf_buf_recv(&c, sv[0], 9, MSG_DONTWAIT), -ENOBUFS);
    EXPECT_EQ(pf_buf_recv(&c, sv[0], 8, MSG_DONTWAIT), 1);
    EXPECT_EQ(pf_buf_data(&c)[0], 'z');
    pf_buf_free(&c);
    close(sv[0]);
    close(sv[1]);
    pf_buf_free(&b);
}

/* A TCP loopback connection: *srv accepted, *cli connected. */
static void tcp_pair(int *srv, int *cli)
{
    int port, lfd = pf_test_listen(&port);
    *cli = pf_test_client(port, 0);
    *srv = accept(lfd, NULL, NULL); /* connect() returned: it is queued */
    if (*srv < 0) {
        perror("accept");
        exit(2);
    }
    close(lfd);
}

static void test_recv_reports_reset_mid_message(void)
{
    pf_buf b;
    int srv, cli;
    struct linger lg = {1, 0};
    memset(&b, 0, sizeof b);
    tcp_pair(&srv, &cli);
    EXPECT_EQ(write(cli, "partial", 7), 7);
    setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(cli); /* RST */
    usleep(20000);
    ssize_t n;
    int reads = 0;
    while ((n = pf_buf_recv(&b, srv, 16, 0)) > 0 && ++reads < 10)
        ;
    EXPECT_EQ(n, -ECONNRESET);
    EXPECT(pf_buf_len(&b) <= 7);
    EXPECT(memcmp(pf_buf_data(&b) ? (const char *)pf_buf_data(&b) : "", "partial", pf_buf_len(&b)) == 0);
    EXPECT_EQ(pf_buf_recv(&b, -1, 16, 0), -EBADF);
    close(srv);
    pf_buf_free(&b);
}

int main(void)
{
    RUN(test_buf_append_consume_compact_and_cap);
    RUN(test_zeroed_buf_has_no_cap_and_grows_by_doubling);
    RUN(test_reserve_over_cap_leaves_buffer_unchanged);
    RUN(test_recv_reads_into_free_space_then_eof);
    RUN(test_recv_reports_reset_mid_message);
    return pf_test_report();
}
