# cython: language_level=3, boundscheck=False, wraparound=False
"""pyfast._coop: cooperative session handlers on C hubs.

Thin by design, as pyfast._core: the loop itself is csrc/pf_hub.c (epoll,
timers, eventfd wake-up); this module maps its events to greenlets.

Contents:
- Hub: one thread's loop.  ``run()`` (on the hub's thread) waits in
  pf_hub_wait() without the GIL and switches to the greenlets whose
  descriptors are ready, whose timers expired, or that another thread
  resumed (``resume()``, ``spawn()``: thread-safe, through the eventfd).
  ``end_idle()`` (graceful shutdown) ends the greenlets waiting for their
  client to send.  Within a batch of events, a greenlet that waits again
  switches straight to the next ready one (handoff) rather than back to
  the loop: one switch per ready greenlet instead of two.  Switches go through greenlet's
  C API (greenlet.h).
- Conn: the per-socket state: descriptor, edge-triggered readiness seen
  since the last recv/send, whether the peer's FIN or an error was
  reported, the greenlets waiting on it, the timeout.
- sock_recv, sock_recv_into, sock_send, sock_sendall: the methods of
  pyfast.cooperative.CooperativeSocket (bound as methods there).
- Reader / Writer: makefile('rb') / makefile('wb') of that socket, buffered
  in C, waiting on the hub.

Waits are "readiness first": a recv that returned less than it asked for
drained the socket, so the next recv switches to the hub before calling
recv(2) instead of paying a recv that fails with EAGAIN; the descriptor is
registered once, edge-triggered, so waiting costs no epoll_ctl either.
The edge that reports the last data may carry the peer's FIN or a reset
(EPOLLRDHUP/HUP/ERR) and is the last one: the Conn keeps that it came, and
a wait after it returns at once (the recv then gives b"" or the error).
A socket used from a thread that is not its hub's (or before it has a hub)
blocks that thread in poll(2) without the GIL instead.
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize,
                            PyBytes_GET_SIZE)
from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyObject, Py_TYPE, descrgetfunc
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_DECREF
from libc.errno cimport EAGAIN, EINTR
from libc.stdint cimport uint32_t, uint64_t, int64_t

from pyfast.includes.coop cimport *
from pyfast._core cimport SocketReader, SocketWriter, _SocketStream, raise_errno, wait_fd

import collections as _collections
import errno as _errno
import io as _io
import os as _os
import sys as _sys

from greenlet import GreenletExit

# Greenlets are created and switched through greenlet's C API (greenlet.h):
# a switch is a C call, not a method lookup and a Python call.
PyGreenlet_Import()
if _PyGreenlet_API == NULL:
    raise ImportError("pyfast._coop needs greenlet's C API (greenlet._C_API)")

cdef extern from "Python.h":
    PyObject *_bytes_new "PyBytes_FromStringAndSize"(const char *, Py_ssize_t)
    char *_bytes_str "PyBytes_AS_STRING"(PyObject *)
    int _PyBytes_Resize(PyObject **, Py_ssize_t) except -1
    void _decref_raw "Py_DECREF"(PyObject *)

cdef enum:
    _MAX_EVENTS = 256   # hub events taken per wait

cdef int _READ = 1
cdef int _WRITE = 2
cdef size_t DEFAULT_BUFFER_SIZE = _io.DEFAULT_BUFFER_SIZE
cdef size_t DIRECT_WRITE = 65536

# What the hub switches a waiting greenlet back with, and the argument
# tuples that carry them (PyGreenlet_Switch takes the arguments as a tuple).
cdef object _READY = True
cdef object _TIMEOUT = object()
cdef object _CLOSED = object()
cdef object _ENDED = object()
cdef tuple _READY_ARGS = (_READY,)
cdef tuple _TIMEOUT_ARGS = (_TIMEOUT,)
cdef tuple _CLOSED_ARGS = (_CLOSED,)
cdef tuple _ENDED_ARGS = (_ENDED,)


# What the inbox carries (Hub.inbox items are (kind, ...)).
cdef enum:
    _SPAWN = 0          # (kind, fn, args)
    _RESUME = 1         # (kind, greenlet, value)
    _STOP = 2           # (kind,)
    _CALL = 3           # (kind, fn, args)
    _WAKE_CLOSED = 4    # (kind, conn, greenlet, wait number)
    _END_IDLE = 5       # (kind,)

# thread ident -> the Hub whose loop runs on that thread.
_hubs = {}


cpdef Hub current_hub():
    """The Hub whose loop runs on this thread, or None."""
    return _hubs.get(PyThread_get_thread_ident())


cdef inline bint _drained(Py_ssize_t got, Py_ssize_t asked, int flags):
    """After a recv of got bytes (asked for asked): is the socket known to
    be empty, so that the next recv must wait for readiness first?  Not at
    end of stream (got 0: every later recv returns 0 at once) nor after
    MSG_PEEK (the bytes are still there)."""
    return 0 < got < asked and not (flags & MSG_PEEK)


cdef int _recv_failed(Conn c, Py_ssize_t n) except -1:
    """After a recv on c that returned n < 0 (a negative errno): on EAGAIN
    the socket is not readable (BlockingIOError if it is non-blocking), on
    EINTR the signal handlers run; returns 0 then, to try again.  Any other
    error is raised as OSError."""
    if n == -EAGAIN:
        c.readable = False
        if c.timeout == 0:
            raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
        return 0
    if n == -EINTR:
        PyErr_CheckSignals()
        return 0
    raise_errno(n)
    return 0


cdef inline int64_t deadline_of(double timeout):
    """Absolute deadline (ns) for a timeout in seconds; 0 for none (< 0)."""
    if timeout < 0:
        return 0
    return pf_hub_now_ns() + <int64_t>(timeout * 1e9)


cdef class Conn


cdef class Hub:
    """One hub: an epoll set, timers and a wake-up, run by one thread.

    Hub(name="pyfast-hub"); run() on the thread that is to be the hub
    (blocks until stop()); spawn(fn, *args) and resume(g, value) from any
    thread.  Properties read by the watchdog: busy (a greenlet or the
    dispatch is running, not the wait), last_ns (pf_hub_now_ns() when
    control last came back to the loop or passed from one greenlet to the
    next), thread_ident, current (the greenlet running now, or None).
    """
    cdef pf_hub h
    cdef bint is_open
    cdef readonly str name
    cdef readonly object loop
    cdef readonly unsigned long thread_ident
    cdef readonly bint busy
    cdef readonly int64_t last_ns
    cdef readonly bint stopping
    cdef readonly bint ending_idle   # end_idle() was called
    cdef readonly object current
    cdef dict conns
    cdef dict timers
    cdef uint64_t next_tag
    cdef uint64_t wait_seq  # numbers each wait on a Conn (see Conn.detach)
    cdef object inbox
    cdef readonly set tasks
    cdef readonly unsigned long switches
    # The batch of events being run: batch[batch_pos:batch_len] are still
    # to run; batch_conn is set while an fd event's write half is pending
    # (its read half ran).  handoff: a greenlet that waits resumes the next
    # one itself (see _suspend).  next_args: what _next_ready's greenlet is
    # to be resumed with.
    cdef pf_hub_event batch[_MAX_EVENTS]
    cdef int batch_len
    cdef int batch_pos
    cdef Conn batch_conn
    cdef bint handoff
    cdef PyObject *next_args

    def __cinit__(self, str name="pyfast-hub"):
        cdef int rc = pf_hub_open(&self.h)
        if rc < 0:
            raise_errno(rc)
        self.is_open = True
        self.name = name
        self.conns = {}
        self.timers = {}
        self.inbox = _collections.deque()
        self.tasks = set()
        self.next_tag = 1

    def __dealloc__(self):
        if self.is_open:
            pf_hub_close(&self.h)

    # ---- from any thread ----

    def spawn(self, fn, *args):
        """Run fn(*args) in a new greenlet on this hub.  Thread-safe.
        Exceptions that escape fn go to sys.excepthook."""
        if self.stopping or not self.is_open:
            raise RuntimeError("hub is stopped")
        self.inbox.append((_SPAWN, fn, args))
        pf_hub_wake(&self.h)

    def resume(self, g, value):
        """Switch to greenlet g (waiting in wait_resume()) with value.  Thread-safe."""
        self.inbox.append((_RESUME, g, value))
        if self.is_open:
            pf_hub_wake(&self.h)

    def call_soon(self, fn, *args):
        """Run fn(*args) in the hub's loop greenlet (must not wait).  Thread-safe."""
        self.inbox.append((_CALL, fn, args))
        if self.is_open:
            pf_hub_wake(&self.h)

    cdef int _wake_closed(self, Conn c, g, uint64_t seq) except -1:
        """Conn.detach(): resume g, waiting on c in wait number seq, with
        _CLOSED.  Thread-safe."""
        self.inbox.append((_WAKE_CLOSED, c, g, seq))
        if self.is_open:
            pf_hub_wake(&self.h)
        return 0

    def stop(self):
        """End run(): every greenlet still alive gets GreenletExit, then the
        loop returns.  Thread-safe; returns at once."""
        self.inbox.append((_STOP,))
        if self.is_open:
            pf_hub_wake(&self.h)

    def end_idle(self):
        """Graceful shutdown: every greenlet waiting to read (for its
        client to send) gets GreenletExit, and so does every greenlet that
        waits to read from then on; the others (sending, sleeping, waiting
        in run_in_thread) go on.  Thread-safe; returns at once."""
        self.inbox.append((_END_IDLE,))
        if self.is_open:
            pf_hub_wake(&self.h)

    @property
    def conn_count(self):
        return len(self.conns)

    # ---- on the hub's thread ----

    cdef int _switch(self, g, PyObject *args) except -1:
        """From the loop, switch to g with args (a tuple) until control
        comes back to the loop."""
        self.current = g
        try:
            PyGreenlet_Switch(<PyGreenlet *>g, args, NULL)
        except BaseException:
            # A greenlet's run() let an exception out; the task wrapper
            # normally prevents it.
            _sys.excepthook(*_sys.exc_info())
        finally:
            self.current = None
            self.switches += 1
            self.last_ns = pf_hub_now_ns()
        return 0

    def _task(self, job):
        try:
            fn, args = job
            del job
            fn(*args)
        except GreenletExit:
            pass
        except BaseException:
            _sys.excepthook(*_sys.exc_info())
        finally:
            self.tasks.discard(PyGreenlet_GetCurrent_obj())

    cdef int _drain_inbox(self) except -1:
        cdef object inbox = self.inbox
        cdef tuple args
        cdef Conn c
        while inbox:
            item = inbox.popleft()
            kind = item[0]
            if kind == _SPAWN:
                if self.stopping:
                    continue
                g = PyGreenlet_New_obj(self._task, <PyGreenlet *>self.loop)
                self.tasks.add(g)
                args = ((item[1], item[2]),)
                self._switch(g, <PyObject *>args)
            elif kind == _RESUME:
                g = item[1]
                if not g.dead:
                    args = (item[2],)
                    self._switch(g, <PyObject *>args)
            elif kind == _WAKE_CLOSED:
                # Conn.detach(): the socket was closed under greenlet g
                # waiting on it.  Only if g is still in that very wait
                # (same sequence number): by now it may have timed out and
                # be waiting on another socket, which must not see EBADF.
                c = item[1]
                g = item[2]
                if c.reader is g and c.reader_seq == <uint64_t>item[3]:
                    c.reader = None
                    self._switch(g, <PyObject *>_CLOSED_ARGS)
                elif c.writer is g and c.writer_seq == <uint64_t>item[3]:
                    c.writer = None
                    self._switch(g, <PyObject *>_CLOSED_ARGS)
            elif kind == _STOP:
                self.stopping = True
            elif kind == _END_IDLE:
                self.ending_idle = True
                for c in list(self.conns.values()):
                    g = c.reader
                    if g is not None:
                        c.reader = None
                        self._switch(g, <PyObject *>_ENDED_ARGS)
            elif kind == _CALL:
                try:
                    item[1](*item[2])
                except BaseException:
                    _sys.excepthook(*_sys.exc_info())
        return 0

    cdef object _next_ready(self):
        """Advance through the batch to the next greenlet that one of its
        fd events (read half, then write half) or expired timers resumes,
        and return it, self.next_args set to what it is resumed with.  None
        at the end of the batch and at the wake-up event, which is the
        loop's to handle.  Readiness is recorded whether or not a greenlet
        waits for it (edge-triggered)."""
        cdef pf_hub_event *e
        cdef uint32_t ev
        cdef Conn c
        while self.batch_pos < self.batch_len:
            e = &self.batch[self.batch_pos]
            ev = e.events
            if ev & PF_HUB_WAKE:
                return None
            if ev & PF_HUB_TIMER:
                self.batch_pos += 1
                g = self.timers.pop(e.tag, None)
                if g is not None and not g.dead:
                    self.next_args = <PyObject *>_TIMEOUT_ARGS
                    return g
                continue
            c = self.batch_conn
            if c is None:
                c = self.conns.get(<int>e.tag)
                if c is None:
                    self.batch_pos += 1
                    continue
                self.batch_conn = c
                if ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP):
                    c.readable = True
                    if ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
                        c.read_ended = True
                    g = c.reader
                    if g is not None:
                        c.reader = None
                        self.next_args = <PyObject *>_READY_ARGS
                        return g
            self.batch_conn = None
            self.batch_pos += 1
            if ev & (EPOLLOUT | EPOLLHUP | EPOLLERR):
                c.writable = True
                if ev & (EPOLLHUP | EPOLLERR):
                    c.write_ended = True
                g = c.writer
                if g is not None:
                    c.writer = None
                    self.next_args = <PyObject *>_READY_ARGS
                    return g
        return None

    cdef int _run_batch(self) except -1:
        """Run the batch in order: resume the greenlets its events are
        for, and drain the inbox at its wake-up event.  A greenlet resumed
        from here that waits again resumes the next one itself (handoff):
        n ready greenlets cost n + 1 switches instead of 2n.  Control comes
        back here at the end of the batch, before its wake-up event, or
        when a greenlet ends."""
        while self.batch_pos < self.batch_len:
            if self.batch[self.batch_pos].events & PF_HUB_WAKE:
                self.batch_pos += 1
                self._drain_inbox()
                continue
            g = self._next_ready()
            if g is not None:
                self.handoff = True
                try:
                    self._switch(g, self.next_args)
                finally:
                    self.handoff = False
        return 0

    cdef object _suspend(self):
        """Leave the running greenlet, which is about to wait: switch to
        the next greenlet of the batch (handoff), or else to the loop.
        Returns what the greenlet is resumed with."""
        cdef PyObject *args
        if self.handoff:
            g = self._next_ready()
            if g is not None:
                args = self.next_args
                self.current = g
                self.switches += 1
                self.last_ns = pf_hub_now_ns()
                return PyGreenlet_Switch(<PyGreenlet *>g, args, NULL)
        return PyGreenlet_Switch(<PyGreenlet *>self.loop, NULL, NULL)

    def run(self):
        """The loop: run on the hub's own thread; returns after stop()."""
        cdef int n
        if not self.is_open:
            raise RuntimeError("hub is closed")
        self.loop = PyGreenlet_GetCurrent_obj()
        self.thread_ident = PyThread_get_thread_ident()
        _hubs[self.thread_ident] = self
        try:
            while not self.stopping:
                self.busy = False
                with nogil:
                    n = pf_hub_wait(&self.h, -1, self.batch, _MAX_EVENTS)
                    pf_hub_yield()
                self.last_ns = pf_hub_now_ns()
                self.busy = True
                if n == -EINTR:
                    continue
                if n < 0:
                    raise_errno(n)
                self.batch_len = n
                self.batch_pos = 0
                self._run_batch()
            self._kill_all()
        finally:
            self.busy = False
            _hubs.pop(self.thread_ident, None)
            self.is_open = False
            pf_hub_close(&self.h)
            self.conns.clear()
            self.timers.clear()

    cdef int _kill_all(self) except -1:
        """GreenletExit into every task, a few rounds (a task's finally may
        wait once more: it is woken by its fd events meanwhile)."""
        cdef int rounds, n, i
        self.batch_len = self.batch_pos = 0
        self.batch_conn = None
        for rounds in range(3):
            for g in list(self.tasks):
                if not g.dead:
                    self.current = g
                    try:
                        g.throw(GreenletExit)
                    except BaseException:
                        _sys.excepthook(*_sys.exc_info())
                    finally:
                        self.current = None
            if not self.tasks:
                break
            # Let tasks blocked in a finally make progress (poll only; fd
            # events only, no handoff).
            n = pf_hub_wait(&self.h, 0, self.batch, _MAX_EVENTS)
            self.batch_len = 0
            for i in range(n if n > 0 else 0):
                if not (self.batch[i].events & (PF_HUB_WAKE | PF_HUB_TIMER)):
                    self.batch[self.batch_len] = self.batch[i]
                    self.batch_len += 1
            self.batch_pos = 0
            while True:
                g = self._next_ready()
                if g is None:
                    break
                self._switch(g, self.next_args)
        self.tasks.clear()
        return 0

    cdef int _check_waitable(self, g) except -1:
        if g is self.loop:
            raise RuntimeError("a cooperative wait in the hub's own loop")
        return 0

    cdef object _wait_timer(self, g, int64_t deadline_ns):
        """Suspend g (_suspend); a timer at deadline_ns (0: none) resumes
        it with _TIMEOUT.  Returns what g was resumed with."""
        cdef int tid = -1
        cdef uint64_t tag = 0
        if deadline_ns:
            tag = self.next_tag
            self.next_tag += 1
            tid = pf_hub_timer_add(&self.h, deadline_ns, tag)
            if tid < 0:
                raise MemoryError()
            self.timers[tag] = g
        try:
            return self._suspend()
        finally:
            if tid >= 0:
                pf_hub_timer_cancel(&self.h, tid, tag)
                self.timers.pop(tag, None)

    def sleep(self, double seconds):
        """Suspend the calling greenlet (on this hub) for seconds."""
        g = PyGreenlet_GetCurrent_obj()
        self._check_waitable(g)
        cdef int64_t deadline = pf_hub_now_ns() + <int64_t>(max(seconds, 0.0) * 1e9)
        while self._wait_timer(g, deadline) is not _TIMEOUT:
            pass

    def wait_resume(self):
        """Suspend the calling greenlet until resume(g, value) (from any
        thread) and return value."""
        g = PyGreenlet_GetCurrent_obj()
        self._check_waitable(g)
        return self._wait_timer(g, 0)

    def register(self, sock):
        """Attach a CooperativeSocket (its ``_pf_conn``) to this hub, on the
        hub's thread: edge-triggered registration, once."""
        cdef Conn c = sock._pf_conn
        if c.hub is not None:
            raise RuntimeError("socket already on a hub")
        cdef int fd = c.fd
        cdef int rc = pf_hub_add(&self.h, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 <uint64_t>fd)
        if rc < 0:
            raise_errno(rc)
        c.hub = self
        c.readable = True
        c.writable = True
        self.conns[fd] = c

    cdef int _unregister(self, Conn c) except -1:
        if self.conns.get(c.fd) is c:
            del self.conns[c.fd]
            if self.is_open:
                pf_hub_del(&self.h, c.fd)
        return 0


