# csrc/pf_board.h: least-connections admission among worker processes.
from libc.stdint cimport int64_t

cdef extern from "pf_board.h" nogil:
    ctypedef struct pf_board:
        int nslots
        int slack
        int self_ "self"
    int pf_board_open(pf_board *b, int nslots, int slack)
    void pf_board_close(pf_board *b)
    int pf_board_take(pf_board *b)
    void pf_board_free(pf_board *b, int slot)
    int pf_board_join(pf_board *b, int slot)
    int pf_board_admit(pf_board *b)
    void pf_board_opened(pf_board *b)
    void pf_board_closed(pf_board *b)
    void pf_board_leave(pf_board *b)
    int pf_board_fd(const pf_board *b)
    int pf_board_clear(pf_board *b)
    int64_t pf_board_count(const pf_board *b, int slot)
    int pf_board_gated(const pf_board *b, int slot)
