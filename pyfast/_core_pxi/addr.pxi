# Socket addresses as Python's socket module gives them (csrc/pf_addr.h).

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
