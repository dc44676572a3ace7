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
