# SocketReader / SocketWriter: StreamRequestHandler's rfile and wfile,
# buffered in C, and sock_sendall (csrc/pf_stream.h).

cdef int wait_fd(int fd, short events, int64_t deadline_ms) except -1:
    """Block without the GIL until fd is ready for events (POLLIN/POLLOUT),
    up to deadline_ms (pf_now_ms() clock, milliseconds; < 0: no limit).
    A signal runs Python's handlers and the wait resumes (PEP 475).
    TimeoutError when the deadline passes, OSError when poll fails."""
    cdef int ms, rc
    cdef int64_t left
    while True:
        ms = -1
        if deadline_ms >= 0:
            left = deadline_ms - pf_now_ms()
            ms = 0 if left <= 0 else <int>min(left, 0x7fffffff)
        with nogil:
            rc = pf_wait_fd(fd, events, ms)
        if rc == -EINTR:
            PyErr_CheckSignals()
            continue
        if rc < 0:
            raise_errno(rc)
        if rc == 0:
            raise TimeoutError("timed out")
        return 0


cdef class _SocketStream:
    """What SocketReader and SocketWriter share: the socket, its fd, the
    socket's timeout, one call at a time (a lock, as io's buffered files
    have), closing as socket.SocketIO does (the socket's fd is closed only
    when the socket and every file made from it are closed), and what
    io.BufferedIOBase says of a socket file (not seekable: tell, seek,
    truncate and detach raise io.UnsupportedOperation)."""
    def __cinit__(self, sock, *args, **kwargs):
        self.fd = sock.fileno()
        if self.fd < 0:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        self.sock = sock
        sock._io_refs += 1

    def __dealloc__(self):
        pf_buf_free(&self.buf)
        if self.wake != NULL:
            PyThread_free_lock(self.wake)

    cdef int _check_open(self) except -1:
        if self.is_closed:
            raise ValueError("I/O operation on closed file.")
        return 0

    cdef int _enter(self) except -1:
        """Begin a call: the file is open and this thread's call is the
        one under way (end it with _release).  A call made while another
        thread's is under way (e.g. blocked in recv or send on a full
        socket) waits for it to end, without the GIL, Python's signal
        handlers running meanwhile: writes are never interleaved, reads
        never share the buffer, as with io.BufferedReader/BufferedWriter
        (and as socket.sendall's callers expect).  A call from the thread
        whose call is under way (a signal handler using the file) raises
        RuntimeError, as io's "reentrant call".

        Uncontended, this is a test and a store under the GIL, no atomic
        operation: owner changes only with the GIL held."""
        cdef unsigned long me = self._caller()
        self._check_open()
        if self.owner != 0:
            if self.owner == me:
                raise RuntimeError(f"reentrant call inside {self!r}")
            self._wait_turn()
        self.owner = me
        if self.is_closed:
            # Closed by another thread while this one waited.
            self._release()
            raise ValueError("I/O operation on closed file.")
        return 0

    cdef unsigned long _caller(self):
        return PyThread_get_thread_ident()

    cdef int _wait_turn(self) except -1:
        """Sleep (without the GIL) until no call is under way."""
        cdef int rc
        if self.wake == NULL:
            self.wake = PyThread_allocate_lock()
            if self.wake == NULL:
                raise MemoryError()
            PyThread_acquire_lock(self.wake, NOWAIT_LOCK)   # taken: waiters sleep
        self.waiters += 1
        try:
            while self.owner != 0:
                with nogil:
                    rc = PyThread_acquire_lock_timed(self.wake, -1, 1)
                if rc != PY_LOCK_ACQUIRED:
                    PyErr_CheckSignals()
                # Woken by _release (or a signal, or a wake-up meant for a
                # waiter that left): another thread may have started a call
                # first, then wait again.
        finally:
            self.waiters -= 1
        return 0

    cdef int _release(self) except -1:
        """End a call begun with _enter: wakes a waiting thread; completes
        a close() that came meanwhile from another thread."""
        self.owner = 0
        if self.waiters:
            PyThread_release_lock(self.wake)
        if self.close_deferred:
            self.close_deferred = False
            self.sock._decref_socketios()
        return 0

    cdef int _leave(self) except -1:
        """After a section without the GIL: ValueError if another thread
        closed the file meanwhile (close() does not wait for a call)."""
        if self.is_closed:
            raise ValueError("I/O operation on closed file.")
        return 0

    cdef int _wait(self, short events, int64_t *deadline) except -1:
        """Block (without the GIL) until fd is ready for events or the
        socket's timeout passes (TimeoutError); BlockingIOError for a
        non-blocking socket.  *deadline: -2 before the first wait of an
        operation, then its absolute deadline (ms, -1: none), so that the
        timeout holds for the whole operation."""
        cdef int ms
        if deadline[0] == -2:
            timeout = self.sock.gettimeout()
            if timeout == 0:
                raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
            ms = timeout_ms(timeout)
            deadline[0] = -1 if ms < 0 else pf_now_ms() + ms
        return wait_fd(self.fd, events, deadline[0])

    def fileno(self):
        self._check_open()
        return self.fd

    @property
    def name(self):
        """The socket's descriptor (int), as a socket.makefile() file's name."""
        return self.fd

    @property
    def closed(self):
        return self.is_closed

    def isatty(self):
        self._check_open()
        return False

    def seekable(self):
        self._check_open()
        return False

    cdef object _unsupported(self, str what):
        """io.UnsupportedOperation(what), or ValueError on a closed file."""
        self._check_open()
        raise _io.UnsupportedOperation(what)

    def tell(self):
        """io.UnsupportedOperation (open or closed): a socket has no position."""
        raise _io.UnsupportedOperation("seek")

    def seek(self, pos, whence=0):
        """io.UnsupportedOperation: a socket is not seekable."""
        return self._unsupported("File or stream is not seekable.")

    def truncate(self, pos=None):
        """io.UnsupportedOperation, as for any socket file."""
        return self._unsupported("truncate")

    def detach(self):
        """io.UnsupportedOperation: there is no raw stream to hand over (the
        buffer is in C), as socketserver's own wfile."""
        raise _io.UnsupportedOperation("detach")

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Flush (a writer) and close; the socket's descriptor is closed
        when the socket and its other files are.  Called while another
        thread's call is under way, it does not wait: that call raises
        ValueError once its recv/send returns, and completes the close."""
        if self.is_closed:
            return
        if self.owner != 0:
            # A call is under way: it completes the close (_release); the
            # buffer is freed with the object.
            self.is_closed = True
            self.close_deferred = True
            return
        self.owner = self._caller()
        try:
            self._before_close()
        finally:
            self.is_closed = True
            pf_buf_free(&self.buf)
            self._release()
            self.sock._decref_socketios()

    cdef int _before_close(self) except -1:
        return 0


cdef class SocketReader(_SocketStream):
    """rfile of StreamRequestHandler: a buffered binary reader over a socket,
    with the methods of io.BufferedReader that socketserver and http.server
    use (read, read1, readinto, readline, readlines, peek, iteration).

    SocketReader(sock, bufsize=-1): sock is a socket.socket (its timeout is
    honoured: TimeoutError after sock.gettimeout() seconds without data);
    bufsize (bytes) is how much one recv asks for, io.DEFAULT_BUFFER_SIZE
    when < 1.  Made by RequestSocket.makefile('rb').
    """
    def __init__(self, sock, Py_ssize_t bufsize=-1):
        self.bufsize = <size_t>bufsize if bufsize > 0 else DEFAULT_BUFFER_SIZE
        self.mode = "rb"

    def readable(self):
        self._check_open()
        return True

    def writable(self):
        return False

    def write(self, data):
        """io.UnsupportedOperation, as a socket.makefile('rb') file."""
        return self._unsupported("write")

    def writelines(self, lines):
        return self._unsupported("write")

    cdef Py_ssize_t _fill(self, size_t want) except -1:
        """One recv into the buffer: bytes read, 0 at end of stream."""
        cdef Py_ssize_t n
        cdef int64_t left = -2
        if want < self.bufsize:
            want = self.bufsize
        if self.before_read is not None:
            self.before_read()
        while True:
            with nogil:
                n = pf_buf_recv(&self.buf, self.fd, want, 0)
            self._leave()
            if n >= 0:
                return n
            if n == -EINTR:
                PyErr_CheckSignals()
            elif n == -EAGAIN:
                # The socket has a timeout (Python made the fd non-blocking).
                self._wait(POLLIN, &left)
            else:
                raise_errno(n)

    cdef bytes _take(self, size_t n):
        cdef size_t avail = pf_buf_len(&self.buf)
        if n > avail:
            n = avail
        out = PyBytes_FromStringAndSize(<char *>pf_buf_data(&self.buf), n)
        pf_buf_consume(&self.buf, n)
        return out

    cdef bytes _readline(self, Py_ssize_t limit):
        # The caller holds the lock (_enter).
        cdef size_t scanned = 0, avail
        cdef const unsigned char *head
        cdef const void *hit
        while True:
            avail = pf_buf_len(&self.buf)
            if limit >= 0 and avail > <size_t>limit:
                avail = <size_t>limit
            if avail > scanned:
                # Only the bytes not searched yet: a long line arriving in
                # many reads is scanned once.
                head = pf_buf_data(&self.buf)
                hit = memchr(head + scanned, b'\n', avail - scanned)
                if hit != NULL:
                    return self._take(<size_t>(<const unsigned char *>hit - head) + 1)
                scanned = avail
            if limit >= 0 and avail >= <size_t>limit:
                return self._take(<size_t>limit)
            if self._fill(0) == 0:
                return self._take(pf_buf_len(&self.buf))

    def readline(self, size=-1):
        """Read up to and including b'\\n', at most size bytes (size < 0 or
        None: no limit); b'' at end of stream."""
        cdef Py_ssize_t limit = -1 if size is None else size
        self._enter()
        try:
            return self._readline(limit)
        finally:
            self._release()

    def __iter__(self):
        self._check_open()
        return self

    def __next__(self):
        self._enter()
        try:
            line = self._readline(-1)
        finally:
            self._release()
        if not line:
            raise StopIteration
        return line

    def readlines(self, hint=-1):
        lines = []
        cdef Py_ssize_t total = 0, h = -1 if hint is None else hint
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < h <= total:
                break
        return lines

    def read(self, size=-1):
        """Read size bytes, fewer only at end of stream (size < 0 or None:
        until end of stream)."""
        cdef Py_ssize_t n = -1 if size is None else size
        self._enter()
        try:
            if n < 0:
                while self._fill(0) > 0:
                    pass
                return self._take(pf_buf_len(&self.buf))
            while pf_buf_len(&self.buf) < <size_t>n:
                if self._fill(<size_t>n - pf_buf_len(&self.buf)) == 0:
                    break
            return self._take(<size_t>n)
        finally:
            self._release()

    def read1(self, size=-1):
        """Return buffered bytes, or the result of at most one recv."""
        cdef Py_ssize_t n = -1 if size is None else size
        self._enter()
        try:
            if n == 0:
                return b""
            if pf_buf_len(&self.buf) == 0:
                self._fill(<size_t>n if n > 0 else 0)
            return self._take(<size_t>n if n > 0 else pf_buf_len(&self.buf))
        finally:
            self._release()

    def peek(self, size=0):
        """Buffered bytes without consuming them (one recv if none)."""
        self._enter()
        try:
            if pf_buf_len(&self.buf) == 0:
                self._fill(0)
            return PyBytes_FromStringAndSize(<char *>pf_buf_data(&self.buf),
                                             pf_buf_len(&self.buf))
        finally:
            self._release()

    def read_header_block(self, Py_ssize_t maxline, Py_ssize_t maxlines, bint fields=True):
        """Read an HTTP header block, as http.client's header reader would
        (pyfast.http.headers is the caller; see csrc/pf_httphdr.h).

        Lines are taken as readline(maxline + 1) takes them, up to and
        including a line that is exactly b"\\r\\n" or b"\\n"; the reading
        stops early, as http.client's does, after maxline + 1 bytes of a
        line longer than maxline (bytes, terminator included), after line
        maxlines + 1, or at end of stream.  Exactly the bytes that reader
        would have consumed are consumed.

        Returns a list of (name, value) str tuples (latin-1, value without
        its leading SP/HTAB and line terminator) when fields is true, the
        block ended with its blank line and every line is plain (see
        pf_hdr_line); otherwise the consumed bytes, for the stdlib's parser
        to parse (and raise LineTooLong / HTTPException on, as it would).
        maxline and maxlines: 0 to 2**31.  Raises ValueError for other
        limits, and what readline raises (TimeoutError, OSError...), after
        consuming the complete lines read so far, as readline would.
        """
        cdef pf_hdr_scan s
        cdef size_t consume = 0
        cdef int st
        if not (0 <= maxline <= <Py_ssize_t>PF_HDR_LIMIT_MAX
                and 0 <= maxlines <= <Py_ssize_t>PF_HDR_LIMIT_MAX):
            raise ValueError("header limits out of range")
        self._enter()
        try:
            pf_hdr_scan_init(&s)
            while True:
                st = pf_hdr_scan_next(&s, pf_buf_data(&self.buf), pf_buf_len(&self.buf),
                                      <size_t>maxline, <size_t>maxlines, &consume)
                if st != PF_HDR_MORE:
                    break
                try:
                    got = self._fill(0)
                except BaseException:
                    pf_buf_consume(&self.buf, s.pos)
                    raise
                if got == 0:
                    # End of stream: what is left (a partial line) is the rest
                    # of what readline would return.
                    return self._take(pf_buf_len(&self.buf))
            if st == PF_HDR_END and s.plain and fields:
                out = _header_fields(pf_buf_data(&self.buf), s.pos)
                pf_buf_consume(&self.buf, consume)
                return out
            return self._take(consume)
        finally:
            self._release()

    def readinto(self, b):
        """Read into a writable buffer; returns the number of bytes (0 at end)."""
        with memoryview(b) as view, view.cast("B") as mv:
            data = self.read(len(mv))
            mv[:len(data)] = data
            return len(data)

    def readinto1(self, b):
        with memoryview(b) as view, view.cast("B") as mv:
            data = self.read1(len(mv))
            mv[:len(data)] = data
            return len(data)

    def flush(self):
        self._check_open()


cdef class SocketWriter(_SocketStream):
    """wfile of StreamRequestHandler: a binary writer over a socket.

    SocketWriter(sock, bufsize=0): bufsize 0 writes through (each write()
    is sent before it returns, as socketserver's unbuffered wfile);
    bufsize > 0 (bytes) or < 0 (io.DEFAULT_BUFFER_SIZE) keeps writes in a
    C buffer until it holds bufsize bytes, flush() or close(), as
    io.BufferedWriter.  A send that completes at once keeps the GIL (one
    send(MSG_DONTWAIT)); one that must wait releases it.  The socket's
    timeout is honoured (TimeoutError).  Errors: BrokenPipeError,
    ConnectionResetError... as socket.sendall raises them.
    """
    def __init__(self, sock, Py_ssize_t bufsize=0):
        if bufsize < 0:
            self.limit = DEFAULT_BUFFER_SIZE
        else:
            self.limit = <size_t>bufsize
        self.mode = "wb"

    def readable(self):
        return False

    def writable(self):
        self._check_open()
        return True

    def read(self, size=-1):
        """io.UnsupportedOperation, as socketserver's wfile."""
        return self._unsupported("read")

    def read1(self, size=-1):
        return self._unsupported("read1")

    def readinto(self, b):
        return self._unsupported("read")

    def readinto1(self, b):
        return self._unsupported("read1")

    def readline(self, size=-1):
        return self._unsupported("read")

    def readlines(self, hint=-1):
        return self._unsupported("read")

    def __iter__(self):
        self._check_open()
        return self

    def __next__(self):
        return self._unsupported("read")

    cdef int _send_all(self, const unsigned char *p, size_t n) except -1:
        """Send n bytes: first without waiting (GIL kept), then blocking
        without the GIL for what the socket did not take."""
        cdef Py_ssize_t r
        cdef int64_t left = -2
        # The caller holds the lock (_enter); p may point into self.buf,
        # which close() from another thread leaves in place meanwhile.
        try:
            while n > 0:
                with nogil:
                    r = pf_sock_send(self.fd, p, n, MSG_DONTWAIT)
                if r == -EAGAIN:
                    self._wait(POLLOUT, &left)
                    continue
                if r < 0:
                    raise_errno(r)
                p += r
                n -= <size_t>r
        finally:
            self._leave()
        return 0

    cdef int _flush_buf(self) except -1:
        cdef size_t n = pf_buf_len(&self.buf)
        if n == 0:
            return 0
        # Consume before sending: on error the data is dropped, as a failed
        # sendall leaves nothing to retry.
        try:
            self._send_all(pf_buf_data(&self.buf), n)
        finally:
            pf_buf_consume(&self.buf, n)
        return 0

    def write(self, data):
        """Write a bytes-like object; returns its length in bytes.

        One write() at a time: a write from another thread waits (without
        the GIL) until this one has returned, so the bytes of one call are
        never interleaved with another's, as with socket.sendall."""
        cdef size_t n
        cdef Py_buffer view
        self._enter()
        try:
            if type(data) is bytes and self.limit == 0:
                # The common case (wfile.write(line)) without a buffer export.
                n = <size_t>PyBytes_GET_SIZE(data)
                self._flush_buf()
                self._send_all(<const unsigned char *>PyBytes_AS_STRING(data), n)
                return n
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            n = <size_t>view.len
            try:
                if self.limit == 0 or (pf_buf_len(&self.buf) == 0 and n >= DIRECT_WRITE):
                    self._flush_buf()
                    self._send_all(<const unsigned char *>view.buf, n)
                else:
                    if pf_buf_append(&self.buf, view.buf, n) < 0:
                        raise MemoryError()
                    if pf_buf_len(&self.buf) >= self.limit:
                        self._flush_buf()
            finally:
                PyBuffer_Release(&view)
            return n
        finally:
            self._release()

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        """Send what is buffered (blocking as needed)."""
        self._enter()
        try:
            self._flush_buf()
        finally:
            self._release()

    cdef int _before_close(self) except -1:
        self._flush_buf()
        return 0


# What io.BufferedIOBase promises, they keep (see _SocketStream): code that
# checks isinstance(f, io.BufferedIOBase) takes them as the stdlib's.
_io.BufferedIOBase.register(SocketReader)
_io.BufferedIOBase.register(SocketWriter)


def sock_sendall(sock, data, int flags=0):
    """socket.socket.sendall(data, flags) on a plain socket's descriptor,
    keeping the GIL while the socket takes the data at once.

    CPython's sendall releases the GIL around every send(2); with many
    threads each release is a GIL hand-off (futex wake-ups and a context
    switch to get it back).  Here each send(2) is MSG_DONTWAIT with the
    GIL held, and only a full socket waits, without the GIL, as
    SocketWriter does.  sock: a socket.socket (fileno() and, when it must
    wait, gettimeout() are used); data: a bytes-like object.  Returns None.
    Raises as socket.sendall: OSError subclasses (BrokenPipeError,
    ConnectionResetError...), TimeoutError when sock.gettimeout() seconds
    pass for the whole call, BlockingIOError for a non-blocking socket that
    is full (part of data may have been sent, as there).
    """
    cdef int fd = sock.fileno()
    if fd < 0:
        raise OSError(_errno.EBADF, "Bad file descriptor")
    cdef Py_buffer view
    cdef const unsigned char *p
    cdef size_t n
    cdef Py_ssize_t r
    cdef int ms
    cdef int64_t deadline = -2
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const unsigned char *>view.buf
        n = <size_t>view.len
        while True:
            r = pf_sock_send(fd, p, n, flags | MSG_DONTWAIT)
            if r == -EAGAIN:
                if deadline == -2:
                    timeout = sock.gettimeout()
                    if timeout == 0:
                        raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
                    ms = timeout_ms(timeout)
                    deadline = -1 if ms < 0 else pf_now_ms() + ms
                wait_fd(fd, POLLOUT, deadline)
                continue
            if r < 0:
                raise_errno(r)
            p += r
            n -= <size_t>r
            if n == 0:
                return None
    finally:
        PyBuffer_Release(&view)
