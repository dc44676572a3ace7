/* Unit tests for csrc/pf_board.c: least-connections admission (slack),
 * the gate and its eventfd wake-ups (another worker accepts or leaves, an
 * own connection closes, the parent frees a slot), counts shared across
 * fork(), exact counts from several threads, and a board not joined.
 * Two "workers" in one process are two copies of one pf_board joined to
 * different slots (what fork() gives each worker).  Built and run by
 * tests/test_board_c.py (ASan + UBSan when available). */
#include "pf_board.h"
#include "pf_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static void open_board(pf_board *b, int nslots, int slack)
{
    int rc = pf_board_open(b, nslots, slack);
    if (rc < 0) {
        fprintf(stderr, "pf_board_open: %s\n", strerror(-rc));
        exit(2);
    }
}

/* w[0..n): workers in slots taken from parent (copies of it). */
static void workers(pf_board *parent, pf_board *w, int n)
{
    for (int i = 0; i < n; i++) {
        int slot = pf_board_take(parent);
        EXPECT(slot >= 0);
        w[i] = *parent;
        EXPECT_EQ(pf_board_join(&w[i], slot), 0);
    }
}

static int woken(pf_board *w)
{
    struct pollfd p = {.fd = pf_board_fd(w), .events = POLLIN};
    int n = poll(&p, 1, 0);
    pf_board_clear(w);
    return n == 1;
}

static void test_open_rejects_bad_arguments(void)
{
    pf_board b;
    EXPECT_EQ(pf_board_open(&b, 0, 1), -EINVAL);
    EXPECT_EQ(pf_board_open(&b, 2, -1), -EINVAL);
}

static void test_slots_start_free_and_run_out(void)
{
    pf_board b;
    open_board(&b, 2, 1);
    EXPECT_EQ(pf_board_count(&b, 0), -1);
    EXPECT_EQ(pf_board_take(&b), 0);
    EXPECT_EQ(pf_board_take(&b), 1);
    EXPECT_EQ(pf_board_take(&b), -ENOSPC);
    EXPECT_EQ(pf_board_count(&b, 1), 0);
    pf_board_free(&b, 0);
    EXPECT_EQ(pf_board_count(&b, 0), -1);
    EXPECT_EQ(pf_board_take(&b), 0);
    EXPECT_EQ(pf_board_join(&b, 2), -EINVAL);
    pf_board_close(&b);
}

static void test_board_not_joined_admits_and_counts_nothing(void)
{
    pf_board b;
    open_board(&b, 2, 0);
    EXPECT_EQ(pf_board_take(&b), 0);
    EXPECT_EQ(pf_board_admit(&b), 1);
    pf_board_opened(&b);
    pf_board_closed(&b);
    EXPECT_EQ(pf_board_count(&b, 0), 0);
    EXPECT_EQ(pf_board_fd(&b), -1);
    EXPECT_EQ(pf_board_admit(NULL), 1);
    pf_board_opened(NULL);
    pf_board_closed(NULL);
    pf_board_leave(NULL);
    pf_board_close(&b);
}

static void test_worker_past_slack_is_gated(void)
{
    pf_board b, w[2];
    open_board(&b, 4, 1);
    workers(&b, w, 2);
    /* w0 may hold least + 1: 0 -> 1 -> 2 (gated at 2 while w1 has 0). */
    EXPECT_EQ(pf_board_admit(&w[0]), 1);
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 1);
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);
    EXPECT_EQ(pf_board_gated(&b, w[0].self), 1);
    /* The least loaded always may. */
    EXPECT_EQ(pf_board_admit(&w[1]), 1);
    EXPECT_EQ(pf_board_gated(&b, w[1].self), 0);
    pf_board_close(&b);
}

static void test_burst_is_spread_evenly(void)
{
    /* 50 connections, each taken by the first of three workers (in a
     * rotating order) that may: max - min stays within slack + 1. */
    pf_board b, w[3];
    open_board(&b, 8, 1);
    workers(&b, w, 3);
    for (int k = 0; k < 50; k++) {
        for (int j = 0; j < 3; j++) {
            pf_board *x = &w[(k / 7 + j) % 3];
            if (pf_board_admit(x)) {
                pf_board_opened(x);
                break;
            }
        }
    }
    int64_t lo = 50, hi = 0, sum = 0;
    for (int i = 0; i < 3; i++) {
        int64_t c = pf_board_count(&b, w[i].self);
        lo = c < lo ? c : lo;
        hi = c > hi ? c : hi;
        sum += c;
    }
    EXPECT_EQ(sum, 50);
    EXPECT(hi - lo <= 2);
    pf_board_close(&b);
}

