"""TLS for pyfast's stream servers: one server attribute, handshakes off the
accept path.

A server serves TLS when its ``ssl_context`` attribute (class or instance)
is a server-side ssl.SSLContext; None (the default) serves plaintext::

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain("cert.pem", "key.pem")

    class Server(pyfast.ThreadingTCPServer):
        ssl_context = ctx

The handshake is the first step of serving a connection, run where its
handler runs (BaseServer._setup_connection, before finish_request()): on
the worker thread for ThreadingMixIn servers, in the connection's
greenlet on a hub for cooperative servers, in the child for ForkingMixIn
servers; never in serve_forever()'s thread, except for the single-threaded
servers whose handlers run there too.  So a client that connects and never
sends its ClientHello does not stall accept(), as it does when the
listening socket is wrapped the standard library's way
(``server.socket = ctx.wrap_socket(server.socket, server_side=True)``,
which pyfast still accepts: its accept() handshakes).

- ``handshake_timeout`` (seconds, default 10; None: no limit): the whole
  handshake must complete within it (a client that trickles its
  ClientHello a byte at a time is bounded too).
- A handshake that fails (plaintext sent to the TLS port, no shared
  cipher or protocol version, a client certificate missing or not
  trusted under ``verify_mode = CERT_REQUIRED``, a truncated record, a
  reset, the timeout) closes that connection only, the handler never
  runs, handle_error() is not called, and the reason is logged on the
  "pyfast.tls" logger: INFO for a TLS protocol error, DEBUG for a client
  that went away or timed out (ordinary traffic on the internet).

What the handler gets as ``self.request``:

- threaded, forking and single-threaded servers: an ssl.SSLSocket
  (context.wrap_socket(..., server_side=True)); rfile/wfile are its
  makefile()'s, as socketserver's StreamRequestHandler on any SSL socket.
- cooperative servers (pyfast.cooperative): a TLSSocket, the interface of
  ssl.SSLSocket over ssl.SSLObject and memory BIOs (as uvloop's sslproto
  does), whose reads and writes go through the CooperativeSocket below,
  so they switch to the hub instead of blocking.

The peer's certificate (CERT_OPTIONAL / CERT_REQUIRED on the context) is
``self.request.getpeercert()``.  DTLS is not offered: ssl_context on a
datagram server raises TypeError in handle_error().  Message-handler
servers (pyfast.message) serve TLS in their C loop, not here: see the
"TLS" section of pyfast.message.
"""

from __future__ import annotations

import _socket
import heapq
import io
import logging
import select
import socket
import ssl
import threading
from time import monotonic
from typing import Any

from pyfast import _core
from pyfast.socketserver import PARKED

__all__ = ["handshake", "TLSSocket", "PendingHandshake"]

log = logging.getLogger("pyfast.tls")

# Plaintext bytes encrypted per flush by TLSSocket.sendall(): the memory
# held for a large write to a slow reader is bounded by this (plus one
# record of overhead per 16 KiB), not by the size of the write.
_WRITE_CHUNK = 256 * 1024

# Ciphertext read from the socket per wait.
_READ_CHUNK = 65536

# A write of at most this many plaintext bytes ending an HTTP header block
# is kept encrypted in the outgoing buffer until the next operation, so
# that the header block and the body leave in one send (servers with
# coalesce_header_blocks, as pyfast.http.server.CoalescingMixIn does for
# plaintext).
_HOLD_MAX = 16384

# A threaded server's handshake that waits for a client that has spoken
# (its ClientHello came: its next flight is one round trip away) waits on
# the worker up to this long (seconds), once per connection, before the
# connection goes to the waiting room; a client that has not spoken goes
# there at once.
_HANDSHAKE_GRACE = 0.05

# Errors of a client that went away or never spoke: logged at DEBUG.
_GONE = (ConnectionError, TimeoutError, ssl.SSLEOFError, BrokenPipeError)

