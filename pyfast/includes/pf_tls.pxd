# csrc/pf_tls.h: the message loop's TLS record layer (OpenSSL resolved at
# run time from the libssl CPython's _ssl loaded).
from libc.stdint cimport uint64_t


cdef extern from "pf_tls.h" nogil:
    ctypedef struct pf_tls:
        pass

    enum:
        PF_TLS_CLOSED

    int pf_tls_load(const char *hint, const char **why)
    const char *pf_tls_library_version()
    int pf_tls_ctx_check(void *ctx, uint64_t options, int verify_mode)
    void pf_tls_ctx_hold(void *ctx)
    void pf_tls_ctx_release(void *ctx)

    const char *pf_tls_reason(const pf_tls *t)
    int pf_tls_done(const pf_tls *t)
    const char *pf_tls_version(const pf_tls *t)
    const char *pf_tls_cipher(const pf_tls *t, const char **protocol, int *bits)
    void pf_tls_alpn(const pf_tls *t, const unsigned char **p, unsigned *len)
    long pf_tls_peer_cert(const pf_tls *t, unsigned char **der)
    int pf_tls_peer_verified(const pf_tls *t)
