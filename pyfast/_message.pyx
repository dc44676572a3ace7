# cython: language_level=3, boundscheck=False, wraparound=False
"""pyfast._message: message handlers on a C loop (csrc/pf_msgloop.c).

Thin by design.  MessageLoop.run() is serve_forever() for a server whose
RequestHandlerClass is a MessageHandler: it sleeps in pf_msgloop_poll()
without the GIL, takes the GIL once per batch and calls the handlers of
every message in it (on the loop's own thread: no hand-off, no context
switch), then goes back to C, which writes the queued replies.

Exceptions from handler hooks go to server.handle_error() and close that
connection only; BaseException (KeyboardInterrupt, SystemExit) ends
serve_forever() after every connection was closed.

The public face is pyfast.message (documentation, configuration).
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.pythread cimport PyThread_get_thread_ident
from libc.errno cimport EINTR, EINVAL, ENOMEM
from libc.string cimport memcpy

from pyfast.includes.system cimport *
from pyfast.includes.pf_common cimport *
from pyfast.includes.pf_frame cimport *
from pyfast.includes.pf_msgloop cimport *
from pyfast._core cimport (decode_address, raise_errno, timeout_ms, post_object, steal_posted,
                           release_posted)
from pyfast.includes.pf_proxy cimport pf_proxy_net
from pyfast._core cimport Board

import errno as _errno
import logging as _logging
import os as _os
import socket as _socket
import threading as _threading

log = _logging.getLogger("pyfast.message")
tls_log = _logging.getLogger("pyfast.tls")

include "_message_tls.pxi"

# What another thread asks the loop to do with a connection: the op of a
# pf_loop_msg posted into the loop's inbox (MessageLoop._post, with
# _core.post_object: its ptr is a Python object whose reference the poster
# gave away), handed back as a PF_MEV_INBOX event.
cdef enum:
    _SEND = PF_MOP_USER     # ptr (handler, bytes): queue the bytes as is (send())
    _SEND_FRAMED            # ptr (handler, bytes): queue them framed (send_message())
    _CLOSE                  # ptr handler: close once the output queued so far is written


cdef int _release_posted(pf_mevent *ev) noexcept:
    """An INBOX event that will not run: drop the reference it carries."""
    if ev.type == PF_MEV_INBOX:
        release_posted(ev.msg.ptr)
        ev.msg.ptr = NULL
    return 0


FRAMINGS = {"raw": PF_FRAME_RAW, "line": PF_FRAME_LINE, "len16": PF_FRAME_LEN16,
            "len32": PF_FRAME_LEN32, "fixed": PF_FRAME_FIXED}


class FramingError(ValueError):
    """A message over the limit (max_line, max_size): the connection was
    closed after the replies queued before it were written."""





cdef object close_reason(MessageLoop loop, int err, pf_mconn *conn):
    if err == 0 or err == PF_MCLOSE_SHUTDOWN:
        return None
    if err == PF_MCLOSE_TLS and pf_mconn_tls(conn) != NULL:
        import ssl
        return ssl.SSLError(_errno.EPROTO,
                            pf_tls_reason(pf_mconn_tls(conn)).decode(errors="replace"))
    if err == PF_MCLOSE_FRAMING:
        h = loop.handler_class
        if loop.mode == PF_FRAME_LINE:
            return FramingError(f"line longer than max_line ({h.max_line} bytes)")
        return FramingError(f"length header over max_size ({h.max_size} bytes)")
    if err == PF_MCLOSE_IDLE:
        return TimeoutError(f"idle for {loop.handler_class.idle_timeout} s")
    if err == PF_MCLOSE_MESSAGE:
        return TimeoutError(f"message not completed within message_timeout "
                            f"({loop.handler_class.message_timeout} s)")
    return OSError(-err, _os.strerror(-err))


cdef bytes _proxy_options(server, pf_msgloop_opts *o):
    """server's PROXY protocol attributes (pyfast.proxy) into o; returns
    the pf_proxy_net array o points to (None: any peer), which the loop
    keeps as long as it lives."""
    from pyfast import proxy
    cdef pf_proxy_net *nets
    cdef bytes arr = None
    cdef Py_ssize_t i
    o.proxy = 1
    o.proxy_ms = timeout_ms(server.proxy_timeout)
    o.proxy_max = server.proxy_max_length
    o.proxy_ntrusted = -1
    trusted = proxy.trusted_networks(server.proxy_trusted)
    if trusted is not None:
        arr = PyBytes_FromStringAndSize(NULL, max(1, len(trusted)) * sizeof(pf_proxy_net))
        nets = <pf_proxy_net *>PyBytes_AS_STRING(arr)
        for i, net in enumerate(trusted):
            packed = net.network_address.packed
            nets[i].family = _socket.AF_INET if net.version == 4 else _socket.AF_INET6
            nets[i].prefix = net.prefixlen
            memcpy(nets[i].addr, PyBytes_AS_STRING(packed), len(packed))
        o.proxy_trusted = nets
        o.proxy_ntrusted = len(trusted)
    return arr


cdef class MessageLoop:
    """The C message loop serving one server's listening socket.

    MessageLoop(server, handler_class, max_connections=-1, listen=True):
    reads the handler class's framing and limits; max_connections (int;
    None or 0: no limit; -1: the server's max_connections) caps this
    loop's connections.  run() until stop(), then close().

    Several loops, each run on its own thread, may serve one server: the
    one made with listen=True accepts and, after share_with(others), hands
    each new connection to the loop with the fewest (csrc/pf_msgloop.h).
    When server.admission is a pyfast._core.Board (a prefork worker's),
    the loops count their connections on it and the acceptor accepts only
    while it admits (least connections across the worker processes).
    """

    def __cinit__(self, server, handler_class, max_connections=-1, listen=True):
        cdef pf_msgloop_opts o
        pf_msgloop_opts_init(&o)
        h = handler_class
        framing = FRAMINGS.get(h.framing)
        if framing is None:
            raise ValueError(f"framing must be one of {sorted(FRAMINGS)}, not {h.framing!r}")
        self.mode = framing
        pf_frame_opts_init(&o.frame, self.mode)
        if self.mode == PF_FRAME_LINE:
            delim = bytes(h.delimiter)
            if not 1 <= len(delim) <= PF_FRAME_DELIM_MAX:
                raise ValueError("delimiter must be 1 to 8 bytes")
            memcpy(o.frame.delim, PyBytes_AS_STRING(delim), len(delim))
            o.frame.delim_len = len(delim)
            o.frame.keep_delim = bool(h.keep_delimiter)
            o.frame.max_size = h.max_line
            if not o.frame.keep_delim:
                memcpy(self.trailer, PyBytes_AS_STRING(delim), len(delim))
                self.trailer_len = len(delim)
        elif self.mode == PF_FRAME_FIXED:
            o.frame.fixed_size = h.message_size
        else:
            o.frame.max_size = h.max_size
        o.high_water = h.high_water
        o.low_water = h.low_water
        o.idle_ms = timeout_ms(h.idle_timeout)
        o.message_ms = _message_ms(h.message_timeout)
        mc = getattr(server, "max_connections", None) if max_connections == -1 else max_connections
        o.max_conns = mc if mc else 0
        o.nodelay = 1
        if getattr(server, "proxy_protocol", False):
            self.proxy_nets = _proxy_options(server, &o)
        admission = getattr(server, "admission", None)
        if isinstance(admission, Board):   # a worker's (pyfast.prefork)
            self.board = admission
            o.board = &(<Board>admission).b
        context = getattr(server, "ssl_context", None)
        if context is not None:
            o.tls_ctx = _ssl_ctx_of(context)
            o.handshake_ms = timeout_ms(getattr(server, "handshake_timeout", 10.0))
            self.ssl_context = context
        cdef int rc = pf_msgloop_init(&self.l, server.fileno() if listen else -1, &o)
        if rc < 0:
            if rc == -EINVAL:
                raise ValueError(f"bad message framing options on {h.__name__}"
                                 f" or proxy_max_length on the server")
            raise_errno(rc)
        self.inited = True
        self.server = server
        self.handler_class = handler_class
        self.lock = _threading.Lock()

    def __dealloc__(self):
        cdef int n, i
        if self.inited:
            if not self.shut:
                # Never shut down: release what other threads posted.
                n = pf_msgloop_close_inbox(&self.l)
                for i in range(n):
                    _release_posted(&self.l.ev[i])
            pf_msgloop_destroy(&self.l)
        PyMem_Free(self.peer_ptrs)

    def share_with(self, others):
        """Hand new connections to the loops in others (MessageLoops made
        with listen=False, run on other threads) as well as to this one.
        Before any of them runs.  All must stay open (not close()d) until
        every one has stopped."""
        cdef MessageLoop other
        cdef int i
        others = list(others)
        if not self.inited or self.peers is not None:
            raise ValueError("share_with() once, on an open MessageLoop")
        self.peer_ptrs = <pf_msgloop **>PyMem_Malloc(max(len(others), 1) * sizeof(pf_msgloop *))
        if self.peer_ptrs == NULL:
            raise MemoryError()
        for i, other in enumerate(others):
            if not other.inited:
                raise ValueError("share_with() a closed MessageLoop")
            self.peer_ptrs[i] = &other.l
            other.peers = [self]  # keeps the acceptor alive while it runs
        self.peers = others
        pf_msgloop_set_peers(&self.l, self.peer_ptrs, len(others))

    def wake(self):
        """End the loop's current wait.  Thread-safe."""
        with self.lock:
            if self.inited:
                pf_msgloop_wake(&self.l)

    def pause_accepting(self, bint paused):
        """paused=True: stop accepting from the loop's next cycle on (new
        clients stay in the listen backlog, for another worker process);
        open connections are served as before.  False: accept again.
        Thread-safe."""
        with self.lock:
            if self.inited:
                pf_msgloop_pause_accept(&self.l, paused)

    def stop(self):
        """Make run() return (after closing every connection).  Thread-safe."""
        self.stopping = True
        self.wake()

    @property
    def stats(self):
        """dict: connections (open now), accepting, accepted, closed,
        framing_errors, idle_closed, message_timeouts (connections closed
        by message_timeout), paused (times backpressure engaged),
        proxy_refused (connections closed for their PROXY header, before
        any handler: pyfast.proxy), tls_refused (TLS handshakes that
        failed or timed out: no handler ran), handshakes (TLS handshakes
        completed)."""
        if not self.inited:
            return {}
        return {"connections": self.l.nconns, "accepting": bool(self.l.accepting),
                "accepted": self.l.accepted, "closed": self.l.closed,
                "framing_errors": self.l.framing_errors,
                "idle_closed": self.l.idle_closed,
                "message_timeouts": self.l.message_timeouts, "paused": self.l.paused,
                "proxy_refused": self.l.proxy_refused,
                "tls_refused": self.l.tls_refused, "handshakes": self.l.handshakes}

    def run(self, poll_interval=0.5, should_stop=None, service_actions=True):
        """Serve until stop() (or should_stop() returns true after a
        wake-up).  Calls server.service_actions() about every
        poll_interval seconds (unless service_actions is false: the other
        loops of a server leave that to the first).  On the way out,
        writes what each connection has queued (up to server.drain_timeout
        seconds) and closes it."""
        if not self.inited:
            raise ValueError("MessageLoop is closed")
        cdef int ms = timeout_ms(poll_interval)
        cdef int n
        cdef long long last = pf_now_ms(), now
        service = self.server.service_actions if service_actions else _no_service
        self.thread_id = PyThread_get_thread_ident()
        if should_stop is not None and should_stop():
            self.stopping = True
        try:
            while not self.stopping:
                with nogil:
                    n = pf_msgloop_poll(&self.l, ms)
                if n < 0:
                    if n == -EINTR:
                        PyErr_CheckSignals()
                        continue
                    raise_errno(n)
                if n > 0:
                    self._dispatch(n)
                if n == 0 and should_stop is not None and should_stop():
                    break  # a wake-up (shutdown) or a timeout
                now = self.l.now   # pf_msgloop_poll's return time: no clock read here
                if n == 0 or now - last >= ms:
                    last = now
                    service()
        finally:
            self.shutdown()

    def close(self):
        """shutdown(), then free the loop."""
        try:
            self.shutdown()
        finally:
            with self.lock:
                if self.inited:
                    self.inited = False
                    pf_msgloop_destroy(&self.l)

    def shutdown(self):
        """Stop accepting and close every connection (finish() runs for
        each) after writing its queued output, waiting up to
        server.drain_timeout seconds in all.  Once; the loop stays
        allocated until close()."""
        cdef int n
        cdef int drain_ms
        if not self.inited or self.shut:
            return
        self.shut = True
        drain_ms = timeout_ms(getattr(self.server, "drain_timeout", 1.0))
        if drain_ms < 0:
            drain_ms = 0x7fffffff
        try:
            # What other threads posted so far runs first (their replies
            # are queued, then drained); later posts are refused.
            self._dispatch(pf_msgloop_close_inbox(&self.l))
        finally:
            with nogil:
                n = pf_msgloop_shutdown(&self.l, drain_ms)
            self._dispatch(n)

    cdef int _dispatch(self, int n) except -1:
        cdef int i = 0
        try:
            while i < n:
                self._dispatch_one(&self.l.ev[i])
                i += 1
        except BaseException:
            # KeyboardInterrupt, SystemExit...: leave, but first finish the
            # connections this batch reported closed (their memory is freed
            # by the next poll, and their handlers' finish() is owed).
            i += 1
            while i < n:
                if self.l.ev[i].type == PF_MEV_CLOSE:
                    try:
                        self._closed(self.l.ev[i].conn, self.l.ev[i].err)
                    except BaseException:
                        self._detach(self.l.ev[i].conn)
                else:
                    _release_posted(&self.l.ev[i])
                i += 1
            raise
        return 0

    cdef MessageHandler _detach(self, pf_mconn *conn):
        cdef MessageHandler h
        if conn.user == NULL:
            return None
        h = <MessageHandler>conn.user
        conn.user = NULL
        Py_DECREF(h)  # `h` still holds one
        h._conn = NULL
        return h

    cdef int _dispatch_one(self, pf_mevent *ev) except -1:
        cdef MessageHandler h
        cdef size_t elsewhere = 0
        if ev.type == PF_MEV_MSG:
            if ev.conn.user != NULL:
                elsewhere = (<MessageHandler>ev.conn.user)._foreign_out
            if not pf_msgloop_take(&self.l, ev, elsewhere):
                return 0  # closed earlier in this batch, or output above high_water
            h = <MessageHandler>ev.conn.user
            ev.conn.cork = ev.more
            msg = PyBytes_FromStringAndSize(<const char *>ev.data, <Py_ssize_t>ev.len)
            try:
                h.handle_message(msg)
            except Exception:
                self._failed(h)
        elif ev.type == PF_MEV_OPEN:
            self._open(ev.conn, decode_address(<const sockaddr *>ev.data, <socklen_t>ev.len))
        elif ev.type == PF_MEV_INBOX:
            item = steal_posted(ev.msg.ptr)
            ev.msg.ptr = NULL
            self._run_posted(ev.msg.op, item)
        elif ev.type == PF_MEV_REFUSED:
            # conn.tls is NULL while a PROXY header is read (pf_msgloop.h)
            if ev.conn.tls != NULL:
                if ev.err != PF_MCLOSE_SHUTDOWN:
                    _log_tls_refused(decode_address(<const sockaddr *>ev.data, <socklen_t>ev.len),
                                     ev.err, ev.reason.decode(errors="replace"))
            elif ev.err != PF_MCLOSE_SHUTDOWN:
                from pyfast import proxy
                proxy.log_refused(decode_address(<const sockaddr *>ev.data, <socklen_t>ev.len),
                                  ev.reason.decode("ascii"))
        else:
            self._closed(ev.conn, ev.err)
        return 0

    cdef int _open(self, pf_mconn *conn, object address) except -1:
        cdef MessageHandler h
        try:
            h = self.handler_class(address, self.server)
        except Exception:
            self.server.handle_error(None, address)
            pf_msgloop_close(&self.l, conn, 1)
            return 0
        h._conn = conn
        h._loop = self
        Py_INCREF(h)
        conn.user = <void *>h
        try:
            h.setup()
        except Exception:
            self._failed(h)
        return 0

    cdef int _closed(self, pf_mconn *conn, int err) except -1:
        cdef MessageHandler h = self._detach(conn)
        if h is None:
            return 0
        if h.close_reason is None:
            h.close_reason = close_reason(self, err, conn)
        if err == PF_MCLOSE_TLS and conn.tls != NULL:
            tls_log.info("closed TLS connection from %s: %s", h.client_address, h.close_reason)
        elif err == PF_MCLOSE_FRAMING:
            log.warning("closed connection from %s: %s", h.client_address, h.close_reason)
        elif err == PF_MCLOSE_MESSAGE:
            log.warning("closed connection from %s: %s", h.client_address, h.close_reason)
        elif err == PF_MCLOSE_IDLE:
            log.info("closed connection from %s: %s", h.client_address, h.close_reason)
        try:
            h.finish()
        except Exception:
            self.server.handle_error(h, h.client_address)
        return 0

    cdef int _failed(self, MessageHandler h) except -1:
        """In an except block: report, then close h's connection (after
        the replies queued before the error)."""
        exc = _sys_exc()
        try:
            self.server.handle_error(h, h.client_address)
        finally:
            if h.close_reason is None:
                h.close_reason = exc
            if h._conn != NULL:
                pf_msgloop_close(&self.l, h._conn, 0)
        return 0

    cdef int _run_posted(self, int op, object item) except -1:
        """A send or close that another thread asked for (_post)."""
        cdef MessageHandler h
        cdef bytes data = None
        if op == _CLOSE:
            h = item
        else:
            h, data = item
            with self.lock:
                h._foreign_out -= <size_t>PyBytes_GET_SIZE(data)
        if h._conn == NULL:
            return 0
        try:
            if op == _CLOSE:
                pf_msgloop_close(&self.l, h._conn, 0)
            else:
                self._send(h._conn, <const unsigned char *>PyBytes_AS_STRING(data),
                           <size_t>PyBytes_GET_SIZE(data), op == _SEND_FRAMED)
        except Exception:
            # e.g. MemoryError: that connection only, as a handler's error.
            self._failed(h)
        return 0

    cdef int _check_framed_size(self, size_t n) except -1:
        """ValueError when n bytes do not fit the length header."""
        cdef unsigned char hdr[8]
        if (self.mode == PF_FRAME_LEN16 or self.mode == PF_FRAME_LEN32) \
                and pf_frame_header(self.mode, n, hdr) < 0:
            raise ValueError(f"message of {n} bytes too long for a "
                             f"{'u16' if self.mode == PF_FRAME_LEN16 else 'u32'} length header")
        return 0

    cdef int _send(self, pf_mconn *conn, const unsigned char *p, size_t n,
                   bint framed) except -1:
        cdef iovec iov[3]
        cdef unsigned char hdr[8]
        cdef int cnt = 0, rc
        if framed and (self.mode == PF_FRAME_LEN16 or self.mode == PF_FRAME_LEN32):
            self._check_framed_size(n)
            rc = pf_frame_header(self.mode, n, hdr)
            iov[0].iov_base = hdr
            iov[0].iov_len = <size_t>rc
            cnt = 1
        iov[cnt].iov_base = <void *>p
        iov[cnt].iov_len = n
        cnt += 1
        if framed and self.trailer_len:
            iov[cnt].iov_base = self.trailer
            iov[cnt].iov_len = self.trailer_len
            cnt += 1
        rc = pf_msgloop_send(&self.l, conn, iov, cnt)
        # C constants: `-_errno.ENOMEM` would be a module attribute lookup
        # and a negation (about 400 instructions) on every send.
        if rc == -ENOMEM:
            raise MemoryError()
        return 0

    cdef bint _post(self, MessageHandler h, bytes data, int op) except -1:
        """Hand op on h's connection to the loop's thread through the
        loop's inbox (pf_loop_post; the item's reference goes with it);
        False if the loop is shut down or gone."""
        item = h if op == _CLOSE else (h, data)
        with self.lock:
            if (not self.inited or self.shut
                    or post_object(pf_msgloop_loop(&self.l), op, item, 0) < 0):
                return False
            if op != _CLOSE:  # counted against high_water until the loop queues it
                h._foreign_out += <size_t>PyBytes_GET_SIZE(data)
        return True


def _no_service():
    pass


def _message_ms(seconds):
    """message_timeout (None, or seconds > 0) in milliseconds (0: none)."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"message_timeout must be None or seconds, not {seconds!r}")
    if not 0 < seconds < 86400 * 24:
        raise ValueError(f"message_timeout must be None or 0 < seconds < 24 days, "
                         f"not {seconds!r}")
    return timeout_ms(seconds)


def _sys_exc():
    import sys
    return sys.exc_info()[1]


cdef _log_tls_refused(address, int err, str reason):
    """A TLS handshake that failed (REFUSED): as pyfast.tls logs the other
    models' (INFO for a TLS error, DEBUG for a client gone or too slow)."""
    if err == PF_MCLOSE_TLS:
        tls_log.info("TLS handshake with %s refused: %s", address, reason)
    else:
        tls_log.debug("TLS handshake with %s ended: %s", address, reason)


cdef class MessageHandler:
    """Base class of message handlers: see pyfast.message.MessageHandler."""

    # Framing (class attributes; see pyfast.message for their meaning).
    framing = "line"
    delimiter = b"\n"
    keep_delimiter = False
    max_line = 65536
    max_size = 65536
    message_size = 0
    # Backpressure and timeouts.
    high_water = 64 * 1024
    low_water = 16 * 1024
    idle_timeout = None
    message_timeout = None

    def __init__(self, client_address, server):
        self.client_address = client_address
        self.server = server

    @classmethod
    def pyfast_server_loop(cls, server):
        """The loop serve_forever() runs for this handler class
        (pyfast.socketserver's seam): a pyfast.message.MessageServerLoop."""
        from pyfast.message import MessageServerLoop
        return MessageServerLoop(server, cls)

    def setup(self):
        """Called once the connection is open, before its first message."""
        pass

    cpdef handle_message(self, message):
        """Called with each message (bytes), in order, never concurrently
        for one connection.  Override."""
        pass

    def finish(self):
        """Called once the connection is closed (self.close_reason says why:
        None for a clean close)."""
        pass

    cdef int send_bytes(self, const unsigned char *p, size_t n) except -1:
        """C-level send() for Cython subclasses (loop thread only)."""
        if self._conn != NULL:
            self._loop._send(self._conn, p, n, False)
        return 0

    cdef int send_message_bytes(self, const unsigned char *p, size_t n) except -1:
        """C-level send_message() for Cython subclasses (loop thread only)."""
        if self._conn != NULL:
            self._loop._send(self._conn, p, n, True)
        return 0

    cdef int _send_obj(self, object data, bint framed) except -1:
        cdef Py_buffer view
        if self._loop is None:
            raise RuntimeError("the connection is not open yet")
        if PyThread_get_thread_ident() != self._loop.thread_id:
            data = bytes(data)
            if framed:  # raise here, in the caller's thread, as on the loop thread
                self._loop._check_framed_size(<size_t>PyBytes_GET_SIZE(data))
            self._loop._post(self, data, _SEND_FRAMED if framed else _SEND)
            return 0
        if self._conn == NULL:
            return 0
        if type(data) is bytes:
            self._loop._send(self._conn, <const unsigned char *>PyBytes_AS_STRING(data),
                             <size_t>PyBytes_GET_SIZE(data), framed)
            return 0
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._loop._send(self._conn, <const unsigned char *>view.buf,
                             <size_t>view.len, framed)
        finally:
            PyBuffer_Release(&view)
        return 0

    def send(self, data):
        """Queue data (a bytes-like object) as is; never blocks.  From any
        thread.  Ignored once the connection is closed."""
        self._send_obj(data, False)

    def send_message(self, data):
        """Queue data framed as the handler's messages are: with the length
        header (len16/len32) or the delimiter appended (line, unless
        keep_delimiter); as send() otherwise."""
        self._send_obj(data, True)

    def close(self):
        """Close the connection once the output queued so far is written.
        No more messages are handled.  From any thread."""
        if self._loop is None:
            return
        if PyThread_get_thread_ident() != self._loop.thread_id:
            self._loop._post(self, None, _CLOSE)
        elif self._conn != NULL:
            pf_msgloop_close(&self._loop.l, self._conn, 0)

    @property
    def closed(self):
        """True once close() was called or the connection is gone."""
        return self._conn == NULL or not pf_mconn_active(self._conn)

    @property
    def queued(self):
        """Bytes of output queued and not yet written (loop thread); over
        TLS, plaintext bytes."""
        return pf_mconn_queued(self._conn) if self._conn != NULL else 0

    @property
    def tls(self):
        """The connection's TLS parameters (a pyfast.message.TLSInfo: its
        getpeercert(), version(), cipher(), selected_alpn_protocol()), or
        None on a plaintext server.  On the loop thread, once the
        connection is open (from setup() on); taken at the first read and
        kept after the connection closes."""
        if self._tls is None and self._conn != NULL and pf_mconn_tls(self._conn) != NULL:
            self._tls = _tls_info(pf_mconn_tls(self._conn), self._loop.ssl_context)
        return self._tls


cdef class EchoMessageHandler(MessageHandler):
    """Sends each message back, framed (a Cython cpdef handle_message: no
    Python call per message).  The benchmark's pyfast-cy row."""

    cpdef handle_message(self, message):
        self.send_message_bytes(<const unsigned char *>PyBytes_AS_STRING(message),
                                <size_t>PyBytes_GET_SIZE(message))
