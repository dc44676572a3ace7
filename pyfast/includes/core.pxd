# C declarations of csrc/ used by pyfast._core.
from libc.stdint cimport uint32_t, uint64_t, int64_t


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass
    struct sockaddr_storage:
        pass


cdef extern from "<netinet/in.h>" nogil:
    struct sockaddr_in:
        pass
    enum:
        MSG_DONTWAIT
        MSG_PEEK
        SOCK_NONBLOCK


cdef extern from "<poll.h>" nogil:
    enum:
        POLLIN
        POLLOUT


cdef extern from "<sys/epoll.h>" nogil:
    enum:
        EPOLLIN
        EPOLLOUT


cdef extern from "pf_common.h" nogil:
    int64_t pf_now_ms()
    int64_t pf_now_ns()
    int pf_set_nonblocking(int fd, int on)


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


cdef extern from "pf_listen.h" nogil:
    ctypedef struct pf_listener:
        int fd
        int reserve_fd
        unsigned long shed
    int pf_listener_init(pf_listener *l, int fd)
    void pf_listener_close(pf_listener *l)
    int pf_listener_accept(pf_listener *l, int flags, sockaddr *addr,
                           socklen_t *addrlen)


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


cdef extern from "pf_buf.h" nogil:
    ctypedef struct pf_buf:
        unsigned char *data
        size_t cap
        size_t start
        size_t end
        size_t max
    size_t pf_buf_len(const pf_buf *b)
    unsigned char *pf_buf_data(const pf_buf *b)
    void pf_buf_free(pf_buf *b)
    int pf_buf_reserve(pf_buf *b, size_t n)
    void pf_buf_consume(pf_buf *b, size_t n)
    int pf_buf_append(pf_buf *b, const void *p, size_t n)


cdef extern from "pf_stream.h" nogil:
    ssize_t pf_buf_recv(pf_buf *b, int fd, size_t want, int flags)
    ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
    ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags)
    int pf_wait_fd(int fd, short events, int timeout_ms)


cdef extern from "pf_addr.h" nogil:
    ctypedef struct pf_addr_info:
        int family
        char host[64]
        int port
        uint32_t flowinfo
        uint32_t scope_id
        const char *path
        int path_len
    int pf_addr_decode(const sockaddr *addr, socklen_t len, pf_addr_info *out)


cdef extern from "pf_dgram.h" nogil:
    ctypedef struct pf_dgram_batch:
        int max
        size_t slot
    int pf_dgram_batch_init(pf_dgram_batch *b, int max, size_t slot)
    void pf_dgram_batch_free(pf_dgram_batch *b)
    int pf_dgram_recv_batch(pf_dgram_batch *b, int fd)
    const unsigned char *pf_dgram_data(const pf_dgram_batch *b, int i)
    size_t pf_dgram_len(const pf_dgram_batch *b, int i)
    const sockaddr *pf_dgram_addr(const pf_dgram_batch *b, int i)
    socklen_t pf_dgram_addrlen(const pf_dgram_batch *b, int i)
    uint64_t pf_dgram_addr_key(const pf_dgram_batch *b, int i)
    uint64_t pf_dgram_ipv4_key(const sockaddr_in *sin)
    ctypedef struct pf_dgram_outq:
        int max
        int n
        int sent
    int pf_dgram_outq_init(pf_dgram_outq *q, int max, size_t cap)
    void pf_dgram_outq_free(pf_dgram_outq *q)
    int pf_dgram_outq_add(pf_dgram_outq *q, const void *buf, size_t len,
                          const sockaddr *addr, socklen_t addrlen)
    int pf_dgram_outq_send(pf_dgram_outq *q, int fd, int flags)
    void pf_dgram_outq_skip(pf_dgram_outq *q)
    const sockaddr *pf_dgram_outq_addr(const pf_dgram_outq *q, int i)
    socklen_t pf_dgram_outq_addrlen(const pf_dgram_outq *q, int i)
    size_t pf_dgram_outq_len(const pf_dgram_outq *q, int i)
    int pf_dgram_ipv4(const char *host, long port, sockaddr_in *out)
    ssize_t pf_dgram_sendto(int fd, const void *buf, size_t len, int flags,
                            const sockaddr *addr, socklen_t addrlen)


cdef extern from "pf_httphdr.h" nogil:
    enum:
        PF_HDR_MORE
        PF_HDR_END
        PF_HDR_LONG
        PF_HDR_MANY
        PF_HDR_BLANK
        PF_HDR_FIELD
        PF_HDR_OTHER
    size_t PF_HDR_LIMIT_MAX
    ctypedef struct pf_hdr_scan:
        size_t pos
        size_t lines
        int plain
    ctypedef struct pf_hdr_field:
        size_t name_len
        size_t value_start
        size_t value_end
    void pf_hdr_scan_init(pf_hdr_scan *s)
    int pf_hdr_scan_next(pf_hdr_scan *s, const unsigned char *buf, size_t len,
                         size_t maxline, size_t maxlines, size_t *consume)
    int pf_hdr_line(const unsigned char *p, size_t n, pf_hdr_field *f)
