# pyfast._message: declarations for Cython subclasses of MessageHandler
# (cimport pyfast._message; override handle_message as a cpdef method).
from pyfast.includes.pf_frame cimport pf_frame_mode
from pyfast.includes.pf_msgloop cimport pf_msgloop, pf_mconn, pf_mevent


cdef class MessageLoop:
    cdef pf_msgloop l
    cdef bint inited
    cdef bint shut
    cdef pf_msgloop **peer_ptrs
    cdef object peers
    cdef bint stopping
    cdef readonly object server
    cdef readonly object handler_class
    cdef object lock
    cdef unsigned long thread_id
    cdef pf_frame_mode mode
    cdef unsigned char trailer[8]
    cdef size_t trailer_len
    cdef bytes proxy_nets       # pf_proxy_net[] of server.proxy_trusted
    cdef object board           # server.admission when a pyfast._core.Board (o.board)
    cdef object ssl_context     # server.ssl_context (TLS), or None

    cdef int _dispatch(self, int n) except -1
    cdef int _dispatch_one(self, pf_mevent *ev) except -1
    cdef MessageHandler _detach(self, pf_mconn *conn)
    cdef int _open(self, pf_mconn *conn, object address) except -1
    cdef int _closed(self, pf_mconn *conn, int err) except -1
    cdef int _failed(self, MessageHandler h) except -1
    cdef int _run_posted(self, int op, object item) except -1
    cdef int _check_framed_size(self, size_t n) except -1
    cdef int _send(self, pf_mconn *conn, const unsigned char *p, size_t n,
                   bint framed) except -1
    cdef bint _post(self, MessageHandler h, bytes data, int op) except -1


cdef class MessageHandler:
    cdef pf_mconn *_conn
    cdef MessageLoop _loop
    cdef readonly object client_address
    cdef readonly object server
    cdef public object close_reason
    cdef size_t _foreign_out  # bytes other threads sent, not yet queued in C (loop.lock)
    cdef object _tls          # TLSInfo, made on first use (MessageHandler.tls)

    cpdef handle_message(self, message)
    cdef int send_bytes(self, const unsigned char *p, size_t n) except -1
    cdef int send_message_bytes(self, const unsigned char *p, size_t n) except -1
    cdef int _send_obj(self, object data, bint framed) except -1


cdef class EchoMessageHandler(MessageHandler):
    pass
