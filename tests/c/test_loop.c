/* Unit tests for csrc/pf_loop.c: level and edge triggering, the wake-up
 * (from another thread, once per wait), timers (deadline order, FIFO among
 * equal deadlines, cancel, id reuse guarded by the tag), the inbox (N
 * producers, order per producer, nothing lost, ring wrap-around, refused
 * after pf_loop_inbox_close) and -EINTR from pf_loop_wait.  Built and run by
 * tests/test_loop_c.py (ASan + UBSan when available).  Prints one line per
 * failure and "N passed, N failed"; exit status 1 if any failed.
 * PF_TEST_TIME_SCALE=k multiplies the time limits. */
#include "pf_common.h"
#include "pf_loop.h"
#include "pf_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int scaled_ms(int ms) { return (int)(ms * time_scale()); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void open_loop(pf_loop *l)
{
    int rc = pf_loop_open(l, 0);
    if (rc < 0) {
        fprintf(stderr, "pf_loop_open: %s\n", strerror(-rc));
        exit(2);
    }
}

static void pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
}

/* Count of events in ev[0..n) with this tag and bits. */
static int count_ev(const pf_loop_event *ev, int n, uint64_t tag, uint32_t bits)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].tag == tag && (ev[i].events & bits))
            k++;
    return k;
}

static void test_level_triggered_reports_until_read(void)
{
    pf_loop l;
    int sv[2];
    pf_loop_event ev[8];
    open_loop(&l);
    pair(sv);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN, 7), 0);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 8), 0);
    EXPECT_EQ(write(sv[1], "x", 1), 1);
    for (int round = 0; round < 3; round++) {
        int n = pf_loop_wait(&l, 0, ev, 8);
        EXPECT_EQ(n, 1);
        EXPECT_EQ(count_ev(ev, n, 7, EPOLLIN), 1);
    }
    char c;
    EXPECT_EQ(read(sv[0], &c, 1), 1);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 8), 0);
    close(sv[0]);
    close(sv[1]);
    pf_loop_close(&l);
}

static void test_edge_triggered_reports_once_per_edge(void)
{
    pf_loop l;
    int sv[2];
    pf_loop_event ev[8];
    open_loop(&l);
    pair(sv);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN | EPOLLET, 0), 0); /* tag 0 is a caller's */
    EXPECT_EQ(write(sv[1], "x", 1), 1);
    int n = pf_loop_wait(&l, 0, ev, 8);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(count_ev(ev, n, 0, EPOLLIN), 1);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 8), 0); /* unread, but no new edge */
    EXPECT_EQ(write(sv[1], "y", 1), 1);
    n = pf_loop_wait(&l, 0, ev, 8);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(count_ev(ev, n, 0, EPOLLIN), 1);
    /* mod to level-triggered with another tag: reported again at once */
    EXPECT_EQ(pf_loop_mod(&l, sv[0], EPOLLIN, 9), 0);
    n = pf_loop_wait(&l, 0, ev, 8);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(count_ev(ev, n, 9, EPOLLIN), 1);
    EXPECT_EQ(pf_loop_del(&l, sv[0]), 0);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 8), 0);
    EXPECT_EQ(pf_loop_del(&l, sv[0]), -ENOENT);
    close(sv[0]);
    close(sv[1]);
    pf_loop_close(&l);
}

static void test_reserved_tag_refused(void)
{
    pf_loop l;
    int sv[2];
    open_loop(&l);
    pair(sv);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN, PF_LOOP_RESERVED_TAG), -EINVAL);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN, 1), 0);
    EXPECT_EQ(pf_loop_mod(&l, sv[0], EPOLLIN, PF_LOOP_RESERVED_TAG), -EINVAL);
    EXPECT_EQ(pf_loop_add(&l, -1, EPOLLIN, 2), -EBADF);
    close(sv[0]);
    close(sv[1]);
    pf_loop_close(&l);
    pf_loop_close(&l); /* a second close is harmless */
}

static void *wake_later(void *arg)
{
    sleep_ms(scaled_ms(50));
    pf_loop_wake(arg);
    return NULL;
}

