/* Unit tests for csrc/pf_msgloop.c: backpressure between the messages of a
 * batch (pf_msgloop_take), the per-message deadline (message_ms), and the
 * inbox of its pf_loop (the caller's items handed back as INBOX events,
 * connections handed from an acceptor to a peer loop), and admission by a
 * workers' board (pf_board.h) between two loops on one listening socket.
 * Built and run by tests/test_message_faults.py, as tests/c/test_frame.c
 * (ASan + UBSan when available).  Loopback TCP only.  Prints one line per
 * failure and "N passed, N failed"; exit status 1 if any failed.
 * PF_TEST_TIME_SCALE=k multiplies the time limits. */
#include "pf_common.h"
#include "pf_msgloop.h"
#include "pf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int64_t scaled(int64_t ms) { return (int64_t)(ms * time_scale()); }

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) {
            perror("write");
            exit(2);
        }
        p += k;
        n -= (size_t)k;
    }
}

/* Bytes readable now on fd, all read and dropped. */
static size_t drain(int fd)
{
    char buf[65536];
    size_t total = 0;
    ssize_t k;
    while ((k = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        total += (size_t)k;
    return total;
}

#define NMSG 100
#define REPLY 3000
#define HIGH 4096

/* What a test's handler saw. */
typedef struct {
    pf_mconn *conn[2];
    int nconns, closes, close_err[2];
    int handled[NMSG * 2], nhandled;
    int deferred;              /* pf_msgloop_take said "not now" */
    size_t max_queued;         /* most output queued after a reply */
    pf_loop_msg inbox[1024];   /* INBOX events' items, in order */
    int ninbox, inbox_bad;     /* ... how many; INBOX events with a conn */
} seen;

/* One poll and its events, as the Cython layer handles them: every MSG
 * through pf_msgloop_take, and a REPLY-byte reply to those it takes. */
static int cycle(pf_msgloop *l, seen *s, int timeout_ms)
{
    static char reply[REPLY];
    int n = pf_msgloop_poll(l, timeout_ms);
    if (n < 0)
        return n;
    memset(reply, 'r', sizeof reply);
    for (int i = 0; i < n; i++) {
        pf_mevent *e = &l->ev[i];
        if (e->type == PF_MEV_OPEN) {
            if (s->nconns < 2)
                s->conn[s->nconns++] = e->conn;
        } else if (e->type == PF_MEV_CLOSE) {
            if (s->closes < 2)
                s->close_err[s->closes] = e->err;
            s->closes++;
        } else if (e->type == PF_MEV_INBOX) {
            if (e->conn != NULL)
                s->inbox_bad++;
            if (s->ninbox < 1024)
                s->inbox[s->ninbox++] = e->msg;
        } else if (!pf_msgloop_take(l, e, 0)) {
            s->deferred += pf_mconn_active(e->conn);
        } else {
            struct iovec iov = {reply, sizeof reply};
            if (s->nhandled < NMSG * 2)
                s->handled[s->nhandled++] = atoi((const char *)e->data);
            e->conn->cork = e->more;
            pf_msgloop_send(l, e->conn, &iov, 1);
            if (pf_mconn_queued(e->conn) > s->max_queued)
                s->max_queued = pf_mconn_queued(e->conn);
        }
    }
    return n;
}

/* NMSG numbered lines, pipelined by a client that does not read; split:
 * the first byte goes alone first (the batch is then framed from the
 * connection's own buffer, not from the loop's arena). */
static void pipelined_requests_with_a_non_reader(int split)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    seen s;
    char req[NMSG * 4];
    size_t len = 0, got = 0;
    int port, lfd = pf_test_listen(&port), sndbuf = 4096;

    /* small socket buffers (accepted sockets inherit the listener's), so
     * that the kernel takes only a few replies */
    setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    o.high_water = HIGH;
    o.low_water = HIGH / 4;
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    int c = pf_test_client(port, 4096);
    for (int i = 0; i < NMSG; i++)
        len += (size_t)sprintf(req + len, "%d\n", i);
    int64_t end = pf_now_ms() + scaled(5000);
    while (s.nconns == 0 && pf_now_ms() < end)
        cycle(&l, &s, 10);
    if (split) {
        write_all(c, req, 1);
        for (int i = 0; i < 5; i++)
            cycle(&l, &s, 10);
        write_all(c, req + 1, len - 1);
    } else {
        write_all(c, req, len);
    }
    /* The client reads nothing: the loop stops handing out messages. */
    for (int i = 0; i < 50 && pf_now_ms() < end; i++)
        cycle(&l, &s, 10);
    EXPECT(s.deferred > 0);
    EXPECT(s.nhandled < NMSG);
    EXPECT(s.max_queued <= HIGH + REPLY);
    /* The client reads: every message is handled once, in order. */
    while ((s.nhandled < NMSG || got < (size_t)NMSG * REPLY) && pf_now_ms() < end) {
        cycle(&l, &s, 5);
        got += drain(c);
    }
    EXPECT_EQ(s.nhandled, NMSG);
    for (int i = 0; i < s.nhandled && i < NMSG; i++)
        EXPECT_EQ(s.handled[i], i);
    EXPECT_EQ(got, (size_t)NMSG * REPLY);
    EXPECT(s.max_queued <= HIGH + REPLY);
    EXPECT_EQ(s.closes, 0);
    close(c);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
    close(lfd);
}

static void test_take_defers_the_rest_of_a_batch_framed_in_the_arena(void)
{
    pipelined_requests_with_a_non_reader(0);
}

static void test_take_defers_the_rest_of_a_batch_framed_in_the_conn_buffer(void)
{
    pipelined_requests_with_a_non_reader(1);
}

static void test_message_deadline_closes_a_trickler_not_a_slow_sender(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    seen s;
    int port, lfd = pf_test_listen(&port);
    const int64_t ms = scaled(150);

    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    o.message_ms = (int)ms;
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    int trickler = pf_test_client(port, 0), slow = pf_test_client(port, 0);
    int64_t end = pf_now_ms() + scaled(5000);
    while (s.nconns < 2 && pf_now_ms() < end)
        cycle(&l, &s, 10);
    int64_t t0 = pf_now_ms(), closed_at = 0, next = t0;
    int sent = 0;
    /* The trickler sends a byte per ms/3 of a line it never ends; the slow
     * sender one "N\n" a byte at a time, each line within ms/2. */
    while (pf_now_ms() < t0 + 4 * ms && pf_now_ms() < end) {
        if (pf_now_ms() >= next) {
            send(trickler, "x", 1, MSG_NOSIGNAL);
            send(slow, sent % 2 ? "\n" : "7", 1, MSG_NOSIGNAL);
            sent++;
            next += ms / 3;
        }
        cycle(&l, &s, 5);
        if (s.closes && !closed_at)
            closed_at = pf_now_ms();
        drain(slow);
    }
    EXPECT_EQ(s.closes, 1);
    EXPECT_EQ(s.close_err[0], PF_MCLOSE_MESSAGE);
    EXPECT(closed_at - t0 >= ms - 5);
    EXPECT(closed_at - t0 <= 3 * ms);
    EXPECT_EQ(l.message_timeouts, 1);
    EXPECT(s.nhandled >= 4);          /* the slow sender's lines */
    close(trickler);
    close(slow);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
    close(lfd);
}

static void test_message_deadline_off_by_default_and_not_for_idle_conns(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    seen s;
    int port, lfd = pf_test_listen(&port);

    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    EXPECT_EQ(o.message_ms, 0);
    o.message_ms = (int)scaled(50);
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    int c = pf_test_client(port, 0);
    write_all(c, "1\n", 2);          /* complete: no message in progress */
    int64_t end = pf_now_ms() + scaled(300);
    while (pf_now_ms() < end)
        cycle(&l, &s, 10);
    EXPECT_EQ(s.nhandled, 1);
    EXPECT_EQ(s.closes, 0);
    close(c);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
    close(lfd);
}

typedef struct {
    int fd;
    int64_t until, every;
} trickle_arg;

/* A client that sends a byte of a line it never ends every `every` ms. */
static void *trickle(void *p)
{
    trickle_arg *a = p;
    while (pf_now_ms() < a->until) {
        usleep((useconds_t)(a->every * 1000));
        send(a->fd, "x", 1, MSG_NOSIGNAL);
    }
    return NULL;
}

/* pf_msgloop_poll leaves the time it returned at in l.now (the caller's
 * clock: MessageLoop.run times service_actions with it), also after a
 * wait that timed out; and bytes that complete no message make it wait
 * again for what is left of timeout_ms, from the poll's start. */
static void test_poll_returns_its_time_in_now_and_waits_out_partial_messages(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    seen s;
    pthread_t th;
    int port, lfd = pf_test_listen(&port);
    const int64_t ms = scaled(100);

    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    int c = pf_test_client(port, 0);
    int64_t end = pf_now_ms() + scaled(5000);
    while (s.nconns < 1 && pf_now_ms() < end)
        cycle(&l, &s, 10);
    EXPECT_EQ(s.nconns, 1);
    /* Nothing comes: a timeout, and l.now is its end, not its start. */
    int64_t t0 = pf_now_ms();
    EXPECT_EQ(pf_msgloop_poll(&l, (int)ms), 0);
    int64_t t1 = pf_now_ms();
    EXPECT(t1 - t0 >= ms - 2);
    EXPECT(l.now >= t1 - scaled(5) && l.now <= t1);
    /* A byte every ms/10 and never a newline: one poll, ~ms long. */
    trickle_arg a = {c, pf_now_ms() + 3 * ms, ms / 10};
    EXPECT_EQ(pthread_create(&th, NULL, trickle, &a), 0);
    t0 = pf_now_ms();
    EXPECT_EQ(pf_msgloop_poll(&l, (int)ms), 0);
    t1 = pf_now_ms();
    EXPECT(t1 - t0 >= ms - 2);
    EXPECT(t1 - t0 <= 2 * ms);
    EXPECT(l.now >= t1 - scaled(5) && l.now <= t1);
    pthread_join(th, NULL);
    EXPECT_EQ(s.nhandled, 0);
    close(c);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
    close(lfd);
}

/* A paused loop leaves new clients in the backlog and serves its open
 * connections; resumed, it accepts the waiting client. */
static void test_pause_accept_leaves_new_clients_in_the_backlog(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    seen s;
    int port, lfd = pf_test_listen(&port);

    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    int a = pf_test_client(port, 0);
    int64_t end = pf_now_ms() + scaled(1000);
    while (s.nconns < 1 && pf_now_ms() < end)
        cycle(&l, &s, 10);
    EXPECT_EQ(s.nconns, 1);
    EXPECT_EQ(pf_msgloop_pause_accept(&l, 1), 0);
    cycle(&l, &s, 0);                 /* the cycle that takes the pause */
    int b = pf_test_client(port, 0);  /* completes in the kernel's backlog */
    write_all(a, "1\n", 2);
    end = pf_now_ms() + scaled(200);
    while (pf_now_ms() < end)
        cycle(&l, &s, 10);
    EXPECT_EQ(s.nconns, 1);           /* b not accepted */
    EXPECT_EQ(s.nhandled, 1);         /* a still served */
    EXPECT_EQ(pf_msgloop_pause_accept(&l, 0), 0);
    end = pf_now_ms() + scaled(1000);
    while (s.nconns < 2 && pf_now_ms() < end)
        cycle(&l, &s, 10);
    EXPECT_EQ(s.nconns, 2);
    close(a);
    close(b);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
    close(lfd);
}

/* ---- the inbox -------------------------------------------------------- */

enum { POSTERS = 2, PER_POSTER = 300 };

typedef struct {
    pf_msgloop *l;
    int id;
    int refused;
} poster_arg;

static void *poster(void *p)
{
    poster_arg *a = p;
    for (int i = 0; i < PER_POSTER; i++) {
        pf_loop_msg m = {.op = PF_MOP_USER + a->id, .ptr = a, .arg = (uint64_t)i};
        if (pf_loop_post(pf_msgloop_loop(a->l), &m) != 0)
            a->refused++;
    }
    return NULL;
}

static void test_inbox_hands_caller_items_back_in_order(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    static seen s;
    pthread_t t[POSTERS];
    poster_arg args[POSTERS];
    uint64_t next[POSTERS] = {0};

    memset(&s, 0, sizeof s);
    pf_msgloop_opts_init(&o);
    EXPECT_EQ(pf_msgloop_init(&l, -1, &o), 0);
    for (int i = 0; i < POSTERS; i++) {
        args[i] = (poster_arg){&l, i, 0};
        pthread_create(&t[i], NULL, poster, &args[i]);
    }
    int64_t end = pf_now_ms() + scaled(10000);
    while (s.ninbox < POSTERS * PER_POSTER && pf_now_ms() < end)
        cycle(&l, &s, 100); /* each post wakes the loop */
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(t[i], NULL);
        EXPECT_EQ(args[i].refused, 0);
    }
    EXPECT_EQ(s.ninbox, POSTERS * PER_POSTER);
    EXPECT_EQ(s.inbox_bad, 0);
    for (int i = 0; i < s.ninbox; i++) {
        int p = s.inbox[i].op - PF_MOP_USER;
        EXPECT(p >= 0 && p < POSTERS);
        if (p < 0 || p >= POSTERS)
            continue;
        EXPECT(s.inbox[i].ptr == &args[p]);
        EXPECT_EQ(s.inbox[i].arg, next[p]); /* in posting order */
        next[p]++;
    }
    /* More than one cycle takes (200 > ACCEPT_BATCH): the rest comes at
     * once, the polls do not wait for their timeout. */
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 200; i++) {
        pf_loop_msg m = {.op = PF_MOP_USER, .ptr = NULL, .arg = (uint64_t)i};
        EXPECT_EQ(pf_loop_post(pf_msgloop_loop(&l), &m), 0);
    }
    int64_t t0 = pf_now_ms();
    int polls = 0;
    while (s.ninbox < 200 && polls < 50) {
        cycle(&l, &s, (int)scaled(2000));
        polls++;
    }
    EXPECT_EQ(s.ninbox, 200);
    EXPECT(polls > 1);
    EXPECT(pf_now_ms() - t0 < scaled(1000));
    for (int i = 0; i < s.ninbox; i++)
        EXPECT_EQ(s.inbox[i].arg, i);
    /* nothing left: the next poll waits (for its timeout) */
    EXPECT_EQ(cycle(&l, &s, 20), 0);
    pf_msgloop_shutdown(&l, 0);
    pf_msgloop_destroy(&l);
}