static void test_gated_worker_is_woken_when_another_accepts(void)
{
    pf_board b, w[2];
    open_board(&b, 2, 0);
    workers(&b, w, 2);
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);
    EXPECT_EQ(woken(&w[0]), 0);
    pf_board_opened(&w[1]);            /* 1/1: w0 may again */
    EXPECT_EQ(woken(&w[0]), 1);
    EXPECT_EQ(pf_board_admit(&w[0]), 1);
    EXPECT_EQ(pf_board_gated(&b, w[0].self), 0);
    /* Not gated: no wake-up. */
    pf_board_opened(&w[1]);
    EXPECT_EQ(woken(&w[0]), 0);
    pf_board_close(&b);
}

static void test_own_close_wakes_a_gated_worker(void)
{
    pf_board b, w[2];
    open_board(&b, 2, 0);
    workers(&b, w, 2);
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);
    pf_board_closed(&w[0]);
    EXPECT_EQ(woken(&w[0]), 1);
    EXPECT_EQ(pf_board_admit(&w[0]), 1);
    /* A count never goes below 0. */
    pf_board_closed(&w[0]);
    EXPECT_EQ(pf_board_count(&b, w[0].self), 0);
    pf_board_close(&b);
}

static void test_leaving_or_freed_worker_holds_nobody_back(void)
{
    pf_board b, w[3];
    open_board(&b, 3, 0);
    workers(&b, w, 3);
    pf_board_opened(&w[0]);
    pf_board_opened(&w[2]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);   /* w1 holds 0 */
    pf_board_leave(&w[1]);
    EXPECT_EQ(pf_board_count(&b, w[1].self), -1);
    EXPECT_EQ(woken(&w[0]), 1);
    EXPECT_EQ(pf_board_admit(&w[0]), 1);
    /* After leave, its connections are no longer counted. */
    pf_board_opened(&w[1]);
    pf_board_closed(&w[1]);
    EXPECT_EQ(pf_board_count(&b, w[1].self), -1);
    /* The parent frees a dead worker's slot: gated ones are woken. */
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);   /* 2 vs w2's 1 */
    pf_board_opened(&w[2]);
    EXPECT_EQ(woken(&w[0]), 1);
    pf_board_opened(&w[0]);
    EXPECT_EQ(pf_board_admit(&w[0]), 0);
    pf_board_free(&b, w[2].self);
    EXPECT_EQ(woken(&w[0]), 1);
    EXPECT_EQ(pf_board_admit(&w[0]), 1);   /* the only live worker */
    pf_board_close(&b);
}

static void test_counts_are_shared_across_fork(void)
{
    pf_board b;
    open_board(&b, 2, 1);
    int slot = pf_board_take(&b);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        pf_board_join(&b, slot);
        for (int i = 0; i < 3; i++)
            pf_board_opened(&b);
        pf_board_closed(&b);
        _exit(pf_board_admit(&b) == 1 ? 0 : 3);
    }
    int status = 0;
    EXPECT(pid > 0);
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(pf_board_count(&b, slot), 2);
    pf_board_close(&b);
}

#define THREADS 4
#define ROUNDS 20000

static void *open_close(void *arg)
{
    pf_board *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        pf_board_opened(w);
        if (i % 2)
            pf_board_closed(w);
    }
    return NULL;
}

static void test_counts_exact_from_several_threads(void)
{
    pf_board b, w;
    pthread_t t[THREADS];
    open_board(&b, 2, 1);
    workers(&b, &w, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, open_close, &w);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    EXPECT_EQ(pf_board_count(&b, w.self), THREADS * ROUNDS / 2);
    pf_board_close(&b);
}

int main(void)
{
    RUN(test_open_rejects_bad_arguments);
    RUN(test_slots_start_free_and_run_out);
    RUN(test_board_not_joined_admits_and_counts_nothing);
    RUN(test_worker_past_slack_is_gated);
    RUN(test_burst_is_spread_evenly);
    RUN(test_gated_worker_is_woken_when_another_accepts);
    RUN(test_own_close_wakes_a_gated_worker);
    RUN(test_leaving_or_freed_worker_holds_nobody_back);
    RUN(test_counts_are_shared_across_fork);
    RUN(test_counts_exact_from_several_threads);
    return pf_test_report();
}
