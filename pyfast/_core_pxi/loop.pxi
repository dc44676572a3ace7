# Waiter: serve_forever()'s wait, a pf_loop (csrc/pf_loop.h).

cdef class Waiter:
    """An event loop (csrc/pf_loop.h: an epoll set plus an eventfd wake-up)
    used for its descriptors and its wake-up.

    ``add(fd)`` watches a descriptor for readability, ``wait(timeout)``
    sleeps without the GIL until one is ready, the timeout (seconds) passes,
    or ``wake()`` is called from any thread.  Used by serve_forever() so
    that shutdown() ends the wait at once.
    """
    cdef pf_loop loop
    cdef bint is_open

    def __cinit__(self):
        cdef int rc = pf_loop_open(&self.loop, 0)
        if rc < 0:
            raise_errno(rc)
        self.is_open = True

    def __dealloc__(self):
        if self.is_open:
            pf_loop_close(&self.loop)

    cdef int _check(self) except -1:
        if not self.is_open:
            raise ValueError("Waiter is closed")
        return 0

    def add(self, int fd, bint readable=True, bint writable=False):
        """Watch fd (int) for readability and/or writability.  OSError from epoll_ctl."""
        self._check()
        cdef unsigned int ev = (EPOLLIN if readable else 0) | (EPOLLOUT if writable else 0)
        cdef int rc = pf_loop_add(&self.loop, fd, ev, <uint64_t>fd)
        if rc < 0:
            raise_errno(rc)

    def remove(self, int fd):
        """Stop watching fd; a closed or unknown fd, or a closed Waiter, is ignored."""
        if self.is_open:
            pf_loop_del(&self.loop, fd)

    def wake(self):
        """End the current (or the next) wait() at once.  Thread-safe."""
        if self.is_open:
            pf_loop_wake(&self.loop)

    def wait(self, timeout=None):
        """Wait up to timeout seconds (None: no limit) without the GIL.

        Returns the list of ready file descriptors; empty on timeout or
        wake-up.  Signals: Python's handlers run (KeyboardInterrupt is
        raised here) and the wait resumes with the time left.
        """
        self._check()
        cdef pf_loop_event evs[_TAGS]
        cdef int ms = timeout_ms(timeout)
        cdef int64_t deadline = pf_now_ms() + ms if ms > 0 else 0
        cdef int n, i
        while True:
            with nogil:
                n = pf_loop_wait(&self.loop, ms, evs, _TAGS)
            if n == -EINTR:
                PyErr_CheckSignals()
                if ms > 0:
                    ms = <int>(deadline - pf_now_ms())
                    if ms < 0:
                        ms = 0
                continue
            if n < 0:
                raise_errno(n)
            break
        # The wake-up is told by its events bit: its tag (0) may be fd 0's.
        return [<int>evs[i].tag for i in range(n) if not (evs[i].events & PF_LOOP_WAKE)]

    def close(self):
        if self.is_open:
            self.is_open = False
            pf_loop_close(&self.loop)

    @property
    def closed(self):
        return not self.is_open


# Cross-thread work as every pyfast loop takes it (the hubs of _coop, the
# message loops of _message): a pf_loop_msg posted into a pf_loop's inbox
# whose op is the receiver's cdef enum and whose ptr is a Python object (or
# NULL) whose reference the poster gives away.  The loop's thread takes it
# back with steal_posted(); items never run are dropped with
# release_posted().

cdef int post_object(pf_loop *loop, int op, object obj, uint64_t arg) except -2:
    """Post op with obj (None: ptr NULL) and arg into loop's inbox, any
    thread, with the GIL; obj's reference goes with it.  0 when posted, -1
    when the inbox is closed (-ESHUTDOWN: nothing was posted); OSError
    (MemoryError for -ENOMEM) otherwise."""
    cdef pf_loop_msg m
    cdef int rc
    m.op = op
    m.arg = arg
    m.ptr = NULL
    if obj is not None:
        Py_INCREF(obj)
        m.ptr = <void *>obj
    rc = pf_loop_post(loop, &m)
    if rc == 0:
        return 0
    if obj is not None:
        Py_DECREF(obj)
    if rc == -ESHUTDOWN:
        return -1
    if rc == -ENOMEM:
        raise MemoryError()
    raise_errno(rc)


cdef object steal_posted(void *ptr):
    """The object a taken pf_loop_msg's ptr carries (None for NULL); its
    reference is now the caller's."""
    if ptr == NULL:
        return None
    obj = <object>ptr
    Py_DECREF(obj)
    return obj


cdef void release_posted(void *ptr) noexcept:
    """Drop the reference a pf_loop_msg's ptr carries (an item that will
    not run); NULL is ignored."""
    if ptr != NULL:
        Py_DECREF(<object>ptr)