cdef class Conn:
    """A cooperative socket's state (``sock._pf_conn``)."""
    cdef readonly Hub hub
    cdef readonly int fd
    cdef public bint readable
    cdef public bint writable
    # The peer's FIN, a hang-up or an error was reported (EPOLLRDHUP,
    # EPOLLHUP, EPOLLERR; write_ended: the last two): edge-triggered, that
    # edge came once and no other follows, so reads (writes) never wait
    # again: recv returns what is left, then b"" or the error.
    cdef readonly bint read_ended
    cdef readonly bint write_ended
    cdef object reader        # the greenlet waiting to read, or None
    cdef object writer        # the greenlet waiting to write, or None
    cdef uint64_t reader_seq  # Hub.wait_seq of the reader's wait
    cdef uint64_t writer_seq
    cdef public double timeout  # seconds; < 0: none (blocking)

    def __cinit__(self, int fd, double timeout=-1.0):
        self.fd = fd
        self.timeout = timeout
        self.readable = True
        self.writable = True

    def detach(self):
        """Forget the descriptor (before close/detach): unregistered from
        the hub; greenlets waiting on it get OSError(EBADF).  Any thread."""
        cdef Hub hub = self.hub
        if hub is not None:
            hub._unregister(self)
            self.hub = None
            me = PyGreenlet_GetCurrent_obj()
            # Resumed from the loop (through its inbox, as detach may run on
            # another thread), each with the number of the wait it is in:
            # the loop delivers _CLOSED only if that wait is still going on.
            # reader/writer stay set until the waiter itself leaves the wait.
            if self.reader is not None and self.reader is not me:
                hub._wake_closed(self, self.reader, self.reader_seq)
            if self.writer is not None and self.writer is not me:
                hub._wake_closed(self, self.writer, self.writer_seq)
        self.fd = -1

    cdef int wait(self, int mode, int64_t deadline_ns) except -1:
        """Wait until the fd is ready for mode (_READ/_WRITE) or deadline_ns
        (0: none) passes (TimeoutError).  Returns at once when the end of
        that direction was already reported (read_ended, write_ended): every
        wait of a recv, a Reader fill or a send goes through here, so none
        waits for an edge that has come and gone."""
        cdef Hub hub = self.hub
        if self.fd < 0:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        if self.read_ended if mode == _READ else self.write_ended:
            return 0
        if self.timeout == 0:
            raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
        if hub is None or PyThread_get_thread_ident() != hub.thread_ident:
            return self._wait_blocking(mode, deadline_ns)
        g = PyGreenlet_GetCurrent_obj()
        hub._check_waitable(g)
        if mode == _READ and hub.ending_idle:
            raise GreenletExit()
        hub.wait_seq += 1
        if mode == _READ:
            if self.reader is not None:
                raise RuntimeError("another greenlet is already reading this socket")
            self.reader = g
            self.reader_seq = hub.wait_seq
        else:
            if self.writer is not None:
                raise RuntimeError("another greenlet is already writing this socket")
            self.writer = g
            self.writer_seq = hub.wait_seq
        try:
            r = hub._wait_timer(g, deadline_ns)
        finally:
            if mode == _READ:
                if self.reader is g:
                    self.reader = None
            elif self.writer is g:
                self.writer = None
        if r is _TIMEOUT:
            raise TimeoutError("timed out")
        if r is _CLOSED:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        if r is _ENDED:
            raise GreenletExit()
        return 0

    cdef int _wait_blocking(self, int mode, int64_t deadline_ns) except -1:
        # Not on the hub's thread: poll(2) in this thread (same clock).
        return wait_fd(self.fd, POLLIN if mode == _READ else POLLOUT,
                       (deadline_ns + 999999) // 1000000 if deadline_ns else -1)


# --------------------------------------------------------------------------
# socket methods (bound by pyfast.cooperative.CooperativeSocket)
# --------------------------------------------------------------------------

# The descriptor of CooperativeSocket's _pf_conn slot and its getter (set
# by pyfast.cooperative through use_conn_slot): _conn() reads the slot
# through it, rather than by a generic attribute lookup (type lookup, then
# descriptor dispatch) twice per echo request.
cdef object _conn_slot = None
cdef descrgetfunc _conn_slot_get = NULL


def use_conn_slot(descr):
    """Read sockets' Conn through descr (CooperativeSocket._pf_conn)."""
    global _conn_slot, _conn_slot_get
    if Py_TYPE(descr).tp_descr_get == NULL:
        raise TypeError(f"{descr!r} is not a descriptor")
    _conn_slot = descr
    _conn_slot_get = Py_TYPE(descr).tp_descr_get


cdef inline Conn _conn(sock):
    cdef Conn c
    if _conn_slot_get != NULL:
        c = _conn_slot_get(_conn_slot, sock, <object>Py_TYPE(sock))
    else:
        c = sock._pf_conn
    if c.fd < 0:
        raise OSError(_errno.EBADF, "Bad file descriptor")
    return c


# recv() reads into this buffer, then copies what came into a bytes object
# of that size: cheaper than allocating bufsize bytes (often 64 KiB) and
# shrinking them per call.  The GIL is held across the non-blocking recv
# and the copy, so one buffer serves every thread.
cdef enum:
    _RECV_SCRATCH = 65536
cdef char _recv_scratch[_RECV_SCRATCH]


def sock_recv(sock, Py_ssize_t bufsize, int flags=0, /):
    """socket.recv, waiting on the hub."""
    cdef Conn c = _conn(sock)
    cdef PyObject *raw
    cdef Py_ssize_t n
    cdef int64_t deadline = 0
    if bufsize < 0:
        raise ValueError("negative buffersize in recv")
    if c.timeout > 0:
        deadline = deadline_of(c.timeout)
    while True:
        if not c.readable:
            c.wait(_READ, deadline)
        if bufsize <= _RECV_SCRATCH:
            n = pf_sock_recv(c.fd, _recv_scratch, <size_t>bufsize, flags | MSG_DONTWAIT)
            if n >= 0:
                if _drained(n, bufsize, flags):
                    # Drained: the next recv waits for the next edge first.
                    c.readable = False
                return PyBytes_FromStringAndSize(_recv_scratch, n)
        else:
            raw = _bytes_new(NULL, bufsize)
            if raw == NULL:
                raise MemoryError()
            n = pf_sock_recv(c.fd, _bytes_str(raw), <size_t>bufsize, flags | MSG_DONTWAIT)
            if n >= 0:
                if n < bufsize:
                    if _drained(n, bufsize, flags):
                        c.readable = False
                    _PyBytes_Resize(&raw, n)
                result = <object>raw
                Py_DECREF(result)
                return result
            _decref_raw(raw)
        _recv_failed(c, n)


def sock_recv_into(sock, buffer, Py_ssize_t nbytes=0, int flags=0):
    """socket.recv_into, waiting on the hub."""
    cdef Conn c = _conn(sock)
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef int64_t deadline = 0
    if nbytes < 0:
        raise ValueError("negative buffersize in recv_into")
    PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    try:
        if nbytes == 0 or nbytes > view.len:
            if nbytes > view.len:
                raise ValueError("buffer too small for requested bytes")
            nbytes = view.len
        if c.timeout > 0:
            deadline = deadline_of(c.timeout)
        while True:
            if not c.readable:
                c.wait(_READ, deadline)
            n = pf_sock_recv(c.fd, view.buf, <size_t>nbytes, flags | MSG_DONTWAIT)
            if n < 0:
                _recv_failed(c, n)
                continue
            if _drained(n, nbytes, flags):
                c.readable = False
            return n
    finally:
        PyBuffer_Release(&view)


cdef Py_ssize_t _send_some(Conn c, const char *p, size_t n, int flags,
                           int64_t deadline) except -1:
    """One send of what the socket takes (waiting while it takes nothing)."""
    cdef Py_ssize_t r
    while True:
        if not c.writable:
            c.wait(_WRITE, deadline)
        r = pf_sock_send(c.fd, p, n, flags | MSG_DONTWAIT)
        if r == -EAGAIN:
            c.writable = False
            if c.timeout == 0:
                raise BlockingIOError(_errno.EAGAIN, "Resource temporarily unavailable")
            continue
        if r < 0:
            raise_errno(r)
        return r


cdef int _send_all(Conn c, const char *p, size_t n, int flags, int64_t deadline) except -1:
    cdef Py_ssize_t r
    while n > 0:
        r = _send_some(c, p, n, flags, deadline)
        p += r
        n -= <size_t>r
    return 0


# send/sendall take bytes (immutable, kept alive by the argument) as they
# are; anything else through the buffer protocol.

def sock_send(sock, data, int flags=0, /):
    """socket.send, waiting on the hub."""
    cdef Conn c = _conn(sock)
    cdef int64_t deadline = deadline_of(c.timeout) if c.timeout > 0 else 0
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        return _send_some(c, PyBytes_AS_STRING(data), <size_t>PyBytes_GET_SIZE(data),
                          flags, deadline)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _send_some(c, <const char *>view.buf, <size_t>view.len, flags, deadline)
    finally:
        PyBuffer_Release(&view)


def sock_sendall(sock, data, int flags=0, /):
    """socket.sendall, waiting on the hub; the timeout bounds the whole call."""
    cdef Conn c = _conn(sock)
    cdef int64_t deadline = deadline_of(c.timeout) if c.timeout > 0 else 0
    cdef Py_buffer view
    if PyBytes_CheckExact(data):
        _send_all(c, PyBytes_AS_STRING(data), <size_t>PyBytes_GET_SIZE(data),
                  flags, deadline)
        return
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        _send_all(c, <const char *>view.buf, <size_t>view.len, flags, deadline)
    finally:
        PyBuffer_Release(&view)


def wait_readable(sock):
    """Wait (on the hub) until sock is readable, honouring its timeout."""
    cdef Conn c = _conn(sock)
    if not c.readable:
        c.wait(_READ, deadline_of(c.timeout) if c.timeout > 0 else 0)
        # Still counted as ready: the next recv tries first.


def wait_writable(sock):
    """Wait (on the hub) until sock is writable, honouring its timeout."""
    cdef Conn c = _conn(sock)
    c.writable = False
    c.wait(_WRITE, deadline_of(c.timeout) if c.timeout > 0 else 0)


# --------------------------------------------------------------------------
# Reader / Writer
# --------------------------------------------------------------------------

# One call at a time on a file (pyfast._core._SocketStream._enter), where
# the callers are greenlets: two handlers of one hub (a broadcast writing
# to another connection's wfile) are two callers, and the one that must
# wait for its turn waits on the hub, which serves the others meanwhile.

cdef inline bint _on_hub(Conn c):
    return c.hub is not None and PyThread_get_thread_ident() == c.hub.thread_ident


cdef unsigned long _turn_caller(Conn c):
    """On the connection's hub thread, the greenlet; else the thread."""
    if _on_hub(c):
        g = PyGreenlet_GetCurrent_obj()   # alive while it runs: its address names it
        return <unsigned long><PyObject *>g
    return PyThread_get_thread_ident()


cdef int _wait_turn_on_hub(_SocketStream f, Conn c, object turns) except -1:
    """As a greenlet of c's hub, wait until no call on f is under way;
    _turn_released resumes the first waiting greenlet.  turns: f's deque
    of the (hub, greenlet) waiting."""
    hub = c.hub
    waiter = (hub, PyGreenlet_GetCurrent_obj())
    while f.owner != 0:
        turns.append(waiter)
        try:
            hub.wait_resume()
        finally:
            try:
                turns.remove(waiter)
            except ValueError:
                pass
    return 0


cdef int _turn_released(object turns) except -1:
    """After a call on a file ended: resume its first waiting greenlet."""
    if turns:
        hub, g = turns.popleft()
        hub.resume(g, None)
    return 0


cdef class Reader(SocketReader):
    """makefile('rb') of a CooperativeSocket: pyfast._core.SocketReader
    (io.BufferedReader's methods, buffered in C) whose recv waits on the
    hub instead of blocking the thread.

    Reader(sock, bufsize=-1): bufsize (bytes) is how much one recv asks for
    (io.DEFAULT_BUFFER_SIZE when < 1).  The socket's timeout holds for each
    recv (TimeoutError).
    """
    cdef Conn conn
    cdef object turns

    def __cinit__(self, sock, *args, **kwargs):
        self.conn = sock._pf_conn

    cdef unsigned long _caller(self):
        return _turn_caller(self.conn)

    cdef int _wait_turn(self) except -1:
        if not _on_hub(self.conn):
            return SocketReader._wait_turn(self)
        if self.turns is None:
            self.turns = _collections.deque()
        return _wait_turn_on_hub(self, self.conn, self.turns)

    cdef int _release(self) except -1:
        SocketReader._release(self)
        return _turn_released(self.turns)

    cdef Py_ssize_t _fill(self, size_t want) except -1:
        """One recv into the buffer: bytes read, 0 at end of stream.  Waits
        for readiness first unless the last recv filled its buffer."""
        cdef Conn c = self.conn
        cdef Py_ssize_t n
        cdef size_t room
        cdef int64_t deadline = 0
        if want < self.bufsize:
            want = self.bufsize
        if self.before_read is not None:
            self.before_read()
        if c.timeout > 0:
            deadline = deadline_of(c.timeout)
        while True:
            if c.fd < 0:
                raise OSError(_errno.EBADF, "Bad file descriptor")
            if not c.readable:
                c.wait(_READ, deadline)
            if pf_buf_reserve(&self.buf, want) < 0:
                raise MemoryError()
            room = self.buf.cap - self.buf.end
            n = pf_sock_recv(c.fd, self.buf.data + self.buf.end, room, MSG_DONTWAIT)
            if n >= 0:
                if _drained(n, <Py_ssize_t>room, 0):
                    c.readable = False
                self.buf.end += <size_t>n
                return n
            _recv_failed(c, n)


cdef class Writer(SocketWriter):
    """makefile('wb') of a CooperativeSocket: pyfast._core.SocketWriter
    whose sends wait on the hub when the socket is full.

    Writer(sock, bufsize=0): 0 sends every write before it returns; > 0
    (bytes) or < 0 (io.DEFAULT_BUFFER_SIZE) buffers until flush().
    """
    cdef Conn conn
    cdef object turns

    def __cinit__(self, sock, *args, **kwargs):
        self.conn = sock._pf_conn

    cdef unsigned long _caller(self):
        return _turn_caller(self.conn)

    cdef int _wait_turn(self) except -1:
        if not _on_hub(self.conn):
            return SocketWriter._wait_turn(self)
        if self.turns is None:
            self.turns = _collections.deque()
        return _wait_turn_on_hub(self, self.conn, self.turns)

    cdef int _release(self) except -1:
        SocketWriter._release(self)
        return _turn_released(self.turns)

    cdef int _send_all(self, const unsigned char *p, size_t n) except -1:
        cdef Conn c = self.conn
        return _send_all(c, <const char *>p, n, 0,
                         deadline_of(c.timeout) if c.timeout > 0 else 0)


def now_ns():
    """CLOCK_MONOTONIC in nanoseconds, the clock of Hub.last_ns."""
    return pf_hub_now_ns()
