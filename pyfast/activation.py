"""systemd socket activation: serve the sockets systemd passes.

A service started by systemd with a .socket unit (or by
``systemd-socket-activate``) inherits its listening sockets as descriptors
3, 4, ... and three environment variables: ``LISTEN_PID`` (the pid they are
meant for), ``LISTEN_FDS`` (how many) and ``LISTEN_FDNAMES`` (their names,
``:``-separated, from FileDescriptorName=).  listen_fds() reads them with
sd_listen_fds(3)'s semantics: only when LISTEN_PID is this process, the
descriptors made close-on-exec, and the three variables removed from the
environment (as sd_listen_fds(unset_environment=1)), so that a program this
one starts does not take them too.  They are read once per process and kept
here for the servers to claim.

A pyfast TCPServer / UDPServer / UnixStreamServer (and every class built on
them) whose server_bind() runs while such sockets are unclaimed takes the
first one of its socket type (stream or datagram) and kind of family
(AF_INET and AF_INET6 alike, or AF_UNIX) instead of binding, in descriptor
order; ``server.activation_name`` (class or instance attribute, default
None: any) restricts it to the socket of that name.  server_address is then
the socket's own address, and the constructor's address is not used.
``socket_activation = False`` on a server class turns this off.  Workers
(pyfast.prefork) inherit the socket like any other listening socket.

Handing in a bound socket yourself, without systemd, is socketserver's own
way (works with the stdlib too)::

    server = pyfast.TCPServer(None, Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)   # bound and listening already
    server.server_address = server.socket.getsockname()
    server.serve_forever()
"""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["listen_fds", "adopt", "SD_LISTEN_FDS_START"]

SD_LISTEN_FDS_START = 3

_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

# pid -> [(fd, name, claimed)]: what this process inherited.
_inherited: dict[int, list[list[Any]]] = {}


def listen_fds(unset_environment: bool = True) -> list[tuple[int, str]]:
    """The sockets passed by systemd, [(fd, name)], as sd_listen_fds().

    Empty when LISTEN_PID is not this process or LISTEN_FDS is not set.
    Names default to "unknown", as sd_listen_fds_with_names().  The first
    call in a process reads the environment (and, with unset_environment,
    removes the variables); later calls return the same list.  Raises
    ValueError when LISTEN_FDS or LISTEN_PID is not a number.
    """
    return [(fd, name) for fd, name, _ in _read(unset_environment)]


def _read(unset_environment: bool = True) -> list[list[Any]]:
    pid = os.getpid()
    known = _inherited.get(pid)
    if known is not None:
        return known
    fds: list[list[Any]] = []
    env = os.environ
    try:
        if "LISTEN_PID" in env and "LISTEN_FDS" in env and int(env["LISTEN_PID"]) == pid:
            n = int(env["LISTEN_FDS"])
            names = env.get("LISTEN_FDNAMES", "").split(":") if env.get("LISTEN_FDNAMES") else []
            for i in range(n):
                fd = SD_LISTEN_FDS_START + i
                os.set_inheritable(fd, False)
                fds.append([fd, names[i] if i < len(names) else "unknown", False])
    finally:
        if unset_environment:
            for name in _ENV:
                env.pop(name, None)
    # A forked worker has the same descriptors, already claimed by the
    # server it inherited: the parent's list stands for it too.
    _inherited[pid] = fds
    return fds


def _family_kind(family: int) -> int:
    return socket.AF_INET if family in (socket.AF_INET, socket.AF_INET6) else family


def adopt(server: Any) -> bool:
    """Called by TCPServer.server_bind(): if an unclaimed inherited socket
    fits the server (socket_type, family kind, activation_name), it
    replaces server.socket (which is closed) and server_address becomes its
    address; True then.  False, and nothing changes, otherwise."""
    if not getattr(server, "socket_activation", True):
        return False
    inherited = _read()
    if not inherited:
        return False
    want_name = getattr(server, "activation_name", None)
    kind = _family_kind(server.address_family)
    for entry in inherited:
        fd, name, claimed = entry
        if claimed or (want_name is not None and name != want_name):
            continue
        probe = socket.socket(fileno=fd)
        try:
            fits = probe.type == server.socket_type and _family_kind(probe.family) == kind
            family, stype, proto = probe.family, probe.type, probe.proto
        finally:
            probe.detach()
        if not fits:
            continue
        entry[2] = True
        old = server.socket
        server.socket = type(old)(family, stype, proto, fileno=fd)
        old.close()
        server.address_family = family
        server.server_address = server.socket.getsockname()
        return True
    return False
