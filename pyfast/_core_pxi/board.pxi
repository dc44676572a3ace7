# Board: least-connections admission among worker processes (csrc/pf_board.h).

cdef class Board:
    """Open connections per worker process in a shared page, and the gate
    that evens them out (csrc/pf_board.h; used by pyfast.prefork).

    Board(slots, slack): slots (int >= 1) workers at most; a worker may
    accept while it holds at most slack (int >= 0) connections more than
    the least loaded live worker.  Made in the parent before it forks:
    every worker shares its counts.  Raises ValueError for bad arguments,
    OSError if the page or an eventfd cannot be made.

    Parent: take(), free(slot).  Worker: join(slot), then admit() before
    each accept, opened() / closed() per connection (any thread), leave()
    when it stops accepting; fileno() is readable when a gated worker may
    try again (clear() it).  The C message loop uses the same board
    directly (pyfast.message: a server whose ``admission`` is a Board).
    """

    def __cinit__(self, int slots, int slack):
        if slots < 1 or slack < 0:
            raise ValueError(f"Board needs slots >= 1 and slack >= 0, not {slots}, {slack}")
        cdef int rc = pf_board_open(&self.b, slots, slack)
        if rc < 0:
            raise_errno(rc)
        self.is_open = True

    def __dealloc__(self):
        if self.is_open:
            pf_board_close(&self.b)

    cdef int _check(self) except -1:
        if not self.is_open:
            raise ValueError("Board is closed")
        return 0

    def close(self):
        """Unmap the page and close the eventfds (in this process)."""
        if self.is_open:
            self.is_open = False
            pf_board_close(&self.b)

    def take(self):
        """Parent: a free slot (int) for a worker about to be forked, or
        None when every slot is in use."""
        self._check()
        cdef int slot = pf_board_take(&self.b)
        return None if slot < 0 else slot

    def free(self, int slot):
        """Parent: slot's worker exited; gated workers are woken."""
        self._check()
        pf_board_free(&self.b, slot)

    def join(self, int slot):
        """Worker: this process is slot's.  ValueError for a bad slot."""
        self._check()
        if pf_board_join(&self.b, slot) < 0:
            raise ValueError(f"no slot {slot} on this Board")

    def admit(self):
        """True if this worker may accept now; False: it is gated, and
        fileno() becomes readable once it may try again."""
        return not self.is_open or pf_board_admit(&self.b) == 1

    def opened(self):
        """A connection was accepted.  Any thread."""
        if self.is_open:
            pf_board_opened(&self.b)

    def closed(self):
        """One of this worker's connections closed.  Any thread."""
        if self.is_open:
            pf_board_closed(&self.b)

    def leave(self):
        """This worker accepts no more: it holds nobody back."""
        if self.is_open:
            pf_board_leave(&self.b)

    def fileno(self):
        """This worker's eventfd (-1 before join())."""
        self._check()
        return pf_board_fd(&self.b)

    def clear(self):
        """Read this worker's eventfd (non-blocking)."""
        self._check()
        cdef int rc = pf_board_clear(&self.b)
        if rc < 0:
            raise_errno(rc)

    def count(self, int slot):
        """slot's open connections (-1: free, or its worker left)."""
        self._check()
        return pf_board_count(&self.b, slot)

    def gated(self, int slot):
        """True while slot's worker waits for the others."""
        self._check()
        return pf_board_gated(&self.b, slot) == 1

    @property
    def slot(self):
        """This process's slot, or None (the parent, not joined)."""
        return self.b.self_ if self.is_open and self.b.self_ >= 0 else None
