# csrc/pf_refserver.h: the C reference echo servers.
from libc.stdint cimport uint64_t

cdef extern from "pf_refserver.h" nogil:
    struct pf_ref_stats:
        uint64_t accepted
        uint64_t bytes
        uint64_t datagrams

    cdef enum pf_ref_mode:
        PF_REF_ECHO
        PF_REF_LINE
        PF_REF_ONCE

    int pf_ref_echo_tcp(int listen_fd, int mode, int stop_fd, pf_ref_stats *stats)
    int pf_ref_echo_udp(int fd, int stop_fd, pf_ref_stats *stats)
