# HTTP header blocks, read by SocketReader.read_header_block (csrc/pf_httphdr.h).

cdef list _header_fields(const unsigned char *p, size_t n):
    """(name, value) str tuples of the plain header block p[0, n), which
    pf_hdr_scan_next() has checked (every line PF_HDR_FIELD, the last one
    blank)."""
    cdef list out = []
    cdef const unsigned char *nl
    cdef size_t k
    cdef pf_hdr_field f
    while n > 0:
        nl = <const unsigned char *>memchr(p, b'\n', n)
        if nl == NULL:
            break
        k = <size_t>(nl - p) + 1
        if pf_hdr_line(p, k, &f) != PF_HDR_FIELD:
            break
        out.append((PyUnicode_DecodeLatin1(<const char *>p, f.name_len, NULL),
                    PyUnicode_DecodeLatin1(<const char *>p + f.value_start,
                                           f.value_end - f.value_start, NULL)))
        p += k
        n -= k
    return out


def header_block_fields(bytes block):
    """(name, value) str tuples of block, a whole HTTP header block as
    http.client's header reader returns it (its lines joined, the blank
    line last), when every line is plain (csrc/pf_httphdr.h: pf_hdr_line);
    None otherwise, for the stdlib's parser.  For pyfast.http.headers, on
    files that are not a SocketReader (a TLS socket's rfile)."""
    cdef const unsigned char *p = <const unsigned char *>block
    cdef size_t n = <size_t>len(block)
    cdef size_t consume = 0
    cdef pf_hdr_scan s
    pf_hdr_scan_init(&s)
    # The reader has applied http.client's limits already.
    if (pf_hdr_scan_next(&s, p, n, PF_HDR_LIMIT_MAX, PF_HDR_LIMIT_MAX, &consume) == PF_HDR_END
            and s.plain and consume == n):
        return _header_fields(p, s.pos)
    return None
