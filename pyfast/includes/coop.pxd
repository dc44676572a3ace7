# C declarations of csrc/pf_hub.h (and the stream helpers) used by pyfast._coop.
from libc.stdint cimport uint32_t, uint64_t, int64_t


cdef extern from "<sys/socket.h>" nogil:
    enum:
        MSG_DONTWAIT


cdef extern from "<poll.h>" nogil:
    enum:
        POLLIN
        POLLOUT


cdef extern from "<sys/epoll.h>" nogil:
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLET


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


cdef extern from "pf_stream.h" nogil:
    ctypedef struct pf_bytes:
        unsigned char *data
        size_t cap
        size_t start
        size_t end
    size_t pf_bytes_len(const pf_bytes *b)
    unsigned char *pf_bytes_head(const pf_bytes *b)
    void pf_bytes_free(pf_bytes *b)
    int pf_bytes_reserve(pf_bytes *b, size_t want, size_t cap_limit)
    void pf_bytes_consume(pf_bytes *b, size_t n)
    int pf_bytes_append(pf_bytes *b, const void *src, size_t n)
    ssize_t pf_bytes_find(const pf_bytes *b, unsigned char c, size_t limit)
    ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
    ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags)
    int pf_wait_fd(int fd, short events, int timeout_ms)