static void test_wake_from_another_thread_ends_wait(void)
{
    pf_loop l;
    pthread_t t;
    pf_loop_event ev[8];
    open_loop(&l);
    int64_t t0 = pf_loop_now_ms();
    pthread_create(&t, NULL, wake_later, &l);
    int n = pf_loop_wait(&l, scaled_ms(10000), ev, 8);
    int64_t took = pf_loop_now_ms() - t0;
    pthread_join(t, NULL);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(ev[0].tag, 0);
    EXPECT_EQ(ev[0].events, PF_LOOP_WAKE);
    EXPECT(took < scaled_ms(5000)); /* the wake, not the timeout, ended it */
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 8), 0); /* consumed */
    pf_loop_close(&l);
}

static void test_many_wakes_one_event_after_fds_before_timers(void)
{
    pf_loop l;
    int sv[2];
    pf_loop_event ev[8];
    open_loop(&l);
    pair(sv);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN, 3), 0);
    EXPECT_EQ(write(sv[1], "x", 1), 1);
    EXPECT(pf_loop_timer_add(&l, pf_loop_now_ns() - 1, 44) >= 0);
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(pf_loop_wake(&l), 0);
    int n = pf_loop_wait(&l, 0, ev, 8);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(ev[0].tag, 3);
    EXPECT(ev[0].events & EPOLLIN);
    EXPECT_EQ(ev[1].tag, 0);
    EXPECT_EQ(ev[1].events, PF_LOOP_WAKE);
    EXPECT_EQ(ev[2].tag, 44);
    EXPECT_EQ(ev[2].events, PF_LOOP_TIMER);
    /* max 1 with the fd still ready (level) and a wake-up pending: never
     * more than asked, and the wake-up comes exactly once over the waits */
    EXPECT_EQ(pf_loop_wake(&l), 0);
    EXPECT_EQ(pf_loop_wake(&l), 0);
    int wakes = 0;
    for (int i = 0; i < 3; i++) {
        n = pf_loop_wait(&l, 0, ev, 1);
        EXPECT_EQ(n, 1);
        wakes += count_ev(ev, n, 0, PF_LOOP_WAKE);
    }
    EXPECT_EQ(wakes, 1);
    close(sv[0]);
    close(sv[1]);
    pf_loop_close(&l);
}

static void test_timers_fire_in_deadline_order_fifo_on_ties(void)
{
    pf_loop l;
    pf_loop_event ev[256];
    open_loop(&l);
    int64_t base = pf_loop_now_ns() - 1000000000; /* all expired already */
    /* 200 timers: deadlines base+0..base+4 round robin, so each deadline
     * has 40 timers added in an interleaved order; tag = order of adding. */
    for (int i = 0; i < 200; i++)
        EXPECT(pf_loop_timer_add(&l, base + (4 - i % 5), (uint64_t)i) >= 0);
    EXPECT_EQ(pf_loop_timer_count(&l), 200);
    EXPECT_EQ(pf_loop_timer_next(&l), base);
    int n = pf_loop_wait(&l, 0, ev, 256);
    EXPECT_EQ(n, 200);
    for (int i = 1; i < n; i++) {
        int64_t da = 4 - (int64_t)(ev[i - 1].tag % 5), db = 4 - (int64_t)(ev[i].tag % 5);
        EXPECT(ev[i].events == PF_LOOP_TIMER);
        EXPECT(da < db || (da == db && ev[i - 1].tag < ev[i].tag));
    }
    EXPECT_EQ(pf_loop_timer_count(&l), 0);
    EXPECT_EQ(pf_loop_timer_next(&l), -1);
    /* equal deadlines after cancels in the middle still fire FIFO */
    int ids[50];
    for (int i = 0; i < 50; i++)
        ids[i] = pf_loop_timer_add(&l, base, (uint64_t)(1000 + i));
    for (int i = 0; i < 50; i += 3)
        EXPECT_EQ(pf_loop_timer_cancel(&l, ids[i], (uint64_t)(1000 + i)), 1);
    n = pf_loop_wait(&l, 0, ev, 256);
    EXPECT_EQ(n, 50 - 17);
    for (int i = 1; i < n; i++)
        EXPECT(ev[i - 1].tag < ev[i].tag);
    /* a full out[] leaves the rest for the next wait, order kept */
    for (int i = 0; i < 10; i++)
        pf_loop_timer_add(&l, base, (uint64_t)i);
    n = pf_loop_wait(&l, 0, ev, 4);
    EXPECT_EQ(n, 4);
    EXPECT_EQ(ev[3].tag, 3);
    n = pf_loop_wait(&l, 0, ev, 256);
    EXPECT_EQ(n, 6);
    EXPECT_EQ(ev[0].tag, 4);
    EXPECT_EQ(ev[5].tag, 9);
    pf_loop_close(&l);
}

