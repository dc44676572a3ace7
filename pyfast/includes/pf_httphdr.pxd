# csrc/pf_httphdr.h: HTTP header block scanning.
cdef extern from "pf_httphdr.h" nogil:
    enum:
        PF_HDR_MORE
        PF_HDR_END
        PF_HDR_LONG
        PF_HDR_MANY
        PF_HDR_BLANK
        PF_HDR_FIELD
        PF_HDR_OTHER
    size_t PF_HDR_LIMIT_MAX
    ctypedef struct pf_hdr_scan:
        size_t pos
        size_t lines
        int plain
    ctypedef struct pf_hdr_field:
        size_t name_len
        size_t value_start
        size_t value_end
    void pf_hdr_scan_init(pf_hdr_scan *s)
    int pf_hdr_scan_next(pf_hdr_scan *s, const unsigned char *buf, size_t len,
                         size_t maxline, size_t maxlines, size_t *consume)
    int pf_hdr_line(const unsigned char *p, size_t n, pf_hdr_field *f)
