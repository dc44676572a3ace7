/* Unit tests for the reply queue of csrc/pf_dgram.c (pf_dgram_outq).
 * Built and run by tests/test_dgram_c.py, as tests/c/test_frame.c.
 * Loopback UDP only.  Prints "N passed, N failed"; exit status 1 if any
 * failed. */
#include "pf_dgram.h"
#include "pf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp_socket(struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)bound, &len) < 0) {
        perror("udp socket");
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void test_queue_sends_in_order_and_reports_a_refused_datagram(void)
{
    struct sockaddr_in srv_addr, peer, nowhere;
    int srv = udp_socket(&srv_addr), cli = udp_socket(&peer);
    pf_dgram_outq q;
    char buf[64];

    EXPECT_EQ(pf_dgram_outq_init(&q, 4, 16), 0);
    nowhere = peer;
    nowhere.sin_port = 0; /* sendto(2): EINVAL */
    EXPECT_EQ(pf_dgram_outq_add(&q, "one", 3, (struct sockaddr *)&peer, sizeof peer), 0);
    EXPECT_EQ(pf_dgram_outq_add(&q, "bad", 3, (struct sockaddr *)&nowhere, sizeof nowhere), 0);
    EXPECT_EQ(pf_dgram_outq_add(&q, "three", 5, (struct sockaddr *)&peer, sizeof peer), 0);
    /* 11 of 16 bytes used: a 6-byte datagram does not fit, a 17-byte one never */
    EXPECT_EQ(pf_dgram_outq_add(&q, "fourth", 6, (struct sockaddr *)&peer, sizeof peer), -ENOBUFS);
    EXPECT_EQ(pf_dgram_outq_add(&q, "xxxxxxxxxxxxxxxxx", 17, (struct sockaddr *)&peer,
                                sizeof peer), -EMSGSIZE);

    EXPECT_EQ(pf_dgram_outq_send(&q, srv, MSG_DONTWAIT), -EINVAL);
    EXPECT_EQ(q.sent, 1);
    EXPECT_EQ(pf_dgram_outq_len(&q, q.sent), 3);
    EXPECT_EQ(ntohs(((const struct sockaddr_in *)pf_dgram_outq_addr(&q, q.sent))->sin_port), 0);
    pf_dgram_outq_skip(&q);
    EXPECT_EQ(pf_dgram_outq_send(&q, srv, MSG_DONTWAIT), 0);
    EXPECT_EQ(q.n, 0);
    EXPECT_EQ(q.sent, 0);

    EXPECT_EQ(recv(cli, buf, sizeof buf, 0), 3);
    EXPECT_EQ(memcmp(buf, "one", 3), 0);
    EXPECT_EQ(recv(cli, buf, sizeof buf, 0), 5);
    EXPECT_EQ(memcmp(buf, "three", 5), 0);

    /* emptied: the whole buffer is free again */
    EXPECT_EQ(pf_dgram_outq_add(&q, "sixteen bytes!!!", 16, (struct sockaddr *)&peer,
                                sizeof peer), 0);
    EXPECT_EQ(pf_dgram_outq_send(&q, srv, 0), 0);
    EXPECT_EQ(recv(cli, buf, sizeof buf, 0), 16);

    /* a last datagram refused: skipping it empties the queue */
    EXPECT_EQ(pf_dgram_outq_add(&q, "bad", 3, (struct sockaddr *)&nowhere, sizeof nowhere), 0);
    EXPECT_EQ(pf_dgram_outq_send(&q, srv, 0), -EINVAL);
    pf_dgram_outq_skip(&q);
    EXPECT_EQ(q.n, 0);
    EXPECT_EQ(pf_dgram_outq_send(&q, -1, 0), 0); /* nothing to send: no call */

    pf_dgram_outq_free(&q);
    close(srv);
    close(cli);
}

static void test_ipv4_packing(void)
{
    struct sockaddr_in a;
    EXPECT_EQ(pf_dgram_ipv4("127.0.0.1", 8080, &a), 0);
    EXPECT_EQ(ntohl(a.sin_addr.s_addr), 0x7f000001);
    EXPECT_EQ(ntohs(a.sin_port), 8080);
    EXPECT_EQ(pf_dgram_ipv4_key(&a), (1LL << 48) | (0x7f000001LL << 16) | 8080);
    EXPECT_EQ(pf_dgram_ipv4("localhost", 1, &a), -EINVAL);
    EXPECT_EQ(pf_dgram_ipv4("::1", 1, &a), -EINVAL);
    EXPECT_EQ(pf_dgram_ipv4("1.2.3.4", 65536, &a), -EINVAL);
    EXPECT_EQ(pf_dgram_ipv4("1.2.3.4", -1, &a), -EINVAL);
}

int main(void)
{
    RUN(test_queue_sends_in_order_and_reports_a_refused_datagram);
    RUN(test_ipv4_packing);
    return pf_test_report();
}
