# Errors and timeouts as the rest of _core converts them (csrc/pf_common.h).

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
