# cython: language_level=3, boundscheck=False, wraparound=False
"""pyfast._core: the only place Python meets csrc/.

Thin by design: argument conversion, GIL handling and object lifetime.
Every wait (epoll_wait, poll, condition variables, blocking recv/send)
runs without the GIL.  A wait interrupted by a signal runs Python's signal
handlers and is retried (PEP 475), so Ctrl-C raises KeyboardInterrupt in
the thread blocked here.

Contents:
- Waiter: an epoll set with an eventfd wake-up (serve_forever, shutdown).
- Listener: accept4() on a listening socket, EMFILE handled.
- Pool: the worker pool's queue (threads are started by Pool itself, as
  Python threads, when the C queue asks for one).
- SocketReader / SocketWriter: StreamRequestHandler's rfile and wfile,
  buffered in C (SocketReader.read_header_block: an HTTP header block,
  for pyfast.http.headers).
- sock_sendall: socket.sendall that keeps the GIL for sends that need no
  wait (pyfast.http.server.CoalescingSocket).
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.unicode cimport PyUnicode_DecodeLatin1
from cpython.object cimport PyObject
from cpython.pythread cimport (PyThread_get_thread_ident, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_acquire_lock,
                               PyThread_release_lock, NOWAIT_LOCK, PY_LOCK_ACQUIRED)
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdint cimport uint64_t, int64_t
from libc.errno cimport EAGAIN, EMSGSIZE, ENOBUFS
from libc.string cimport memchr, memcpy

from pyfast.includes.core cimport *

import errno as _errno
import io as _io
import logging as _logging
import os as _os
import signal as _signal
import sys as _sys
import threading as _threading
import time as _time
import weakref as _weakref

cdef enum:
    _TAGS = 16          # ready descriptors taken per Waiter.wait()

cdef extern from "pythread.h":
    # Waits (microseconds, -1: no limit); with intr_flag, a signal ends
    # the wait with PY_LOCK_INTR so that Python's handlers can run.
    int PyThread_acquire_lock_timed(PyThread_type_lock lock, long long microseconds,
                                    int intr_flag) nogil

cdef size_t DEFAULT_BUFFER_SIZE = _io.DEFAULT_BUFFER_SIZE
# A write of at least this many bytes into an empty buffer goes straight to
# the socket instead of being copied first.
cdef size_t DIRECT_WRITE = 65536


cdef int raise_errno(long neg) except -1:
    """Raise the OSError subclass for -neg (OSError maps errno to e.g.
    ConnectionResetError, BrokenPipeError, BlockingIOError)."""
    cdef int err = <int>(-neg)
    raise OSError(err, _os.strerror(err))


cdef int timeout_ms(object seconds) except -2:
    """None -> -1 (no limit); seconds (float) -> whole milliseconds, rounded up."""
    if seconds is None:
        return -1
    cdef double s = seconds
    if s <= 0:
        return 0
    if s > 86400.0 * 24:
        return -1
    return <int>(s * 1000.0 + 0.999)


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
        if rc == -_errno.EINTR:
            PyErr_CheckSignals()
            continue
        if rc < 0:
            raise_errno(rc)
        if rc == 0:
            raise TimeoutError("timed out")
        return 0


# --------------------------------------------------------------------------
# Waiter
# --------------------------------------------------------------------------

cdef class Waiter:
    """An epoll set plus an eventfd wake-up.

    ``add(fd)`` watches a descriptor for readability, ``wait(timeout)``
    sleeps without the GIL until one is ready, the timeout (seconds) passes,
    or ``wake()`` is called from any thread.  Used by serve_forever() so
    that shutdown() ends the wait at once.
    """
    cdef pf_waiter w
    cdef bint is_open

    def __cinit__(self):
        cdef int rc = pf_waiter_open(&self.w)
        if rc < 0:
            raise_errno(rc)
        self.is_open = True

    def __dealloc__(self):
        if self.is_open:
            pf_waiter_close(&self.w)

    cdef int _check(self) except -1:
        if not self.is_open:
            raise ValueError("Waiter is closed")
        return 0

    def add(self, int fd, bint readable=True, bint writable=False):
        """Watch fd (int) for readability and/or writability.  OSError from epoll_ctl."""
        self._check()
        cdef unsigned int ev = (EPOLLIN if readable else 0) | (EPOLLOUT if writable else 0)
        cdef int rc = pf_waiter_add(&self.w, fd, ev, <uint64_t>fd)
        if rc < 0:
            raise_errno(rc)

    def remove(self, int fd):
        """Stop watching fd; a closed or unknown fd, or a closed Waiter, is ignored."""
        if self.is_open:
            pf_waiter_del(&self.w, fd)

    def wake(self):
        """End the current (or the next) wait() at once.  Thread-safe."""
        if self.is_open:
            pf_waiter_wake(&self.w)

    def wait(self, timeout=None):
        """Wait up to timeout seconds (None: no limit) without the GIL.

        Returns the list of ready file descriptors; empty on timeout or
        wake-up.  Signals: Python's handlers run (KeyboardInterrupt is
        raised here) and the wait resumes with the time left.
        """
        self._check()
        cdef uint64_t tags[_TAGS]
        cdef int ms = timeout_ms(timeout)
        cdef int64_t deadline = pf_now_ms() + ms if ms > 0 else 0
        cdef int n, i
        while True:
            with nogil:
                n = pf_waiter_wait(&self.w, ms, tags, _TAGS)
            if n == -_errno.EINTR:
                PyErr_CheckSignals()
                if ms > 0:
                    ms = <int>(deadline - pf_now_ms())
                    if ms < 0:
                        ms = 0
                continue
            if n < 0:
                raise_errno(n)
            break
        return [<int>tags[i] for i in range(n) if tags[i] != PF_WAITER_WAKE_TAG]

    def close(self):
        if self.is_open:
            self.is_open = False
            pf_waiter_close(&self.w)

    @property
    def closed(self):
        return not self.is_open


# --------------------------------------------------------------------------
# Listener
# --------------------------------------------------------------------------

cdef object decode_address(const sockaddr *sa, socklen_t salen):
    cdef pf_addr_info info
    if salen < 2:
        return None  # no address (e.g. an unbound Unix datagram sender), as socket.recvfrom
    if pf_addr_decode(sa, salen, &info) < 0:
        return None
    if info.family == _AF_INET:
        return (info.host.decode("ascii"), info.port)
    if info.family == _AF_INET6:
        return (info.host.decode("ascii"), info.port, info.flowinfo, info.scope_id)
    # AF_UNIX: str as socket.accept() gives ('' for an unnamed client);
    # bytes for Linux abstract names.
    if info.path_len > 0 and info.path[0] == 0:
        return PyBytes_FromStringAndSize(info.path, info.path_len)
    return _os.fsdecode(PyBytes_FromStringAndSize(info.path, info.path_len))

import socket as _socket
cdef int _AF_INET = _socket.AF_INET
cdef int _AF_INET6 = _socket.AF_INET6


cdef class Listener:
    """accept4() on a listening socket's descriptor.

    Listener(fd) makes fd non-blocking and keeps a reserve descriptor for
    the EMFILE case (see csrc/pf_listen.h).  The fd stays owned by the
    Python socket object.
    """
    cdef pf_listener l
    cdef bint is_open

    def __cinit__(self, int fd):
        cdef int rc = pf_listener_init(&self.l, fd)
        if rc < 0:
            raise_errno(rc)
        self.is_open = True

    def __dealloc__(self):
        if self.is_open:
            pf_listener_close(&self.l)

    def accept(self, bint nonblocking=False):
        """Accept one pending connection: (fd, address) as socket.accept() gives.

        The new descriptor is close-on-exec and, unless nonblocking, in
        blocking mode.  Raises BlockingIOError when none is pending and
        OSError (EMFILE...) when accept4 fails; on EMFILE/ENFILE one pending
        client has been closed so the caller does not spin.
        """
        if not self.is_open:
            raise ValueError("Listener is closed")
        cdef sockaddr_storage ss
        cdef socklen_t sslen = sizeof(ss)
        cdef int fd = pf_listener_accept(&self.l, SOCK_NONBLOCK if nonblocking else 0,
                                         <sockaddr *>&ss, &sslen)
        if fd < 0:
            raise_errno(fd)
        return fd, decode_address(<sockaddr *>&ss, sslen)

    @property
    def fd(self):
        """The listening socket's descriptor."""
        return self.l.fd

    @property
    def shed(self):
        """Connections closed at once because the process was out of descriptors."""
        return self.l.shed

    def close(self):
        if self.is_open:
            self.is_open = False
            pf_listener_close(&self.l)


