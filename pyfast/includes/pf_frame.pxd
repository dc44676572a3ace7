# csrc/pf_frame.h: message framing (lines, length prefixes, fixed size, raw).

cdef extern from "pf_frame.h" nogil:
    ctypedef enum pf_frame_mode:
        PF_FRAME_RAW
        PF_FRAME_LINE
        PF_FRAME_LEN16
        PF_FRAME_LEN32
        PF_FRAME_FIXED
    enum:
        PF_FRAME_DELIM_MAX
        PF_FRAME_HDR_MAX
    ctypedef struct pf_frame_opts:
        pf_frame_mode mode
        size_t max_size
        size_t fixed_size
        unsigned char delim[8]
        size_t delim_len
        int keep_delim
    ctypedef struct pf_framer:
        pf_frame_opts o
    void pf_frame_opts_init(pf_frame_opts *o, pf_frame_mode mode)
    int pf_frame_header(pf_frame_mode mode, size_t payload_len, unsigned char *hdr)
