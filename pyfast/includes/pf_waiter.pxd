# csrc/pf_waiter.h: serve_forever()'s epoll set with an eventfd wake-up.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "pf_waiter.h" nogil:
    ctypedef struct pf_waiter:
        int epfd
        int wakefd
    uint64_t PF_WAITER_WAKE_TAG
    int pf_waiter_open(pf_waiter *w)
    void pf_waiter_close(pf_waiter *w)
    int pf_waiter_add(pf_waiter *w, int fd, uint32_t events, uint64_t tag)
    int pf_waiter_mod(pf_waiter *w, int fd, uint32_t events, uint64_t tag)
    int pf_waiter_del(pf_waiter *w, int fd)
    int pf_waiter_wake(pf_waiter *w)
    int pf_waiter_wait(pf_waiter *w, int timeout_ms, uint64_t *tags, int max)