# --------------------------------------------------------------------------
# Pool
# --------------------------------------------------------------------------

# Signals a worker thread blocks, so that the kernel delivers them to a
# thread that runs Python's handlers (the main thread) and interrupts its
# wait: Ctrl-C then reaches serve_forever() at once.
_WORKER_BLOCKED_SIGNALS = {getattr(_signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2",
    "SIGCHLD", "SIGWINCH", "SIGPIPE") if hasattr(_signal, name)}


cdef _thread_excepthook(thread):
    """Report the exception being handled, which escaped an item run on
    the worker thread, as threading.Thread reports one that escapes its
    run(): threading.excepthook(args) (its default prints the traceback
    and ignores SystemExit); if that hook is missing or raises,
    sys.excepthook gets what it could not report."""
    exc_type, exc, tb = _sys.exc_info()
    hook = getattr(_threading, "excepthook", None)
    try:
        if hook is None:
            _sys.excepthook(exc_type, exc, tb)
        else:
            hook(_threading.ExceptHookArgs([exc_type, exc, tb, thread]))
    except BaseException as failed:
        _sys.excepthook(type(failed), failed, failed.__traceback__)
    finally:
        exc = tb = failed = None


# Every Pool, so that a fork's child can make their locks anew
# (os.register_at_fork below).
_pools = _weakref.WeakSet()