static void test_shutdown_reports_queued_items_and_refuses_posts(void)
{
    pf_msgloop l;
    pf_msgloop_opts o;
    int port, lfd = pf_test_listen(&port);

    pf_msgloop_opts_init(&o);
    EXPECT_EQ(pf_msgloop_init(&l, lfd, &o), 0);
    for (int i = 0; i < 3; i++) {
        pf_loop_msg m = {.op = PF_MOP_USER + 1, .ptr = &l, .arg = (uint64_t)(10 + i)};
        EXPECT_EQ(pf_loop_post(pf_msgloop_loop(&l), &m), 0);
    }
    int n = pf_msgloop_shutdown(&l, 0);
    int got = 0;
    for (int i = 0; i < n; i++) {
        pf_mevent *e = &l.ev[i];
        if (e->type != PF_MEV_INBOX)
            continue;
        EXPECT(e->conn == NULL);
        EXPECT(e->msg.ptr == &l);
        EXPECT_EQ(e->msg.op, PF_MOP_USER + 1);
        EXPECT_EQ(e->msg.arg, 10 + got);
        got++;
    }
    EXPECT_EQ(got, 3);
    pf_loop_msg m = {.op = PF_MOP_USER, .ptr = NULL, .arg = 0};
    EXPECT_EQ(pf_loop_post(pf_msgloop_loop(&l), &m), -ESHUTDOWN);
    pf_msgloop_destroy(&l);
    close(lfd);
}

