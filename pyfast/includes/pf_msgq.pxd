# csrc/pf_msgq.h: the item of cross-thread work (pf_loop's inbox, the pool).
from libc.stdint cimport uint64_t

cdef extern from "pf_msgq.h" nogil:
    ctypedef struct pf_loop_msg:
        int op
        void *ptr
        uint64_t arg