def _pools_after_fork_in_child():
    for pool in list(_pools):
        try:
            (<Pool>pool)._after_fork()
        except OSError:
            pass


_os.register_at_fork(after_in_child=_pools_after_fork_in_child)


cdef class Pool:
    """The worker pool: a C queue (mutex + condition variable) served by
    reusable Python threads.

    Pool(max_workers, idle_timeout=10.0, name="pyfast-worker", daemon=True,
         sched_batch=True, overflow_after=None, start_delay=0.005)

    max_workers (int): threads start on demand up to this many; items
    beyond wait in the queue.  idle_timeout (seconds): a thread with nothing
    to do for this long exits.  A thread starts for an item only when no
    thread will take it (an idle thread, or one that has just finished an
    item, takes the next one); at once when no thread is busy, else once
    the item has waited start_delay seconds, since a busy thread may be
    about to finish: a burst of short items reuses the threads there are
    (see csrc/pf_pool.h).  overflow_after (seconds, or None): with
    max_workers threads busy, an item that has waited this long without a
    thread to take it gets a thread of its own, so threads held by slow
    items cannot keep the queue waiting forever; None: max_workers is a
    hard bound.  Threads for waiting items are started by an overseer
    thread.
    sched_batch: workers run under Linux's SCHED_BATCH policy, so a worker
    woken by I/O does not preempt the thread that holds the GIL (it could
    not run Python anyway); on one core this removes the GIL convoy of
    thread-per-session servers (see README, "Why SCHED_BATCH").
    Worker threads block asynchronous signals (SIGINT...) so that the
    kernel delivers them to the main thread, where Python handles them.
    """
    cdef pf_pool p
    cdef bint inited
    cdef int idle_ms
    cdef readonly str name
    cdef readonly bint daemon
    cdef readonly int max_workers
    cdef readonly bint sched_batch
    cdef readonly object overflow_after
    cdef readonly double start_delay
    cdef unsigned long started
    cdef set live      # the worker threads (threading.Thread) running _work
    cdef object __weakref__

    def __cinit__(self, int max_workers, idle_timeout=10.0, str name="pyfast-worker",
                  bint daemon=True, bint sched_batch=True, overflow_after=None,
                  double start_delay=0.005):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if overflow_after is not None and overflow_after < 0:
            raise ValueError("overflow_after must be None or at least 0")
        if start_delay < 0:
            raise ValueError("start_delay must be at least 0")
        cdef int rc = pf_pool_init(&self.p, max_workers, timeout_ms(start_delay),
                                   -1 if overflow_after is None else timeout_ms(overflow_after))
        if rc < 0:
            raise_errno(rc)
        self.inited = True
        self.idle_ms = timeout_ms(idle_timeout)
        self.name = name
        self.daemon = daemon
        self.max_workers = max_workers
        self.sched_batch = sched_batch
        self.live = set()
        self.overflow_after = overflow_after
        self.start_delay = start_delay
        _pools.add(self)
        if not daemon:
            # Non-daemon workers are joined at interpreter exit (as the
            # stdlib's non-daemon handler threads are); close the pool first
            # so idle ones leave instead of keeping the process alive.
            ref = _weakref.ref(self)
            def _close_at_exit(ref=ref):
                pool = ref()
                if pool is not None:
                    pool.close()
            try:
                _threading._register_atexit(_close_at_exit)
            except (AttributeError, RuntimeError):
                pass

    def __dealloc__(self):
        cdef void *item
        if self.inited:
            while pf_pool_pop(&self.p, &item) == 0:
                Py_DECREF(<object>item)
            pf_pool_destroy(&self.p)

    def submit(self, fn, *args):
        """Queue fn(*args) to run on a worker thread.

        Raises RuntimeError after close(), RuntimeError from threading when
        a thread cannot be started (the item stays queued for the threads
        that exist).
        """
        item = (fn, args)
        Py_INCREF(item)
        cdef int rc = pf_pool_submit(&self.p, <void *>item)
        if rc < 0:
            Py_DECREF(item)
            if rc == -_errno.ESHUTDOWN:
                raise RuntimeError("cannot submit to a closed pool")
            raise_errno(rc)
        if rc == PF_POOL_START_WORKER:
            self._start_worker()
        elif rc == PF_POOL_START_OVERSEER:
            t = _threading.Thread(target=self._oversee, daemon=True,
                                  name=f"{self.name}-overseer")
            try:
                t.start()
            except BaseException:
                pf_pool_overseer_failed(&self.p)
                raise

    cdef int _start_worker(self) except -1:
        """Start the worker thread pf_pool counted already."""
        self.started += 1
        t = _threading.Thread(target=self._work, daemon=self.daemon,
                              name=f"{self.name}-{self.started}")
        try:
            t.start()
        except BaseException:
            pf_pool_worker_failed(&self.p)
            raise
        return 0

    def _oversee(self):
        """The overseer thread: starts a worker for each item that waited
        start_delay (past max_workers: overflow_after) seconds without a
        taker (pf_pool_oversee); exits when idle for idle_timeout or when
        the pool closes."""
        cdef int rc
        while True:
            with nogil:
                rc = pf_pool_oversee(&self.p, self.idle_ms)
            if rc != PF_POOL_START_WORKER:
                return
            try:
                self._start_worker()
            except Exception as exc:
                # Out of threads: the item waits for one to finish; try
                # again a little later rather than spin.
                _log.error("pool %s: cannot start a worker: %r", self.name, exc)
                _time.sleep(max(self.start_delay, self.overflow_after or 0, 0.05))

    def _work(self):
        cdef void *item
        cdef int rc
        me = _threading.current_thread()
        self.live.add(me)
        try:
            self._serve(me)
        finally:
            self.live.discard(me)

    def _serve(self, me):
        cdef void *item
        cdef int rc
        try:
            _signal.pthread_sigmask(_signal.SIG_BLOCK, _WORKER_BLOCKED_SIGNALS)
        except (AttributeError, OSError, ValueError):
            pass
        if self.sched_batch:
            try:
                _os.sched_setscheduler(0, _os.SCHED_BATCH, _os.sched_param(0))
            except (AttributeError, OSError):
                pass
        while True:
            with nogil:
                rc = pf_pool_take(&self.p, self.idle_ms, &item)
            if rc < 0:
                return
            job = <object>item
            Py_DECREF(job)
            try:
                fn, args = job
                del job
                fn(*args)
            except BaseException:
                _thread_excepthook(me)
            finally:
                fn = args = None
                pf_pool_done(&self.p)

    def close(self):
        """Accept no more items; idle threads exit, queued items still run."""
        if self.inited:
            pf_pool_close(&self.p)

    cdef int _after_fork(self) except -1:
        """In a fork's child: no worker of the parent runs here, so the
        parent's queued items (its requests) are dropped and the pool's
        locks made anew; items submitted in the child start its own
        threads."""
        cdef void *item
        if not self.inited:
            return 0
        cdef int rc = pf_pool_after_fork(&self.p)
        if rc < 0:
            self.inited = False     # unusable: never touched again
            raise_errno(rc)
        while pf_pool_pop(&self.p, &item) == 0:
            Py_DECREF(<object>item)
        return 0

    def join(self, timeout=None):
        """Wait until nothing is queued or running; True if so, False when
        timeout (seconds) passed first.  Signals are handled meanwhile."""
        cdef int ms = timeout_ms(timeout)
        cdef int64_t deadline = pf_now_ms() + ms
        cdef int slice_ms, rc
        while True:
            slice_ms = 50
            if ms >= 0:
                slice_ms = <int>min(50, max(0, deadline - pf_now_ms()))
            with nogil:
                rc = pf_pool_join(&self.p, slice_ms)
            if rc == 0:
                return True
            PyErr_CheckSignals()
            if ms >= 0 and pf_now_ms() >= deadline:
                return False

    @property
    def threads(self):
        """The worker threads alive (a list of threading.Thread)."""
        return [t for t in self.live if t.is_alive()]

    @property
    def stats(self):
        """dict: workers (threads alive), waiting (idle), running, queued,
        overseer (1 while the overseer thread runs)."""
        cdef pf_pool_stats s
        pf_pool_get_stats(&self.p, &s)
        return {"workers": s.workers, "waiting": s.waiting,
                "running": s.running, "queued": s.queued,
                "overseer": s.overseer}


