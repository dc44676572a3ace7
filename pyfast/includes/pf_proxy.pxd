# csrc/pf_proxy.h: the PROXY protocol header parser.
from pyfast.includes.system cimport sockaddr_storage, socklen_t


cdef extern from "pf_proxy.h" nogil:
    enum:
        PF_PROXY_V1_MAX
        PF_PROXY_MAX_LEN
        PF_PROXY_DEFAULT_MAX
        PF_PROXY_CMD_LOCAL
        PF_PROXY_CMD_PROXY

    ctypedef struct pf_proxy_header:
        int version
        int command
        int family
        int socktype
        sockaddr_storage src
        sockaddr_storage dst
        socklen_t src_len
        socklen_t dst_len
        size_t length

    ctypedef struct pf_proxy:
        size_t max_len
        size_t have
        int err
        const char *reason
        pf_proxy_header hdr

    ctypedef struct pf_proxy_net:
        int family
        int prefix
        unsigned char addr[16]

    int pf_proxy_init(pf_proxy *p, size_t max_len)
    int pf_proxy_feed(pf_proxy *p, const unsigned char *data, size_t len, size_t *used)
    size_t pf_proxy_need(const pf_proxy *p)
