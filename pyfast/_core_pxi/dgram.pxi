# DatagramReceiver and datagram_sendto: recvmmsg batches, sendmmsg replies
# (csrc/pf_dgram.h).

cdef class DatagramReceiver:
    """recvmmsg(2) on a datagram socket's descriptor, datagrams handed out
    one at a time; replies queued for sendmmsg(2) while dispatch() runs.

    DatagramReceiver(fd, max_packet_size, batch=64).  When none is pending,
    next() and dispatch() read the datagrams already queued on fd (up to
    batch, without waiting), each truncated to max_packet_size bytes as
    recvfrom(max_packet_size) would.  The batch buffers total at most 1 MiB
    (fewer slots for a large max_packet_size).  An IPv4 sender's address
    tuple is decoded once and reused while the sender keeps sending.
    """
    cdef pf_dgram_batch b
    cdef int fd
    cdef int n          # datagrams in the last batch
    cdef int next_i     # the next one to hand out
    cdef dict addrs     # pf_dgram_addr_key -> address tuple
    cdef bint inited
    # Replies (dispatch(batch_replies=True)): queued while q_sock is set.
    cdef pf_dgram_outq q
    cdef bint q_inited
    cdef object q_sock
    cdef int q_fd
    cdef unsigned long q_thread
    cdef int64_t q_first_ns

    def __cinit__(self, int fd, Py_ssize_t max_packet_size, int batch=64):
        if max_packet_size < 1:
            raise ValueError("max_packet_size must be at least 1")
        cdef Py_ssize_t fit = (1 << 20) // max_packet_size
        if batch > fit:
            batch = <int>fit if fit > 0 else 1
        cdef int rc = pf_dgram_batch_init(&self.b, batch, <size_t>max_packet_size)
        if rc < 0:
            raise_errno(rc)
        self.inited = True
        self.fd = fd
        self.addrs = {}

    def __dealloc__(self):
        if self.inited:
            pf_dgram_batch_free(&self.b)
        if self.q_inited:
            pf_dgram_outq_free(&self.q)

    @property
    def fd(self):
        return self.fd

    @property
    def max_packet_size(self):
        return self.b.slot

    @property
    def pending(self):
        """Datagrams received and not yet handed out."""
        return self.n - self.next_i

    @property
    def queued_replies(self):
        """Replies queued and not yet sent."""
        return self.q.n - self.q.sent if self.q_inited else 0

    cdef int _fill(self) except -2:
        """Read a batch unless some are pending: how many are pending
        after, 0 when none was queued (EAGAIN); OSError for another error."""
        if self.next_i < self.n:
            return self.n - self.next_i
        self.n = self.next_i = 0
        cdef int n = pf_dgram_recv_batch(&self.b, self.fd)
        if n == -EAGAIN:
            return 0
        if n < 0:
            raise_errno(n)
        self.n = n
        return n

    cdef object _address(self, int i):
        cdef uint64_t key = pf_dgram_addr_key(&self.b, i)   # 0: not cached
        if key != 0:
            addr = self.addrs.get(key)
            if addr is not None:
                return addr
        addr = decode_address(pf_dgram_addr(&self.b, i), pf_dgram_addrlen(&self.b, i))
        if key != 0:
            if len(self.addrs) >= 1024:
                self.addrs.clear()
            self.addrs[key] = addr
        return addr

    cdef tuple _take(self):
        cdef int i = self.next_i
        self.next_i = i + 1
        return (PyBytes_FromStringAndSize(<const char *>pf_dgram_data(&self.b, i),
                                          <Py_ssize_t>pf_dgram_len(&self.b, i)),
                self._address(i))

    def next(self):
        """(data, address) of the next datagram; BlockingIOError when none
        is pending or queued."""
        if self._fill() == 0:
            raise_errno(-EAGAIN)
        return self._take()

    def dispatch(self, server, sock, handler_class, bint batch_replies=False,
                 should_stop=None):
        """Handle the pending datagrams (reading a batch first if none is)
        as socketserver.BaseServer._handle_request_noblock does for a server
        whose verify_request, process_request, finish_request and
        shutdown_request are socketserver's own: handler_class((data, sock),
        address, server) for each, an Exception going to
        server.handle_error(request, address).  Stops early once
        should_stop() returns true after a handler (server.shutdown() was
        called); the rest stay pending.  Returns how
        many were handled (0 when none was queued); OSError when reading
        fails.

        batch_replies: sock is a pyfast.socketserver.DatagramSocket whose
        timeout is None; while the handlers run, its sendto() from this
        thread queues IPv4 replies (see datagram_sendto), sent with
        sendmmsg(2) when the handlers have run, when the queue is full, and
        once a reply has waited _REPLY_DELAY_NS when a handler returns.
        """
        cdef int handled = 0
        if self._fill() == 0:
            return 0
        cdef bint batching = batch_replies and self._start_replies(sock)
        try:
            while self.next_i < self.n:
                data, address = self._take()
                request = (data, sock)
                handled += 1
                try:
                    handler_class(request, address, server)
                except Exception:
                    server.handle_error(request, address)
                if (batching and self.q.n > self.q.sent
                        and pf_now_ns() - self.q_first_ns >= _REPLY_DELAY_NS):
                    self.flush_replies()
                if should_stop is not None and should_stop():
                    break
        finally:
            if batching:
                self.q_sock = None
                sock._pf_replies = None
                self._flush()
        return handled

    cdef bint _start_replies(self, sock) except -1:
        if sock.gettimeout() is not None:
            return False
        cdef int rc
        if not self.q_inited:
            rc = pf_dgram_outq_init(&self.q, _REPLY_SLOTS, _REPLY_BYTES)
            if rc < 0:
                raise_errno(rc)
            self.q_inited = True
        self.q_fd = sock.fileno()
        self.q_thread = PyThread_get_thread_ident()
        self.q_sock = sock
        sock._pf_replies = self
        return True

    cdef Py_ssize_t _queue(self, sock, int fd, data, const sockaddr_in *addr,
                           socklen_t addrlen) except -2:
        """Queue data for addr (an IPv4 sockaddr_in) if sock's replies are
        being queued by this thread and addr has sent to this socket lately
        (its decoded address is cached): its length when queued, else -1
        (after sending those queued, so that the caller's own send keeps
        the order).  A send to anyone else goes out at once, with
        socket.sendto's errors."""
        if sock is not self.q_sock or PyThread_get_thread_ident() != self.q_thread:
            return -1
        if pf_dgram_ipv4_key(<const sockaddr_in *>addr) not in self.addrs:
            self._flush()
            return -1
        cdef Py_buffer view
        cdef Py_ssize_t size = 0
        cdef int rc = -EMSGSIZE
        if fd == self.q_fd:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                size = view.len
                if view.len <= _MAX_UDP4:
                    rc = pf_dgram_outq_add(&self.q, view.buf, <size_t>view.len,
                                           <const sockaddr *>addr, addrlen)
                    if rc == -ENOBUFS:
                        self._flush()
                        rc = pf_dgram_outq_add(&self.q, view.buf, <size_t>view.len,
                                               <const sockaddr *>addr, addrlen)
            finally:
                PyBuffer_Release(&view)
        if rc == 0:
            if self.q.n - self.q.sent == 1:
                self.q_first_ns = pf_now_ns()
            return size
        self._flush()
        return -1

    def flush_replies(self):
        """Send the queued replies now, when called from the thread that
        queues them (else nothing: that thread sends them)."""
        if self.q_inited and PyThread_get_thread_ident() == self.q_thread:
            self._flush()

    cdef int _flush(self) except -1:
        """sendmmsg(2) the queued replies, without the GIL only if the
        socket is full; a reply that fails is logged (as an error, with its
        size and address) and the rest still go out."""
        cdef int rc
        cdef int i
        if not self.q_inited:
            return 0
        while self.q.n > self.q.sent:
            rc = pf_dgram_outq_send(&self.q, self.q_fd, MSG_DONTWAIT)
            if rc == -EAGAIN:
                with nogil:
                    rc = pf_dgram_outq_send(&self.q, self.q_fd, 0)
            if rc == 0:
                break
            i = self.q.sent
            _log.error("UDP reply of %d bytes to %r not sent: %s",
                       pf_dgram_outq_len(&self.q, i),
                       decode_address(pf_dgram_outq_addr(&self.q, i),
                                      pf_dgram_outq_addrlen(&self.q, i)),
                       OSError(-rc, _os.strerror(-rc)))
            pf_dgram_outq_skip(&self.q)
        return 0


