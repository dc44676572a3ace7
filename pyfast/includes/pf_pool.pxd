# csrc/pf_pool.h: the worker pool's queue.
cdef extern from "pf_pool.h" nogil:
    ctypedef struct pf_pool:
        int max_workers
    ctypedef struct pf_pool_stats:
        int workers
        int waiting
        int running
        int overseer
        size_t queued
    cdef enum:
        PF_POOL_QUEUED
        PF_POOL_START_WORKER
        PF_POOL_START_OVERSEER
    int pf_pool_init(pf_pool *p, int max_workers, int start_delay_ms, int overflow_ms)
    void pf_pool_destroy(pf_pool *p)
    int pf_pool_submit(pf_pool *p, void *item)
    void pf_pool_worker_failed(pf_pool *p)
    int pf_pool_take(pf_pool *p, int idle_ms, void **item)
    void pf_pool_done(pf_pool *p)
    int pf_pool_oversee(pf_pool *p, int idle_ms)
    void pf_pool_overseer_failed(pf_pool *p)
    int pf_pool_pop(pf_pool *p, void **item)
    void pf_pool_close(pf_pool *p)
    int pf_pool_after_fork(pf_pool *p)
    int pf_pool_join(pf_pool *p, int timeout_ms)
    void pf_pool_get_stats(pf_pool *p, pf_pool_stats *out)
