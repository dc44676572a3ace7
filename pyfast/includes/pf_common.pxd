# csrc/pf_common.h: clocks and descriptor flags.
from libc.stdint cimport int64_t

cdef extern from "pf_common.h" nogil:
    int64_t pf_now_ms()
    int64_t pf_now_ns()
    int pf_set_nonblocking(int fd, int on)
