# Listener: accept4() with EMFILE handled (csrc/pf_listen.h).

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