/* Read until n bytes came or timeout; how many came. */
static size_t read_some(int fd, size_t n, int64_t ms)
{
    char buf[8192];
    size_t got = 0;
    int64_t end = pf_now_ms() + ms;
    while (got < n && pf_now_ms() < end) {
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else if (k == 0)
            break;
        else
            usleep(1000);
    }
    return got;
}

static void test_acceptor_hands_connections_to_a_peer_loop(void)
{
    pf_msgloop a, p;
    pf_msgloop *peers[1] = {&p};
    pf_msgloop_opts o;
    static seen sa, sp;
    int port, lfd = pf_test_listen(&port);

    memset(&sa, 0, sizeof sa);
    memset(&sp, 0, sizeof sp);
    pf_msgloop_opts_init(&o);
    EXPECT_EQ(pf_msgloop_init(&a, lfd, &o), 0);
    EXPECT_EQ(pf_msgloop_init(&p, -1, &o), 0);
    pf_msgloop_set_peers(&a, peers, 1);
    int c1 = pf_test_client(port, 0), c2 = pf_test_client(port, 0);
    int64_t end = pf_now_ms() + scaled(5000);
    while ((sa.nconns < 1 || sp.nconns < 1) && pf_now_ms() < end) {
        cycle(&a, &sa, 10);
        cycle(&p, &sp, 10);
    }
    EXPECT_EQ(sa.nconns, 1); /* the fewest connections: one each */
    EXPECT_EQ(sp.nconns, 1);
    write_all(c1, "1\n", 2);
    write_all(c2, "2\n", 2);
    end = pf_now_ms() + scaled(5000);
    while (sa.nhandled + sp.nhandled < 2 && pf_now_ms() < end) {
        cycle(&a, &sa, 10);
        cycle(&p, &sp, 10);
    }
    EXPECT_EQ(sa.nhandled, 1);
    EXPECT_EQ(sp.nhandled, 1);
    cycle(&a, &sa, 0); /* write what was queued */
    cycle(&p, &sp, 0);
    EXPECT_EQ(read_some(c1, REPLY, scaled(2000)), REPLY);
    EXPECT_EQ(read_some(c2, REPLY, scaled(2000)), REPLY);
    /* The peer shut down: the acceptor keeps new connections itself. */
    int n = pf_msgloop_shutdown(&p, 0);
    EXPECT_EQ(n, 1); /* its connection's CLOSE */
    EXPECT_EQ(p.ev[0].type, PF_MEV_CLOSE);
    EXPECT_EQ(p.ev[0].err, PF_MCLOSE_SHUTDOWN);
    int c3 = pf_test_client(port, 0);
    end = pf_now_ms() + scaled(5000);
    while (sa.nconns < 2 && pf_now_ms() < end)
        cycle(&a, &sa, 10);
    EXPECT_EQ(sa.nconns, 2);
    pf_msgloop_shutdown(&a, 0);
    pf_msgloop_destroy(&a);
    pf_msgloop_destroy(&p);
    close(c1);
    close(c2);
    close(c3);
    close(lfd);
}