static void test_timer_shortens_wait_and_not_before_deadline(void)
{
    pf_loop l;
    pf_loop_event ev[4];
    open_loop(&l);
    int64_t t0 = pf_loop_now_ns();
    int64_t deadline = t0 + (int64_t)scaled_ms(40) * 1000000;
    EXPECT(pf_loop_timer_add(&l, deadline, 5) >= 0);
    EXPECT(pf_loop_timer_add(&l, t0 + (int64_t)3600 * 1000000000, 6) >= 0);
    int n;
    do
        n = pf_loop_wait(&l, -1, ev, 4);
    while (n == 0);
    int64_t now = pf_loop_now_ns();
    EXPECT_EQ(n, 1);
    EXPECT_EQ(ev[0].tag, 5);
    EXPECT_EQ(ev[0].events, PF_LOOP_TIMER);
    EXPECT(now >= deadline);
    EXPECT(now - t0 < (int64_t)scaled_ms(5000) * 1000000);
    EXPECT_EQ(pf_loop_timer_count(&l), 1);
    pf_loop_close(&l); /* frees the pending one */
}

static void test_timer_cancel(void)
{
    pf_loop l;
    pf_loop_event ev[4];
    open_loop(&l);
    int64_t past = pf_loop_now_ns() - 1;
    int a = pf_loop_timer_add(&l, past, 1);
    int b = pf_loop_timer_add(&l, past, 2);
    EXPECT(a >= 0 && b >= 0 && a != b);
    EXPECT_EQ(pf_loop_timer_cancel(&l, a, 1), 1);
    EXPECT_EQ(pf_loop_timer_cancel(&l, a, 1), 0); /* already */
    EXPECT_EQ(pf_loop_timer_cancel(&l, -1, 1), 0);
    EXPECT_EQ(pf_loop_timer_cancel(&l, 1 << 20, 1), 0);
    EXPECT_EQ(pf_loop_timer_count(&l), 1);
    int n = pf_loop_wait(&l, 0, ev, 4);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(ev[0].tag, 2);
    EXPECT_EQ(pf_loop_timer_cancel(&l, b, 2), 0); /* fired */
    pf_loop_close(&l);
}

static void test_timer_id_reuse_guarded_by_tag(void)
{
    pf_loop l;
    pf_loop_event ev[4];
    open_loop(&l);
    int64_t past = pf_loop_now_ns() - 1;
    int a = pf_loop_timer_add(&l, past, 100);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 4), 1); /* fires: id a is free */
    int b = pf_loop_timer_add(&l, pf_loop_now_ns() + 1000000000, 200);
    EXPECT_EQ(b, a); /* the id was reused */
    EXPECT_EQ(pf_loop_timer_cancel(&l, a, 100), 0); /* stale: not cancelled */
    EXPECT_EQ(pf_loop_timer_count(&l), 1);
    EXPECT_EQ(pf_loop_timer_cancel(&l, b, 200), 1);
    EXPECT_EQ(pf_loop_timer_count(&l), 0);
    pf_loop_close(&l);
}

static void test_many_timers_grow_and_random_cancels(void)
{
    pf_loop l;
    pf_loop_event ev[256];
    enum { N = 2000 };
    static int ids[N];
    static int cancelled[N];
    open_loop(&l);
    int64_t base = pf_loop_now_ns() - 1000000000;
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        ids[i] = pf_loop_timer_add(&l, base + (int64_t)((s >> 16) % 97), (uint64_t)i);
        cancelled[i] = 0;
        EXPECT(ids[i] >= 0);
    }
    int left = N;
    for (int i = 0; i < N; i += 7) {
        EXPECT_EQ(pf_loop_timer_cancel(&l, ids[i], (uint64_t)i), 1);
        cancelled[i] = 1;
        left--;
    }
    EXPECT_EQ(pf_loop_timer_count(&l), left);
    int got = 0, n;
    int64_t last_dl = INT64_MIN;
    uint64_t last_tag = 0;
    /* Recompute deadlines from the same generator to check the order. */
    static int64_t dl[N];
    s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        dl[i] = base + (int64_t)((s >> 16) % 97);
    }
    while ((n = pf_loop_wait(&l, 0, ev, 256)) > 0) {
        for (int i = 0; i < n; i++) {
            uint64_t tg = ev[i].tag;
            EXPECT(!cancelled[tg]);
            EXPECT(dl[tg] > last_dl || (dl[tg] == last_dl && tg > last_tag));
            last_dl = dl[tg];
            last_tag = tg;
            got++;
        }
    }
    EXPECT_EQ(got, left);
    pf_loop_close(&l);
}