# --------------------------------------------------------------------------
# SocketReader / SocketWriter
# --------------------------------------------------------------------------

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


cdef list _header_fields(const unsigned char *p, size_t n):
    """(name, value) str tuples of the plain header block p[0, n), which
    pf_hdr_scan_next() has checked (every line PF_HDR_FIELD, the last one
    blank)."""
    cdef list out = []
    cdef const unsigned char *nl
    cdef size_t k
    cdef pf_hdr_field f
    while n > 0:
        nl = <const unsigned char *>memchr(p, b'\n', n)
        if nl == NULL:
            break
        k = <size_t>(nl - p) + 1
        if pf_hdr_line(p, k, &f) != PF_HDR_FIELD:
            break
        out.append((PyUnicode_DecodeLatin1(<const char *>p, f.name_len, NULL),
                    PyUnicode_DecodeLatin1(<const char *>p + f.value_start,
                                           f.value_end - f.value_start, NULL)))
        p += k
        n -= k
    return out


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
            if n == -_errno.EINTR:
                PyErr_CheckSignals()
            elif n == -_errno.EAGAIN:
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
                if r == -_errno.EAGAIN:
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
            if r == -_errno.EAGAIN:
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


# --------------------------------------------------------------------------
# DatagramReceiver
# --------------------------------------------------------------------------

