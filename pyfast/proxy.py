"""The PROXY protocol: behind a proxy, ``client_address`` is the real client's.

A proxy or load balancer (HAProxy's ``send-proxy`` / ``send-proxy-v2``,
AWS NLB, ...) connects to the server on the client's behalf and sends, before
the client's first byte, a header naming the client (HAProxy's spec,
doc/proxy-protocol.txt: version 1 is a text line, version 2 binary).  With
``proxy_protocol = True`` a pyfast server reads and parses that header in C
(csrc/pf_proxy.c) before the handler sees a byte, and the handler's
``client_address`` is the client's, not the proxy's: for threaded,
forking and plain TCP servers, cooperative servers, the HTTP servers (whose
log lines show it), XML-RPC hosts and message handlers.

Server attributes (class or instance, on TCPServer and every server built
on it; read when a connection is accepted):

- ``proxy_protocol`` (bool, default False): True: every connection must
  start with a PROXY protocol header, version 1 or 2 (either is accepted;
  a proxy sends one or the other).
- ``proxy_trusted`` (default None): the peers allowed to send the header,
  an iterable of addresses and networks (str such as "10.0.0.0/8",
  "192.0.2.7", "::1", or ipaddress objects); an IPv4-mapped IPv6 peer
  matches its IPv4 form.  A connection from any other peer is closed before
  a byte of it is read.  None trusts every peer, as HAProxy's own
  ``accept-proxy`` and nginx's ``listen ... proxy_protocol`` do: set it
  whenever the port is reachable by anything but the proxies, or a client
  can claim any address.  AF_UNIX peers are always trusted (the socket
  file's permissions decide who connects).
- ``proxy_timeout`` (seconds, default 5.0; None: no limit): the whole
  header must arrive within this long of the connection's start
  (a proxy sends it at once); a client that sends half a header and
  stalls is closed.
- ``proxy_max_length`` (bytes, default 2048): the longest header accepted,
  v2 TLVs included (they are skipped, not kept), within [107, 65551].

What ``client_address`` becomes: the header's source address in the shape
the socket module gives for its family (``(host, port)`` for IPv4,
``(host, port, 0, 0)`` for IPv6, a path for AF_UNIX), whatever the family
of the server's own socket.  A header that names no client (v1 ``UNKNOWN``,
v2 ``LOCAL``, which HAProxy sends with its health checks, or v2 with an
unspecified family) keeps the connection's own address (the proxy's).

Bad input: a missing header (the first bytes are neither v1's "PROXY "
nor v2's signature; detected at the first byte that differs), a malformed
or oversized one, an untrusted peer, a peer that closes or stalls
(``proxy_timeout``) before the header is complete: that connection is
closed, the reason logged as a warning on the "pyfast.proxy" logger, and
no byte of it reaches a handler; other connections are not affected.

Where it runs: on the thread, greenlet or process that serves the
connection (a ThreadingMixIn worker, a cooperative handler's greenlet, a
ForkingMixIn child), never in serve_forever()'s thread, so a stalled
client delays no other accept; a plain TCPServer, which runs handlers in
serve_forever()'s thread, reads it there.  The header is read by peeking
and consuming exactly its bytes, so the client's first bytes stay in the
socket for the handler.  verify_request() runs before the header is read
and sees the proxy's address; handle_error() too gets the address
process_request() got.  Message handlers: the C message loop parses the
header before framing and reports the connection (setup()) once it is
complete, with the client's address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from time import monotonic
from typing import Any

from pyfast._proxy import HeaderParser, ProxyProtocolError

__all__ = ["ProxyProtocolError", "HeaderParser", "setup_connection",
           "trusted_peer", "trusted_networks", "log_refused"]

log = logging.getLogger("pyfast.proxy")

# What one peek asks for: a v1 line or a v2 header with its address block
# and a few TLVs in one call; a longer header takes more calls.
_PEEK = 512


def trusted_networks(trusted: Any) -> tuple[Any, ...] | None:
    """proxy_trusted (see the module docstring) as a tuple of
    ipaddress networks, or None (any peer).  ValueError for an entry that
    is not an address or network."""
    if trusted is None:
        return None
    if isinstance(trusted, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        trusted = [trusted]
    return tuple(item if isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network))
                 else ipaddress.ip_network(item, strict=False) for item in trusted)


def log_refused(peer: Any, reason: str) -> None:
    """Log (warning, "pyfast.proxy") that the connection from peer was
    closed for its PROXY header, and why."""
    log.warning("pyfast.proxy: connection from %s closed: %s", peer, reason)


def trusted_peer(server: Any, peer: Any) -> bool:
    """True if peer (an address as socket.accept() gives it) may send a
    PROXY header to server, per server.proxy_trusted (see the module
    docstring).  Raises ValueError when proxy_trusted holds something that
    is not an address or network."""
    trusted = getattr(server, "proxy_trusted", None)
    if trusted is None or not isinstance(peer, tuple):
        return True             # no list, or an AF_UNIX peer
    cached = server.__dict__.get("_pf_proxy_nets")
    if cached is None or cached[0] is not trusted:
        cached = (trusted, trusted_networks(trusted))
        server._pf_proxy_nets = cached
    host = peer[0].split("%", 1)[0]
    addr = ipaddress.ip_address(host)
    mapped = getattr(addr, "ipv4_mapped", None)
    return any(addr in net or (mapped is not None and mapped in net)
               for net in cached[1])


class _Rejected(Exception):
    pass


def _consume(request, n):
    """Drop n bytes that a peek showed are there."""
    while n > 0:
        got = request.recv(n)
        if not got:
            raise _Rejected("connection closed while its header was read")
        n -= len(got)


def _read_header(request, parser, timeout):
    """Peek, feed, consume exactly the header's bytes; the parser is done
    when this returns."""
    deadline = None if timeout is None else monotonic() + timeout
    while True:
        if deadline is not None:
            left = deadline - monotonic()
            if left <= 0:
                raise _Rejected(f"header not complete within proxy_timeout ({timeout} s)")
            request.settimeout(left)
        try:
            data = request.recv(max(parser.need, _PEEK), socket.MSG_PEEK)
        except TimeoutError:
            raise _Rejected(f"header not complete within proxy_timeout ({timeout} s)")
        if not data:
            raise _Rejected("connection closed before its header was complete")
        used = parser.feed(data)
        _consume(request, len(data) if used is None else used)
        if used is not None:
            return


def setup_connection(server: Any, request: Any, client_address: Any) -> Any:
    """The PROXY protocol step of a connection of server (proxy_protocol
    true): check that the peer is trusted, read and parse the header from
    request (a socket, blocking or cooperative) and return the client
    address the handler is to get.  Returns None when the connection is to
    be closed (the reason is logged on "pyfast.proxy"); the caller closes
    it.  OSError from the socket (a reset) is logged and returns None too.

    Called by BaseServer._setup_connection() where the connection is
    served (see the module docstring)."""
    try:
        if not trusted_peer(server, client_address):
            raise _Rejected("peer not in proxy_trusted")
        timeout = server.proxy_timeout
        parser = HeaderParser(server.proxy_max_length)
        saved = request.gettimeout()
        try:
            _read_header(request, parser, timeout)
        finally:
            if timeout is not None:
                request.settimeout(saved)
    except (_Rejected, ProxyProtocolError, OSError) as exc:
        log_refused(client_address, str(exc) if isinstance(exc, (_Rejected, ProxyProtocolError))
                    else f"{type(exc).__name__}: {exc}")
        return None
    if parser.local:
        return client_address
    return parser.source