# A socket's family and type as plain ints: socket.socket's properties make
# an enum member of each (a microsecond apiece, twice per connection).
_sock_family = _socket.socket.family.__get__
_sock_type = _socket.socket.type.__get__
_INET = (socket.AF_INET, socket.AF_INET6)


def handshake(server: Any, request: Any, client_address: Any) -> Any:
    """The TLS handshake of one accepted connection on server.ssl_context.

    Returns the socket the handler gets (an ssl.SSLSocket, or a TLSSocket
    when request's calls wait on a hub: CooperativeSocket), or None when
    the handshake failed: the connection is then closed and the reason
    logged ("pyfast.tls"), as described in the module docstring.  On a
    server that offers _resume_connection (ThreadingMixIn), a handshake
    that has to wait for its client returns pyfast.socketserver.PARKED
    instead: the connection waits in the server's waiting room, costing no
    worker, and comes back to a worker as a PendingHandshake request once
    readable; handshake() then carries on with it.
    Raises TypeError when request is not a stream socket (a datagram
    server with ssl_context set).
    """
    if type(request) is PendingHandshake:   # back from the waiting room
        return request.step()
    context = server.ssl_context
    timeout = server.handshake_timeout
    if not isinstance(request, socket.socket) or _sock_type(request) != socket.SOCK_STREAM:
        raise TypeError(f"ssl_context is for stream servers; the request is {request!r}")
    if _sock_family(request) in _INET:
        # TLS 1.3 servers send their session tickets after the handshake,
        # in a segment of their own: with Nagle's algorithm on, the first
        # reply then waits for the client's delayed ACK (~40 ms a
        # connection); and http.server writes the header block and the
        # body apart.  Records leave whole, so no small-segment flood.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if getattr(request, "accept_nonblocking", False):
        tls = TLSSocket(request, context,
                        hold_header_blocks=getattr(server, "coalesce_header_blocks", False))
        try:
            tls.do_handshake(timeout)
        except (OSError, ValueError) as exc:
            _log_refused(exc, client_address)
            tls.close()
            return None
        return tls
    prior = request.gettimeout()
    driven = getattr(server, "_resume_connection", None) is not None
    if driven:
        # Non-blocking from the start (PendingHandshake drives it so):
        # wrap_socket() copies the timeout, so it is set once.
        request.settimeout(0.0)
    if getattr(server, "coalesce_header_blocks", False):
        # An HTTP header block and its body in one TLS record (and one
        # send), as the plaintext CoalescingSocket does: what
        # context.wrap_socket() does, with that class.
        from pyfast.http.server import coalescing_socket_class
        cls = coalescing_socket_class(context.sslsocket_class or ssl.SSLSocket)
        tls = cls._create(sock=request, server_side=True, do_handshake_on_connect=False,
                          context=context)
    else:
        tls = context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
    if driven:
        pending = PendingHandshake(server, tls, client_address, prior, timeout)
        return pending.step(spoke=_wait_fd(tls.fileno(), False, 0))
    try:
        tls.settimeout(timeout)
        # One deadline for the whole handshake (_ssl's do_handshake).
        tls.do_handshake()
        tls.settimeout(prior)
    except (OSError, ValueError) as exc:
        _log_refused(exc, client_address)
        tls.close()
        return None
    return tls


