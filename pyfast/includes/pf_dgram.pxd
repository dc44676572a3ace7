# csrc/pf_dgram.h: recvmmsg batches and sendmmsg reply queues.
from libc.stdint cimport uint64_t
from pyfast.includes.system cimport sockaddr, sockaddr_in, socklen_t

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
