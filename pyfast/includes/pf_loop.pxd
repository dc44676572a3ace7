# csrc/pf_loop.h: the one event-loop core (epoll, wake-up, timers, inbox).
from libc.stdint cimport uint32_t, uint64_t, int64_t
from pyfast.includes.pf_msgq cimport pf_loop_msg

cdef extern from "pf_loop.h" nogil:
    enum:
        PF_LOOP_TIMER
        PF_LOOP_WAKE
    uint64_t PF_LOOP_RESERVED_TAG
    ctypedef struct pf_loop_event:
        uint64_t tag
        uint32_t events
    ctypedef struct pf_loop:
        int epfd
        int wakefd
    int64_t pf_loop_now_ns()
    int64_t pf_loop_now_ms()
    int pf_loop_open(pf_loop *l, int count_for_yield)
    void pf_loop_close(pf_loop *l)
    int pf_loop_add(pf_loop *l, int fd, uint32_t events, uint64_t tag)
    int pf_loop_mod(pf_loop *l, int fd, uint32_t events, uint64_t tag)
    int pf_loop_del(pf_loop *l, int fd)
    int pf_loop_timer_add(pf_loop *l, int64_t deadline_ns, uint64_t tag)
    int pf_loop_timer_cancel(pf_loop *l, int id, uint64_t tag)
    int pf_loop_timer_count(const pf_loop *l)
    int64_t pf_loop_timer_next(const pf_loop *l)
    int pf_loop_wake(pf_loop *l)
    int pf_loop_post(pf_loop *l, const pf_loop_msg *m)
    size_t pf_loop_take(pf_loop *l, pf_loop_msg *out, size_t max)
    size_t pf_loop_inbox_len(pf_loop *l)
    size_t pf_loop_inbox_close(pf_loop *l)
    int pf_loop_wait(pf_loop *l, int timeout_ms, pf_loop_event *out, int max)
    void pf_loop_yield()