def _wait_fd(fd: int, writable: bool, timeout: float) -> bool:
    """True when fd is readable (writable) within timeout seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if writable else select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


class PendingHandshake:
    """The TLS handshake of one connection of a threaded server, driven
    without blocking: step() runs on a worker as long as the client
    answers at once, and a connection that must wait for its client is
    parked in the server's WaitingRoom (one thread, one epoll for all of
    them) rather than holding the worker; readable again, it comes back to
    a worker as the request of process_request_thread(), whose
    _setup_connection() calls step() again.  handshake_timeout is one
    deadline over all of it, enforced by the waiting room too.

    shutdown() and close() act on the socket, so the server's
    shutdown_request() closes a pending handshake like a request."""

    __slots__ = ("server", "sock", "sslobj", "client_address", "prior", "deadline", "graced",
                 "in_heap")

    def __init__(self, server: Any, sock: ssl.SSLSocket, client_address: Any,
                 prior: float | None, timeout: float | None) -> None:
        # sock is non-blocking: handshake() set the timeout 0 before
        # wrap_socket(), which copies it; prior is the one it had before.
        self.server = server
        self.sock = sock
        # The _ssl object under sock: its do_handshake() without
        # SSLSocket.do_handshake's timeout dance (two settimeout calls,
        # each an ioctl, per step) on a socket that stays non-blocking.
        self.sslobj = sock._sslobj
        self.client_address = client_address
        self.prior = prior
        self.deadline = None if timeout is None else monotonic() + timeout
        self.graced = False      # the one wait on the worker was had
        self.in_heap = False     # the waiting room holds its deadline

    def step(self, spoke: bool = True) -> Any:
        """Drive the handshake as far as the client lets it.  Returns the
        ssl.SSLSocket (handshake done, blocking mode as before), PARKED
        (waiting in the waiting room), or None (refused or timed out:
        closed and logged).  spoke: the client has sent something since
        the last wait (so its next flight is a round trip away)."""
        sock = self.sock
        while True:
            try:
                self.sslobj.do_handshake()
            except ssl.SSLWantReadError:
                writable = False
            except ssl.SSLWantWriteError:
                writable = True
            except (OSError, ValueError) as exc:
                _log_refused(exc, self.client_address)
                sock.close()
                return None
            else:
                sock.settimeout(self.prior)
                return sock
            left = None if self.deadline is None else self.deadline - monotonic()
            if left is not None and left <= 0:
                self.expire()
                return None
            if spoke and not self.graced:
                self.graced = True
                if _wait_fd(sock.fileno(), writable, _HANDSHAKE_GRACE if left is None
                            else min(_HANDSHAKE_GRACE, left)):
                    continue
            _room(self.server).park(self, writable)
            return PARKED

    def expire(self) -> None:
        """handshake_timeout passed: close, logged at DEBUG."""
        _log_refused(TimeoutError(), self.client_address)
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()


_ROOM_LOCK = threading.Lock()


def _room(server: Any) -> WaitingRoom:
    room = server._tls_room
    if room is None:
        with _ROOM_LOCK:
            room = server._tls_room
            if room is None:
                room = server._tls_room = WaitingRoom(f"{type(server).__name__}-tls-handshakes",
                                                      server._resume_connection)
    return room


class WaitingRoom:
    """Connections whose TLS handshake waits for the client, watched by
    one thread on one epoll (pyfast._core.Waiter) instead of a worker
    each: a readable (or writable, as asked) connection is handed to
    resume(pending) (the server's pool), one whose deadline passed is
    closed (logged at DEBUG).  close() closes every connection still
    waiting and ends the thread."""

    def __init__(self, name: str, resume: Any) -> None:
        self._resume = resume
        self._waiter = _core.Waiter()
        self._lock = threading.Lock()
        self._parked: dict[int, PendingHandshake] = {}
        self._deadlines: list[tuple[float, int, PendingHandshake]] = []
        self._wait_until = float("inf")
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, pending: PendingHandshake, writable: bool = False) -> None:
        """Wait for pending's socket to be readable (writable) or its
        deadline; any thread."""
        fd = pending.fileno()
        with self._lock:
            if self._closed:
                pending.close()
                return
            self._parked[fd] = pending
            if pending.deadline is not None and not pending.in_heap:
                pending.in_heap = True
                heapq.heappush(self._deadlines, (pending.deadline, id(pending), pending))
                if pending.deadline < self._wait_until:
                    self._waiter.wake()
            self._waiter.add(fd, not writable, writable)

    def _run(self) -> None:
        waiter, lock, parked, deadlines = self._waiter, self._lock, self._parked, self._deadlines
        while True:
            with lock:
                if self._closed:
                    break
                self._wait_until = deadlines[0][0] if deadlines else float("inf")
            timeout = None if not deadlines else max(0.0, self._wait_until - monotonic())
            ready = waiter.wait(timeout)
            now = monotonic()
            resumed, expired = [], []
            with lock:
                for fd in ready:
                    pending = parked.pop(fd, None)
                    if pending is not None:
                        waiter.remove(fd)
                        resumed.append(pending)
                while deadlines and deadlines[0][0] <= now:
                    pending = heapq.heappop(deadlines)[2]
                    pending.in_heap = False
                    fd = pending.fileno()
                    if parked.get(fd) is pending:   # else a worker has it, and checks the deadline
                        del parked[fd]
                        waiter.remove(fd)
                        expired.append(pending)
            for pending in expired:
                pending.expire()
            for pending in resumed:
                try:
                    self._resume(pending)
                except Exception:    # the pool is closed: the server is closing
                    pending.close()
        with lock:
            left = list(parked.values())
            parked.clear()
            deadlines.clear()
        for pending in left:
            pending.close()
        waiter.close()

    def close(self) -> None:
        """Close every connection still waiting and end the thread (any
        thread; waits up to a second for it)."""
        with self._lock:
            self._closed = True
            self._waiter.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)


def _log_refused(exc, client_address):
    if isinstance(exc, _GONE) or (isinstance(exc, ssl.SSLError)
                                  and exc.reason in ("UNEXPECTED_EOF_WHILE_READING",)):
        log.debug("TLS handshake with %s ended: %s", client_address, _reason(exc))
    else:
        log.info("TLS handshake with %s refused: %s", client_address, _reason(exc))


def _reason(exc):
    if isinstance(exc, TimeoutError):
        return "timed out (handshake_timeout)"
    return f"{type(exc).__name__}: {exc}"


class TLSSocket:
    """ssl.SSLSocket's interface on a socket whose calls wait in an event
    loop (pyfast.cooperative.CooperativeSocket): ssl.SSLObject over two
    ssl.MemoryBIO, fed by the socket's recv() and flushed with its
    sendall(), so the handshake, reads and writes switch to the hub
    instead of blocking its thread.

    What a cooperative handler gets as self.request on a server with
    ssl_context.  Offers recv, recv_into, send, sendall, sendfile (through
    send: the kernel cannot encrypt), makefile (rfile/wfile), settimeout,
    gettimeout, setblocking, getpeername, getsockname, setsockopt,
    getsockopt, fileno, shutdown, close, unwrap, and the TLS queries
    getpeercert, version, cipher, shared_ciphers, compression,
    selected_alpn_protocol, get_channel_binding, pending.  Timeouts are
    the underlying socket's, per wait (TimeoutError).  A close without
    the peer's close_notify reads as EOF (b""), as SSLSocket with
    suppress_ragged_eofs.  Not a socket.socket subclass (sendfile and
    other raw-descriptor paths would bypass TLS).

    With hold_header_blocks, a write of at most 16 KiB ending in
    b"\\r\\n\\r\\n" is held back and encrypted with what follows it
    (or sent before the next read, shutdown or close), so an HTTP header
    block and its body leave as one TLS record in one send.
    """

    __slots__ = ("_sock", "_send_raw", "_sslobj", "_ssl", "_in", "_out", "_hold", "_held",
                 "_io_refs", "_closed", "context", "server_side",
                 "__weakref__")

    def __init__(self, sock: socket.socket, context: ssl.SSLContext,
                 server_side: bool = True, hold_header_blocks: bool = False) -> None:
        self._sock = sock
        # The socket class's own sendall, below any header-block holding
        # of pyfast.http.server.CoalescingMixIn (ciphertext is never held).
        cls = type(sock)
        self._send_raw = getattr(cls, "_pf_sendall", None) or cls.sendall
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._sslobj = context.wrap_bio(self._in, self._out, server_side=server_side)
        # The _ssl object under the SSLObject: its read, write, pending
        # and do_handshake are SSLObject's without a Python frame each.
        self._ssl = self._sslobj._sslobj
        self._hold = hold_header_blocks
        self._held = None     # a held-back header block (plaintext bytes)
        self._io_refs = 0
        self._closed = False
        self.context = context
        self.server_side = server_side

    # ---------------------------------------------------------------- driving

    def _flush(self) -> None:
        """Send what the SSLObject has written (waits on the hub)."""
        data = self._out.read()
        if data:
            self._send_raw(self._sock, data)

    def _fill(self) -> None:
        """Wait for ciphertext and feed it to the SSLObject (EOF too)."""
        data = self._sock.recv(_READ_CHUNK)
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def do_handshake(self, timeout: float | None = None) -> None:
        """Complete the handshake.  timeout (seconds; None: the socket's
        own, per wait) bounds the whole handshake: TimeoutError when it
        passes.  ssl.SSLError when the peer's handshake is refused,
        OSError when the connection fails."""
        sock = self._sock
        prior = sock.gettimeout()
        deadline = None if timeout is None else monotonic() + timeout
        sslobj = self._ssl
        # A server has nothing to say before the ClientHello: wait for it
        # first (not through an SSLWantReadError).
        wait = self.server_side and not self._in.pending
        try:
            while True:
                if wait:
                    if deadline is not None:
                        left = deadline - monotonic()
                        if left <= 0:
                            raise TimeoutError("_ssl.c: The handshake operation timed out")
                        sock.settimeout(left)
                    if self._in.eof:
                        raise ssl.SSLEOFError(ssl.SSL_ERROR_EOF,
                                              "EOF occurred in violation of protocol")
                    self._fill()
                try:
                    sslobj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                self._flush()
                wait = True
            self._flush()   # the server's last flight, session tickets
        finally:
            if deadline is not None:
                sock.settimeout(prior)

    def _read(self, n: int, buffer: Any = None) -> Any:
        sslobj = self._ssl
        if self._held is not None:
            self._release()
        if not sslobj.pending() and not self._in.pending and not self._in.eof:
            # Nothing buffered: wait for ciphertext first, rather than
            # through an SSLWantReadError per read.
            self._fill()
        while True:
            try:
                if buffer is None:
                    return sslobj.read(n)
                return sslobj.read(n, buffer)
            except ssl.SSLWantReadError:
                if self._in.eof:
                    return b"" if buffer is None else 0
            except ssl.SSLEOFError:
                # The peer closed without close_notify: EOF, as SSLSocket
                # with suppress_ragged_eofs=True.
                return b"" if buffer is None else 0
            if self._out.pending:
                self._flush()    # e.g. a key update's reply
            self._fill()

    # --------------------------------------------------------------- reading

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to bufsize (bytes) of plaintext; b"" at EOF."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv() on TLSSocket")
        if bufsize == 0:
            return b""
        return self._read(bufsize)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Read up to nbytes (bytes; 0: len(buffer)) of plaintext into buffer."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv_into() on TLSSocket")
        if nbytes <= 0:
            nbytes = len(buffer) if not isinstance(buffer, memoryview) else buffer.nbytes
        if nbytes == 0:
            return 0
        return self._read(nbytes, buffer)

    read = recv

    def pending(self) -> int:
        """Decrypted bytes ready to read without waiting."""
        return self._ssl.pending()

    # --------------------------------------------------------------- writing

    def _release(self) -> None:
        """Encrypt and send a held-back header block (waits on the hub)."""
        held = self._held
        if held is not None:
            self._held = None
            self._ssl.write(held)
        self._flush()

    def send(self, data: Any, flags: int = 0) -> int:
        """Encrypt and send up to 256 KiB of data; the bytes taken."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to send() on TLSSocket")
        held = self._held
        if held is not None:
            self._held = None
            self._ssl.write(held)
        with memoryview(data) as view:
            n = self._ssl.write(view[:_WRITE_CHUNK])
        self._flush()
        return n

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Encrypt and send all of data, 256 KiB at a time (the memory a
        write to a slow reader holds is bounded by that)."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to sendall() on TLSSocket")
        sslobj = self._ssl
        held = self._held
        if type(data) is bytes and len(data) <= _WRITE_CHUNK:
            # The common case, without a memoryview.
            if held is not None:
                # The header block and what follows: one record, one send.
                self._held = None
                data = held + data
            elif self._hold and len(data) <= _HOLD_MAX and data.endswith(b"\r\n\r\n"):
                self._held = data
                return
            if data:
                sslobj.write(data)
            self._flush()
            return
        with memoryview(data) as view, view.cast("B") as view:
            total = view.nbytes
            if held is not None:
                self._held = None
                sslobj.write(held)
            elif self._hold and total <= _HOLD_MAX and view[total - 4:] == b"\r\n\r\n":
                self._held = bytes(view)
                return
            offset = 0
            while offset < total:
                offset += sslobj.write(view[offset:offset + _WRITE_CHUNK])
                self._flush()
            if not total:
                self._flush()

    write = sendall

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """socket.sendfile through send() (TLS is encrypted in user space)."""
        return socket.socket._sendfile_use_send(self, file, offset, count)  # type: ignore[attr-defined]

    _check_sendfile_params = socket.socket._check_sendfile_params  # type: ignore[attr-defined]

    # ------------------------------------------------------------ TLS state

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._sslobj.getpeercert(binary_form)

    def version(self) -> str | None:
        return self._sslobj.version()

    def cipher(self) -> Any:
        return self._sslobj.cipher()

    def shared_ciphers(self) -> Any:
        return self._sslobj.shared_ciphers()

    def compression(self) -> str | None:
        return self._sslobj.compression()

    def selected_alpn_protocol(self) -> str | None:
        return self._sslobj.selected_alpn_protocol()

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        return self._sslobj.get_channel_binding(cb_type)

    @property
    def session(self) -> Any:
        return self._sslobj.session

    @property
    def session_reused(self) -> bool:
        return self._sslobj.session_reused

    def unwrap(self) -> socket.socket:
        """Send close_notify, wait for the peer's, and return the
        underlying socket (plaintext from here on), as SSLSocket.unwrap."""
        if self._held is not None:
            self._release()
        sslobj = self._sslobj
        while True:
            try:
                sslobj.unwrap()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if self._in.eof:
                    break
                self._fill()
        self._flush()
        sock = self._sock
        self._closed = True
        return sock

    # ------------------------------------------------------ socket delegates

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def getblocking(self) -> bool:
        return self._sock.getblocking()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def setsockopt(self, *args: Any) -> None:
        self._sock.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        return self._sock.getsockopt(*args)

    @property
    def family(self) -> int:
        return self._sock.family

    @property
    def type(self) -> int:
        return self._sock.type

    @property
    def proto(self) -> int:
        return self._sock.proto

    def shutdown(self, how: int) -> None:
        """Send what is held back, then shut the socket down (no
        close_notify, as SSLSocket.shutdown)."""
        try:
            if self._held is not None:
                self._release()
        finally:
            self._sock.shutdown(how)

    def makefile(self, mode: str = "r", buffering: int | None = None, *,
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
        """As socket.socket.makefile (socket.SocketIO over recv_into/send);
        the socket stays open until its files are closed too."""
        return socket.socket.makefile(self, mode, buffering,  # type: ignore[arg-type]
                                      encoding=encoding, errors=errors, newline=newline)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        """Send what is held back and close (the descriptor closes once
        the makefile() files are closed too).  No close_notify, as
        SSLSocket.close."""
        if self._closed:
            return
        self._closed = True
        if self._held is not None:
            try:
                self._release()
            except OSError:
                pass
        if self._io_refs <= 0:
            self._sock.close()

    def detach(self) -> int:
        raise io.UnsupportedOperation("a TLS socket cannot give up its descriptor; use unwrap()")

    def __enter__(self) -> TLSSocket:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else (self.version() or "handshaking")
        return f"<pyfast.tls.TLSSocket {state} over {self._sock!r}>"

