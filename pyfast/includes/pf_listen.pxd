# csrc/pf_listen.h: accept4() with EMFILE handling.
from pyfast.includes.system cimport sockaddr, socklen_t

cdef extern from "pf_listen.h" nogil:
    ctypedef struct pf_listener:
        int fd
        int reserve_fd
        unsigned long shed
    int pf_listener_init(pf_listener *l, int fd)
    void pf_listener_close(pf_listener *l)
    int pf_listener_accept(pf_listener *l, int flags, sockaddr *addr,
                           socklen_t *addrlen)
