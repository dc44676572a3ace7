# Declarations of pyfast._core shared with the other extensions
# (pyfast._coop subclasses the C-buffered files; pyfast._message raises
# errors the same way).
from cpython.pythread cimport PyThread_type_lock
from libc.stdint cimport int64_t, uint64_t
from pyfast.includes.pf_loop cimport pf_loop
from pyfast.includes.system cimport sockaddr, socklen_t
from pyfast.includes.pf_buf cimport pf_buf
from pyfast.includes.pf_board cimport pf_board


cdef int raise_errno(long neg) except -1
# A socket address as Python's socket module gives it (None if empty).
cdef object decode_address(const sockaddr *sa, socklen_t salen)
cdef int timeout_ms(object seconds) except -2
cdef int wait_fd(int fd, short events, int64_t deadline_ms) except -1
# Cross-thread work into a pf_loop's inbox: a Python object whose reference
# the poster gives away (see pyfast/_core/loop.pxi).
cdef int post_object(pf_loop *loop, int op, object obj, uint64_t arg) except -2
cdef object steal_posted(void *ptr)
cdef void release_posted(void *ptr) noexcept


cdef class _SocketStream:
    cdef object sock
    cdef int fd
    cdef pf_buf buf
    cdef bint is_closed
    # One call at a time, as io's buffered files: owner is the thread whose
    # call is under way (0: none), set and cleared with the GIL held;
    # waiters: threads waiting for it, asleep on wake (a lock used as a
    # semaphore, made at the first contention).
    cdef unsigned long owner
    cdef int waiters
    cdef PyThread_type_lock wake
    # close() came while a call held the lock: that call completes it.
    cdef bint close_deferred
    cdef int _check_open(self) except -1
    cdef object _unsupported(self, str what)
    cdef int _enter(self) except -1
    # Who is calling (a thread ident; a cooperative file: its greenlet).
    cdef unsigned long _caller(self)
    cdef int _wait_turn(self) except -1
    cdef int _release(self) except -1
    cdef int _leave(self) except -1
    cdef int _wait(self, short events, int64_t *deadline) except -1
    cdef int _before_close(self) except -1


cdef class SocketReader(_SocketStream):
    cdef size_t bufsize
    cdef readonly str mode
    # Called (no arguments) before each recv: lets the socket send what it
    # holds back (see pyfast.http.server.CoalescingSocket).
    cdef public object before_read
    cdef Py_ssize_t _fill(self, size_t want) except -1
    cdef bytes _take(self, size_t n)
    cdef bytes _readline(self, Py_ssize_t limit)


cdef class SocketWriter(_SocketStream):
    cdef size_t limit
    cdef readonly str mode
    cdef int _send_all(self, const unsigned char *p, size_t n) except -1
    cdef int _flush_buf(self) except -1


# Workers' admission (pyfast/_core_pxi/board.pxi); pyfast._message hands
# its board to the C message loop.
cdef class Board:
    cdef pf_board b
    cdef bint is_open
    cdef int _check(self) except -1
