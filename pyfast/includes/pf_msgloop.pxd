# csrc/pf_msgloop.h: the message loop (C framing, queued replies).
from libc.stdint cimport int64_t, uint64_t
from pyfast.includes.system cimport iovec
from pyfast.includes.pf_frame cimport pf_frame_opts
from pyfast.includes.pf_loop cimport pf_loop
from pyfast.includes.pf_msgq cimport pf_loop_msg
from pyfast.includes.pf_proxy cimport pf_proxy_net
from pyfast.includes.pf_board cimport pf_board
from pyfast.includes.pf_tls cimport pf_tls

cdef extern from "pf_msgloop.h" nogil:
    enum:
        PF_MEV_OPEN
        PF_MEV_MSG
        PF_MEV_CLOSE
        PF_MEV_INBOX
        PF_MOP_CONN
        PF_MOP_USER
        PF_MEV_REFUSED
        PF_MCLOSE_FRAMING
        PF_MCLOSE_IDLE
        PF_MCLOSE_MESSAGE
        PF_MCLOSE_SHUTDOWN
        PF_MCLOSE_TLS
        PF_MCLOSE_HANDSHAKE
    ctypedef struct pf_mconn:
        int fd
        void *user
        int cork
        void *tls          # struct pf_mtls *: non-NULL on a TLS loop
    ctypedef struct pf_mevent:
        int type
        int more
        int err
        pf_mconn *conn
        const unsigned char *data
        size_t len
        pf_loop_msg msg
        const char *reason
    ctypedef struct pf_msgloop_opts:
        pf_frame_opts frame
        size_t high_water
        size_t low_water
        int idle_ms
        int message_ms
        int max_conns
        int nodelay
        int proxy
        int proxy_ms
        size_t proxy_max
        const pf_proxy_net *proxy_trusted
        int proxy_ntrusted
        pf_board *board
        void *tls_ctx
        int handshake_ms
    ctypedef struct pf_msgloop:
        pf_mevent *ev
        int nconns
        int64_t now            # pf_now_ms() when pf_msgloop_poll returned
        int accepting
        uint64_t accepted
        uint64_t closed
        uint64_t framing_errors
        uint64_t idle_closed
        uint64_t message_timeouts
        uint64_t proxy_refused
        uint64_t tls_refused
        uint64_t handshakes
        uint64_t paused
    void pf_msgloop_opts_init(pf_msgloop_opts *o)
    int pf_msgloop_init(pf_msgloop *l, int listen_fd, const pf_msgloop_opts *o)
    void pf_msgloop_set_peers(pf_msgloop *l, pf_msgloop **peers, int n)
    void pf_msgloop_destroy(pf_msgloop *l)
    int pf_msgloop_wake(pf_msgloop *l)
    int pf_msgloop_pause_accept(pf_msgloop *l, int paused)
    pf_loop *pf_msgloop_loop(pf_msgloop *l)
    int pf_msgloop_close_inbox(pf_msgloop *l)
    int pf_msgloop_poll(pf_msgloop *l, int timeout_ms)
    int pf_msgloop_take(pf_msgloop *l, const pf_mevent *e, size_t extra)
    int pf_msgloop_send(pf_msgloop *l, pf_mconn *c, const iovec *iov, int iovcnt)
    void pf_msgloop_close(pf_msgloop *l, pf_mconn *c, int abort)
    int pf_msgloop_shutdown(pf_msgloop *l, int drain_ms)
    size_t pf_mconn_queued(const pf_mconn *c)
    int pf_mconn_active(const pf_mconn *c)
    pf_tls *pf_mconn_tls(const pf_mconn *c)
