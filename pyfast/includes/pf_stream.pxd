# csrc/pf_stream.h: byte buffers and non-blocking socket I/O.
cdef extern from "pf_stream.h" nogil:
    ctypedef struct pf_bytes:
        unsigned char *data
        size_t cap
        size_t start
        size_t end
    ctypedef pf_bytes pf_rbuf
    ctypedef pf_bytes pf_wbuf
    size_t pf_bytes_len(const pf_bytes *b)
    unsigned char *pf_bytes_head(const pf_bytes *b)
    void pf_bytes_free(pf_bytes *b)
    int pf_bytes_reserve(pf_bytes *b, size_t want, size_t first)
    void pf_bytes_consume(pf_bytes *b, size_t n)
    int pf_bytes_append(pf_bytes *b, const void *src, size_t n)
    ssize_t pf_rbuf_fill(pf_rbuf *b, int fd, size_t want, int flags)
    ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
    ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags)
    int pf_wait_fd(int fd, short events, int timeout_ms)
