# pyfast._message: TLS (included by _message.pyx).
#
# The loop's record layer is csrc/pf_tls.c: OpenSSL called from C on the
# loop's thread, on the SSL_CTX inside the user's ssl.SSLContext, through
# the libssl that CPython's _ssl module loaded (pf_tls_load resolves the
# functions at run time: no OpenSSL headers at build time, no second
# OpenSSL in the wheel).  Here: finding that SSL_CTX and checking it, and
# what a handler may ask of its connection (TLSInfo).

from cpython.object cimport PyObject
from libc.stdlib cimport free
from pyfast.includes.pf_tls cimport *

# OpenSSL's SSL_VERIFY_* for ssl.VerifyMode (CPython's _ssl sets them so).
_VERIFY_BITS = {0: 0, 1: 1, 2: 3}   # CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED


cdef void *_ssl_ctx_of(object context) except NULL:
    """The SSL_CTX * of context (an ssl.SSLContext), checked.

    CPython's PySSLContext (Modules/_ssl.c, 3.10 to 3.13) starts with
    PyObject_HEAD then SSL_CTX *ctx.  The pointer found there must answer
    SSL_CTX_get_options() and SSL_CTX_get_verify_mode() as context.options
    and context.verify_mode say, else RuntimeError: this interpreter's
    SSLContext is laid out otherwise.  Contexts whose OpenSSL callbacks
    call back into Python with the connection's ssl.SSLSocket
    (sni_callback, keylog_filename, _msg_callback) cannot be served by the
    C loop: ValueError."""
    import ssl
    import sys
    import _ssl
    cdef const char *why = NULL
    cdef int rc
    cdef void *ctx
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {context!r}")
    if not (3, 10) <= sys.version_info[:2] <= (3, 13):
        raise RuntimeError(f"TLS on message servers is checked against CPython 3.10-3.13's "
                           f"SSLContext layout, not {sys.version.split()[0]}'s")
    if context.sni_callback is not None:
        raise ValueError("ssl_context.sni_callback is not supported on message servers "
                         "(it is called with an ssl.SSLSocket the C loop does not have)")
    if getattr(context, "keylog_filename", None):
        raise ValueError("ssl_context.keylog_filename is not supported on message servers")
    if getattr(context, "_msg_callback", None) is not None:
        raise ValueError("ssl_context._msg_callback is not supported on message servers")
    hint = _ssl.__file__.encode()
    rc = pf_tls_load(hint, &why)
    if rc < 0:
        raise RuntimeError(f"TLS on message servers needs OpenSSL as a shared library: "
                           f"{why.decode()}")
    ctx = (<void **>(<char *><PyObject *>context + sizeof(PyObject)))[0]
    if ctx == NULL or pf_tls_ctx_check(ctx, <uint64_t>int(context.options),
                                       _VERIFY_BITS[int(context.verify_mode)]) < 0:
        raise RuntimeError("could not find the SSL_CTX of this ssl.SSLContext "
                           "(an SSLContext laid out otherwise than CPython 3.10-3.13's)")
    return ctx


cdef object _tls_info(const pf_tls *t, object context):
    """What the handler may read of its TLS connection (TLSInfo)."""
    cdef unsigned char *der = NULL
    cdef long n
    cdef const char *proto = NULL
    cdef int bits = 0
    cdef const unsigned char *alpn = NULL
    cdef unsigned alpn_len = 0
    cdef const char *name
    if t == NULL or not pf_tls_done(t):
        return None
    n = pf_tls_peer_cert(t, &der)
    if n < 0:
        raise_errno(<int>n)
    try:
        cert = PyBytes_FromStringAndSize(<const char *>der, n) if n > 0 else None
    finally:
        free(der)
    name = pf_tls_cipher(t, &proto, &bits)
    cipher = (name.decode(), proto.decode() if proto != NULL else None, bits) \
        if name != NULL else None
    pf_tls_alpn(t, &alpn, &alpn_len)
    from pyfast.message import TLSInfo
    return TLSInfo(version=pf_tls_version(t).decode(), cipher=cipher,
                   alpn=alpn[:alpn_len].decode() if alpn_len else None,
                   peer_cert_der=cert, verified=bool(pf_tls_peer_verified(t)),
                   context=context)