_log = _logging.getLogger("pyfast.socketserver")

cdef enum:
    _REPLY_SLOTS = 64
    # Bytes of queued replies: room for several of the largest UDP datagrams.
    _REPLY_BYTES = 262144
    # The largest UDP payload over IPv4; a larger one is not queued (sendto
    # raises EMSGSIZE at once, as socket.sendto).
    _MAX_UDP4 = 65507
    # A queued reply goes out at the latest once the handler running when it
    # has waited this long returns.
    _REPLY_DELAY_NS = 100000


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

    def dispatch(self, server, sock, handler_class, bint batch_replies=False):
        """Handle the pending datagrams (reading a batch first if none is)
        as socketserver.BaseServer._handle_request_noblock does for a server
        whose verify_request, process_request, finish_request and
        shutdown_request are socketserver's own: handler_class((data, sock),
        address, server) for each, an Exception going to
        server.handle_error(request, address).  Stops early once
        server.shutdown() was called; the rest stay pending.  Returns how
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
                if server._BaseServer__shutdown_request:
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


cdef extern from "Python.h":
    int PySys_Audit(const char *event, const char *fmt, ...) except -1
    const char *PyUnicode_AsUTF8(object s) except NULL
    bint PyUnicode_IS_ASCII(object s)

_std_sendto = _socket.socket.sendto


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
