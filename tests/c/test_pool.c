/* Unit tests for csrc/pf_pool.c's queue (a pf_msgq, csrc/pf_msgq.c):
 * items come out in submission order across the queue's growth and
 * wrap-around, to workers on other threads too, nothing lost; pop after
 * close; -ESHUTDOWN once closed and empty.  Built and run by
 * tests/test_pool_c.py (ASan + UBSan when available).  Prints one line per
 * failure and "N passed, N failed"; exit status 1 if any failed. */
#include "pf_pool.h"
#include "pf_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

static void test_fifo_across_growth_and_wraparound(void)
{
    pf_pool p;
    void *item;
    uintptr_t next_in = 1, next_out = 1;
    EXPECT_EQ(pf_pool_init(&p, 1, 0, -1), 0);
    /* the first submit asks for the one worker; the rest are queued */
    EXPECT_EQ(pf_pool_submit(&p, (void *)next_in++), PF_POOL_START_WORKER);
    for (int round = 0; round < 5; round++) {
        /* 100 in, 70 out: the ring wraps, then grows while wrapped */
        for (int i = 0; i < 100; i++)
            EXPECT(pf_pool_submit(&p, (void *)next_in++) >= 0);
        for (int i = 0; i < 70; i++) {
            EXPECT_EQ(pf_pool_take(&p, 0, &item), 0);
            EXPECT_EQ((uintptr_t)item, next_out++);
            pf_pool_done(&p);
        }
    }
    pf_pool_stats st;
    pf_pool_get_stats(&p, &st);
    EXPECT_EQ(st.queued, next_in - next_out);
    pf_pool_close(&p);
    EXPECT_EQ(pf_pool_submit(&p, (void *)1), -ESHUTDOWN);
    /* queued items are still handed out after close, then -ESHUTDOWN */
    EXPECT_EQ(pf_pool_take(&p, 0, &item), 0);
    EXPECT_EQ((uintptr_t)item, next_out++);
    pf_pool_done(&p);
    while (pf_pool_pop(&p, &item) == 0)
        EXPECT_EQ((uintptr_t)item, next_out++);
    EXPECT_EQ(next_out, next_in);
    EXPECT_EQ(pf_pool_pop(&p, &item), -ENOENT);
    EXPECT_EQ(pf_pool_take(&p, 0, &item), -ESHUTDOWN);
    pf_pool_destroy(&p);
    pf_pool_destroy(&p); /* harmless twice */
}

enum { ITEMS = 20000, WORKERS = 3 };

typedef struct {
    pf_pool *p;
    uintptr_t last;   /* items of one worker come in increasing order */
    int got, out_of_order;
} worker_arg;

static void *worker(void *a_)
{
    worker_arg *a = a_;
    void *item;
    while (pf_pool_take(a->p, -1, &item) == 0) {
        if ((uintptr_t)item <= a->last)
            a->out_of_order++;
        a->last = (uintptr_t)item;
        a->got++;
        pf_pool_done(a->p);
    }
    return NULL;
}

static void test_workers_on_threads_get_everything_in_order(void)
{
    pf_pool p;
    pthread_t t[WORKERS];
    worker_arg args[WORKERS];
    int started = 0;
    EXPECT_EQ(pf_pool_init(&p, WORKERS, 0, -1), 0);
    for (uintptr_t i = 1; i <= ITEMS; i++) {
        int rc = pf_pool_submit(&p, (void *)i);
        EXPECT(rc >= 0);
        if (rc == PF_POOL_START_WORKER && started < WORKERS) {
            args[started] = (worker_arg){&p, 0, 0, 0};
            pthread_create(&t[started], NULL, worker, &args[started]);
            started++;
        }
    }
    EXPECT_EQ(pf_pool_join(&p, (int)(10000 * time_scale())), 0);
    pf_pool_close(&p);
    int total = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        total += args[i].got;
        EXPECT_EQ(args[i].out_of_order, 0);
    }
    EXPECT(started >= 1);
    EXPECT_EQ(total, ITEMS);
    pf_pool_destroy(&p);
}

int main(void)
{
    RUN(test_fifo_across_growth_and_wraparound);
    RUN(test_workers_on_threads_get_everything_in_order);
    return pf_test_report();
}
