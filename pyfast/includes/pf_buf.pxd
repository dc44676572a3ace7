# csrc/pf_buf.h: the one growable byte buffer.
cdef extern from "pf_buf.h" nogil:
    ctypedef struct pf_buf:
        unsigned char *data
        size_t start
        size_t end
        size_t cap
        size_t max
    void pf_buf_init(pf_buf *b, size_t max)
    void pf_buf_free(pf_buf *b)
    unsigned char *pf_buf_data(const pf_buf *b)
    size_t pf_buf_len(const pf_buf *b)
    int pf_buf_reserve(pf_buf *b, size_t n)
    void pf_buf_consume(pf_buf *b, size_t n)
    int pf_buf_append(pf_buf *b, const void *p, size_t n)
