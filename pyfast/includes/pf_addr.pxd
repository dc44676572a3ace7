# csrc/pf_addr.h: socket addresses decoded for Python.
from libc.stdint cimport uint32_t
from pyfast.includes.system cimport sockaddr, socklen_t

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