/* ---- inbox ------------------------------------------------------------ */

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

typedef struct {
    pf_loop *l;
    int id;
    int refused;
} producer_arg;

static void *producer(void *p)
{
    producer_arg *a = p;
    for (int i = 0; i < PER_PRODUCER; i++) {
        pf_loop_msg m = {.op = a->id, .ptr = a, .arg = (uint64_t)i};
        if (pf_loop_post(a->l, &m) != 0)
            a->refused++;
        if (i % 1000 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_inbox_n_producers_order_kept_nothing_lost(void)
{
    pf_loop l;
    pthread_t t[PRODUCERS];
    producer_arg args[PRODUCERS];
    uint64_t next[PRODUCERS] = {0};
    pf_loop_event ev[8];
    pf_loop_msg got[7]; /* small on purpose: the ring wraps and grows while half-taken */
    open_loop(&l);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){&l, i, 0};
        pthread_create(&t[i], NULL, producer, &args[i]);
    }
    size_t total = 0, bad = 0;
    int64_t give_up = pf_loop_now_ms() + scaled_ms(30000);
    while (total < (size_t)PRODUCERS * PER_PRODUCER && pf_loop_now_ms() < give_up) {
        int n = pf_loop_wait(&l, 100, ev, 8);
        if (n < 0 && n != -EINTR)
            break;
        size_t k;
        while ((k = pf_loop_take(&l, got, 7)) > 0) {
            for (size_t j = 0; j < k; j++) {
                int p = got[j].op;
                if (p < 0 || p >= PRODUCERS || got[j].ptr != &args[p] || got[j].arg != next[p])
                    bad++;
                else
                    next[p]++;
            }
            total += k;
        }
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(t[i], NULL);
        EXPECT_EQ(args[i].refused, 0);
        EXPECT_EQ(next[i], PER_PRODUCER);
    }
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(total, (size_t)PRODUCERS * PER_PRODUCER);
    EXPECT_EQ(pf_loop_inbox_len(&l), 0);
    pf_loop_close(&l);
}

static void test_inbox_wraps_and_grows_in_order(void)
{
    pf_loop l;
    pf_loop_msg m = {0}, out[64];
    pf_loop_event ev[4];
    open_loop(&l);
    uint64_t sent = 0, taken = 0;
    for (int i = 0; i < 50; i++) {
        m.arg = sent++;
        EXPECT_EQ(pf_loop_post(&l, &m), 0);
    }
    for (int k = 0; k < 30; k += 6) { /* head moves to 30 of 64 */
        EXPECT_EQ(pf_loop_take(&l, out, 6), 6);
        for (int i = 0; i < 6; i++)
            EXPECT_EQ(out[i].arg, taken++);
    }
    for (int i = 0; i < 60; i++) { /* wraps, then grows while wrapped */
        m.arg = sent++;
        EXPECT_EQ(pf_loop_post(&l, &m), 0);
    }
    EXPECT_EQ(pf_loop_inbox_len(&l), 80);
    int n = pf_loop_wait(&l, 0, ev, 4);
    EXPECT_EQ(n, 1); /* 110 posts, one wake-up */
    EXPECT_EQ(ev[0].events, PF_LOOP_WAKE);
    size_t k;
    while ((k = pf_loop_take(&l, out, 64)) > 0)
        for (size_t j = 0; j < k; j++)
            EXPECT_EQ(out[j].arg, taken++);
    EXPECT_EQ(taken, sent);
    EXPECT_EQ(pf_loop_take(&l, out, 64), 0);
    pf_loop_close(&l);
}

static void test_post_after_inbox_close_is_refused(void)
{
    pf_loop l;
    pf_loop_msg m = {.op = 1, .ptr = NULL, .arg = 7}, out[4];
    pf_loop_event ev[4];
    open_loop(&l);
    EXPECT_EQ(pf_loop_post(&l, &m), 0);
    EXPECT_EQ(pf_loop_post(&l, &m), 0);
    EXPECT_EQ(pf_loop_inbox_close(&l), 2); /* still queued: the owner's to drain */
    EXPECT_EQ(pf_loop_post(&l, &m), -ESHUTDOWN);
    EXPECT_EQ(pf_loop_inbox_len(&l), 2);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 4), 1); /* the two accepted posts' wake */
    EXPECT_EQ(pf_loop_take(&l, out, 4), 2);
    EXPECT_EQ(pf_loop_post(&l, &m), -ESHUTDOWN);
    EXPECT_EQ(pf_loop_wait(&l, 0, ev, 4), 0); /* a refused post does not wake */
    EXPECT_EQ(pf_loop_inbox_close(&l), 0);
    pf_loop_close(&l);
}

