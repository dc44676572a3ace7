# csrc/pf_hub.h: a cooperative hub's loop (epoll, timers, wake-up).
from libc.stdint cimport uint32_t, uint64_t, int64_t

cdef extern from "pf_hub.h" nogil:
    uint32_t PF_HUB_TIMER
    uint32_t PF_HUB_WAKE
    ctypedef struct pf_hub_event:
        uint64_t tag
        uint32_t events
    ctypedef struct pf_hub:
        int epfd
        int wakefd
    int64_t pf_hub_now_ns()
    int pf_hub_open(pf_hub *h)
    void pf_hub_close(pf_hub *h)
    int pf_hub_add(pf_hub *h, int fd, uint32_t events, uint64_t tag)
    int pf_hub_mod(pf_hub *h, int fd, uint32_t events, uint64_t tag)
    int pf_hub_del(pf_hub *h, int fd)
    int pf_hub_timer_add(pf_hub *h, int64_t deadline_ns, uint64_t tag)
    int pf_hub_timer_cancel(pf_hub *h, int id, uint64_t tag)
    int pf_hub_timer_count(const pf_hub *h)
    int pf_hub_wake(pf_hub *h)
    int pf_hub_wait(pf_hub *h, int timeout_ms, pf_hub_event *out, int max)
    void pf_hub_yield()
