# csrc/pf_stream.h: non-blocking socket I/O into and out of buffers.
from pyfast.includes.pf_buf cimport pf_buf

cdef extern from "pf_stream.h" nogil:
    ssize_t pf_buf_recv(pf_buf *b, int fd, size_t want, int flags)
    ssize_t pf_sock_recv(int fd, void *buf, size_t len, int flags)
    ssize_t pf_sock_send(int fd, const void *buf, size_t len, int flags)
    int pf_wait_fd(int fd, short events, int timeout_ms)