def datagram_sendto(sock, data, *args):
    """socket.socket.sendto(data[, flags], address) for a UDPServer's
    socket (pyfast.socketserver.DatagramSocket: its _pf_ipv4 slot says it
    is AF_INET, its _pf_replies slot holds the DatagramReceiver queueing
    its replies, if any).

    A numeric IPv4 (host, port) address is packed in C.  While the
    server's dispatch() queues replies, a datagram of at most 65,507 bytes
    sent from the serving thread is queued (sent with sendmmsg(2) soon
    after; see DatagramReceiver.dispatch) and its length returned; else it
    is sent with the GIL held when the socket takes it at once.  Anything
    else (flags, a name to resolve, another family, a full socket that must
    wait or time out) first sends the queued replies, then goes to
    socket.socket.sendto itself, so results, exceptions and the
    "socket.sendto" audit event are the stdlib's.  Returns the number of
    bytes sent (or queued); raises OSError (errno as sendto(2)) as
    socket.sendto does.
    """
    cdef sockaddr_in sin
    cdef Py_buffer view
    cdef ssize_t n
    cdef int fd
    cdef Py_ssize_t queued
    replies = sock._pf_replies
    if len(args) == 1 and sock._pf_ipv4:
        address = args[0]
        if type(address) is tuple and len(address) == 2:
            host, port = address
            if (type(host) is str and PyUnicode_IS_ASCII(host)
                    and type(port) is int and 0 <= port <= 65535
                    and pf_dgram_ipv4(PyUnicode_AsUTF8(host), port, &sin) == 0):
                fd = sock.fileno()
                if fd >= 0:
                    PySys_Audit("socket.sendto", "OO", <PyObject *>sock, <PyObject *>address)
                    if replies is not None:
                        queued = (<DatagramReceiver>replies)._queue(
                            sock, fd, data, &sin, sizeof(sin))
                        if queued >= 0:
                            return queued
                    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                    n = pf_dgram_sendto(fd, view.buf, <size_t>view.len, 0,
                                        <sockaddr *>&sin, sizeof(sin))
                    PyBuffer_Release(&view)
                    if n >= 0:
                        return n
                    if n != -EAGAIN:
                        raise_errno(n)
    if replies is not None:
        (<DatagramReceiver>replies).flush_replies()
    return _std_sendto(sock, data, *args)