/* ---- EINTR ------------------------------------------------------------ */

static volatile sig_atomic_t g_signals;
static void on_usr1(int sig)
{
    (void)sig;
    g_signals++;
}

typedef struct {
    pthread_t target;
    volatile int stop;
} kicker_arg;

/* Signal the target until it says stop: a signal sent before the target
 * entered epoll_wait would not interrupt it. */
static void *kicker(void *p)
{
    kicker_arg *k = p;
    while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
        pthread_kill(k->target, SIGUSR1);
        sleep_ms(20);
    }
    return NULL;
}

static void test_wait_returns_eintr_and_loses_nothing(void)
{
    pf_loop l;
    int sv[2];
    pf_loop_event ev[4];
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: epoll_wait fails with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    open_loop(&l);
    pair(sv);
    EXPECT_EQ(pf_loop_add(&l, sv[0], EPOLLIN, 1), 0);
    kicker_arg k = {pthread_self(), 0};
    pthread_t t;
    pthread_create(&t, NULL, kicker, &k);
    int n = pf_loop_wait(&l, scaled_ms(10000), ev, 4);
    __atomic_store_n(&k.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    EXPECT_EQ(n, -EINTR);
    EXPECT(g_signals > 0);
    /* what became ready meanwhile is reported by the next wait */
    EXPECT_EQ(write(sv[1], "x", 1), 1);
    EXPECT_EQ(pf_loop_wake(&l), 0);
    n = pf_loop_wait(&l, 0, ev, 4);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(count_ev(ev, n, 1, EPOLLIN), 1);
    EXPECT_EQ(count_ev(ev, n, 0, PF_LOOP_WAKE), 1);
    sigaction(SIGUSR1, &old, NULL);
    close(sv[0]);
    close(sv[1]);
    pf_loop_close(&l);
}

static void test_yield_with_counted_loops(void)
{
    /* Only that it is safe with 0, 1 and 2 counted loops open (its effect
     * is the scheduler's, measured in docs/design.md). */
    pf_loop a, b;
    pf_loop_yield();
    EXPECT_EQ(pf_loop_open(&a, 1), 0);
    pf_loop_yield();
    EXPECT_EQ(pf_loop_open(&b, 1), 0);
    pf_loop_yield();
    pf_loop_close(&b);
    pf_loop_close(&a);
    pf_loop_yield();
}

int main(void)
{
    RUN(test_level_triggered_reports_until_read);
    RUN(test_edge_triggered_reports_once_per_edge);
    RUN(test_reserved_tag_refused);
    RUN(test_wake_from_another_thread_ends_wait);
    RUN(test_many_wakes_one_event_after_fds_before_timers);
    RUN(test_timers_fire_in_deadline_order_fifo_on_ties);
    RUN(test_timer_shortens_wait_and_not_before_deadline);
    RUN(test_timer_cancel);
    RUN(test_timer_id_reuse_guarded_by_tag);
    RUN(test_many_timers_grow_and_random_cancels);
    RUN(test_inbox_n_producers_order_kept_nothing_lost);
    RUN(test_inbox_wraps_and_grows_in_order);
    RUN(test_post_after_inbox_close_is_refused);
    RUN(test_wait_returns_eintr_and_loses_nothing);
    RUN(test_yield_with_counted_loops);
    return pf_test_report();
}
