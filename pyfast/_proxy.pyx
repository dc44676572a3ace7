# cython: language_level=3, boundscheck=False, wraparound=False
"""pyfast._proxy: the PROXY protocol header parser (csrc/pf_proxy.c).

Thin: HeaderParser feeds bytes to pf_proxy_feed() and turns its result
into Python (addresses in the socket module's shape, errors into
ProxyProtocolError).  The public face, with the server attributes and the
per-connection step, is pyfast.proxy.
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE

from pyfast.includes.system cimport sockaddr
from pyfast.includes.pf_proxy cimport *
from pyfast._core cimport decode_address

import errno as _errno

# Limits (bytes), as csrc/pf_proxy.h.
V1_MAX_LENGTH = PF_PROXY_V1_MAX
MAX_LENGTH = PF_PROXY_MAX_LEN
DEFAULT_MAX_LENGTH = PF_PROXY_DEFAULT_MAX

_KINDS = {_errno.ENOMSG: "missing", _errno.EPROTO: "malformed",
          _errno.EMSGSIZE: "oversized"}


class ProxyProtocolError(ValueError):
    """A connection's PROXY protocol header is missing, malformed or too
    long.  ``kind`` is "missing" (the first bytes are not a header),
    "malformed" or "oversized"; str() is the reason."""

    def __init__(self, reason, kind):
        super().__init__(reason)
        self.kind = kind


cdef class HeaderParser:
    """Parses one connection's PROXY protocol header (v1 or v2), fed in
    as many pieces as the bytes arrive.

    HeaderParser(max_length=0): max_length (bytes) bounds the header, v2
    TLVs included, in [V1_MAX_LENGTH, MAX_LENGTH]; 0 means
    DEFAULT_MAX_LENGTH.  ValueError otherwise.
    """

    cdef pf_proxy p

    def __init__(self, Py_ssize_t max_length=0):
        if max_length < 0 or pf_proxy_init(&self.p, <size_t>max_length) < 0:
            raise ValueError(f"max_length must be 0 or in [{PF_PROXY_V1_MAX}, "
                             f"{PF_PROXY_MAX_LEN}] bytes, not {max_length}")

    def feed(self, data):
        """Feed the next bytes (a bytes-like object).

        Returns None while the header is incomplete (every byte fed so far
        is header), else the number of bytes of data that end it (the rest
        of data is the client's).  Raises ProxyProtocolError when the
        header is missing, malformed or over max_length (as soon as that
        is known; again on every later call)."""
        cdef Py_buffer view
        cdef size_t used = 0
        cdef int rc
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            rc = pf_proxy_feed(&self.p, <const unsigned char *>view.buf,
                               <size_t>view.len, &used)
        finally:
            PyBuffer_Release(&view)
        if rc == 1:
            return used
        if rc == 0:
            return None
        raise ProxyProtocolError(self.p.reason.decode("ascii"),
                                 _KINDS.get(-rc, "malformed"))

    @property
    def need(self):
        """The fewest bytes still to be fed before the header can be
        complete (0 once it is, or after an error)."""
        return pf_proxy_need(&self.p)

    @property
    def done(self):
        """True once the whole header was fed."""
        return self.p.err == 0 and self.p.hdr.length != 0

    @property
    def length(self):
        """Bytes of the header (TLVs included); 0 until done."""
        return self.p.hdr.length

    @property
    def version(self):
        """1 (text) or 2 (binary); 0 until done."""
        return self.p.hdr.version

    @property
    def local(self):
        """True when the header carries no client address to use (v1
        UNKNOWN, v2 LOCAL, v2 UNSPEC family or transport): the
        connection's own addresses stand."""
        return self.done and self.p.hdr.src_len == 0

    @property
    def source(self):
        """The real client's address in the socket module's shape
        ((host, port) for IPv4, (host, port, 0, 0) for IPv6, a path for
        AF_UNIX), or None (not done, or local)."""
        if not self.done or self.p.hdr.src_len == 0:
            return None
        return decode_address(<const sockaddr *>&self.p.hdr.src, self.p.hdr.src_len)

    @property
    def destination(self):
        """The address the client connected to (the proxy's listening
        address), in the same shape as source, or None."""
        if not self.done or self.p.hdr.dst_len == 0:
            return None
        return decode_address(<const sockaddr *>&self.p.hdr.dst, self.p.hdr.dst_len)