/* ---- workers' admission (o.board) -------------------------------------- */

/* Two "worker processes" (two loops, each with its own copy of one board
 * joined to its own slot, as fork() gives them) on one listening socket:
 * the first to run takes slack + 1 connections and leaves the rest; the
 * other's accepts wake it through the board's eventfd; a burst ends even. */
static void test_board_spreads_a_burst_between_two_loops(void)
{
    enum { CLIENTS = 12 };
    pf_board b, w[2];
    pf_msgloop l[2];
    pf_msgloop_opts o[2];
    seen s[2];
    int cl[CLIENTS];
    int port, lfd = pf_test_listen(&port);

    EXPECT_EQ(pf_board_open(&b, 2, 1), 0);
    for (int i = 0; i < 2; i++) {
        w[i] = b;
        EXPECT_EQ(pf_board_join(&w[i], pf_board_take(&b)), 0);
        memset(&s[i], 0, sizeof s[i]);
        pf_msgloop_opts_init(&o[i]);
        o[i].board = &w[i];
        EXPECT_EQ(pf_msgloop_init(&l[i], lfd, &o[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        cl[i] = pf_test_client(port, 0);
    /* Loop 0 alone: two connections (least 0 + slack 1 + the one that
     * reaches the limit), then gated. */
    int64_t end = pf_now_ms() + scaled(200);
    while (pf_now_ms() < end)
        cycle(&l[0], &s[0], 10);
    EXPECT_EQ(l[0].nconns, 2);
    EXPECT_EQ(pf_board_gated(&b, w[0].self), 1);
    EXPECT_EQ(l[0].accepting, 0);
    /* Loop 1 accepts: loop 0 is woken (its wait ends before the timeout)
     * and they share the rest. */
    cycle(&l[1], &s[1], 100);
    EXPECT(l[1].nconns >= 1);
    int64_t t0 = pf_now_ms();
    cycle(&l[0], &s[0], scaled(2000));
    EXPECT(pf_now_ms() - t0 < scaled(1000));
    end = pf_now_ms() + scaled(2000);
    while (l[0].nconns + l[1].nconns < CLIENTS && pf_now_ms() < end) {
        cycle(&l[0], &s[0], 10);
        cycle(&l[1], &s[1], 10);
    }
    EXPECT_EQ(l[0].nconns + l[1].nconns, CLIENTS);
    EXPECT(abs(l[0].nconns - l[1].nconns) <= 2);
    EXPECT_EQ(pf_board_count(&b, w[0].self), l[0].nconns);
    EXPECT_EQ(pf_board_count(&b, w[1].self), l[1].nconns);
    /* Closes are counted. */
    for (int i = 0; i < CLIENTS; i++)
        close(cl[i]);
    end = pf_now_ms() + scaled(1000);
    while (l[0].nconns + l[1].nconns > 0 && pf_now_ms() < end) {
        cycle(&l[0], &s[0], 10);
        cycle(&l[1], &s[1], 10);
    }
    EXPECT_EQ(pf_board_count(&b, w[0].self), 0);
    EXPECT_EQ(pf_board_count(&b, w[1].self), 0);
    for (int i = 0; i < 2; i++) {
        pf_msgloop_shutdown(&l[i], 0);
        pf_msgloop_destroy(&l[i]);
    }
    pf_board_close(&b);
    close(lfd);
}

int main(void)
{
    RUN(test_take_defers_the_rest_of_a_batch_framed_in_the_arena);
    RUN(test_take_defers_the_rest_of_a_batch_framed_in_the_conn_buffer);
    RUN(test_message_deadline_closes_a_trickler_not_a_slow_sender);
    RUN(test_message_deadline_off_by_default_and_not_for_idle_conns);
    RUN(test_poll_returns_its_time_in_now_and_waits_out_partial_messages);
    RUN(test_pause_accept_leaves_new_clients_in_the_backlog);
    RUN(test_inbox_hands_caller_items_back_in_order);
    RUN(test_shutdown_reports_queued_items_and_refuses_posts);
    RUN(test_acceptor_hands_connections_to_a_peer_loop);
    RUN(test_board_spreads_a_burst_between_two_loops);
    return pf_test_report();
}
