"""Message handlers: the event-driven fast path of pyfast.

A request handler in socketserver owns a whole TCP session on a thread.
A *message handler* is instead called once per message: a C loop
(csrc/pf_msgloop.c, epoll) accepts, reads, cuts the byte stream into
messages (framing, csrc/pf_frame.c) and hands them to
``handle_message(message)`` in batches; replies queued with
``self.send()`` are written by the loop, never by a blocked handler.  It
is served by the ordinary server classes::

    import pyfast

    class Echo(pyfast.MessageHandler):
        framing = "line"                 # b"...\\n" lines, at most max_line bytes
        def handle_message(self, line):  # bytes, without the delimiter
            self.send_message(line)      # queued; the delimiter is added back

    with pyfast.TCPServer(("127.0.0.1", 8007), Echo) as server:
        server.serve_forever()

Framing (class attributes of the handler)
-----------------------------------------
- ``framing = "line"``: messages end with ``delimiter`` (default b"\\n",
  1 to 8 bytes), delivered without it unless ``keep_delimiter``.  A line
  longer than ``max_line`` bytes (default 65536) closes the connection.
- ``framing = "len16"`` / ``"len32"``: a 2- or 4-byte big-endian unsigned
  length, then that many bytes (the message).  A header announcing more
  than ``max_size`` bytes (default 65536) closes the connection.
- ``framing = "fixed"``: every message is ``message_size`` bytes.
- ``framing = "raw"``: each chunk that arrives (at most ``max_size``
  bytes) is a message; chunk boundaries depend on the network.

``send(data)`` queues bytes as they are; ``send_message(data)`` frames
them as incoming messages are framed (adds the length header, or the
delimiter).

Semantics
---------
- One connection's messages are handled in order and never concurrently.
  Handlers run on the thread that called serve_forever() (the loop thread),
  which takes the GIL once per batch of ready messages, whichever
  connections they came from.  A handler that blocks stalls every
  connection: hand slow work to a thread (``send()`` and ``close()`` are
  thread-safe) or use a ThreadingTCPServer with a request handler.
- Exceptions from setup()/handle_message() go to
  ``server.handle_error(handler, client_address)``; that connection is
  closed (after the replies it queued before), the others carry on.
- Backpressure: above ``high_water`` bytes of queued output (default
  64 KiB) a connection is not read until its output drains to
  ``low_water`` (default 16 KiB), so a client that does not read its
  replies costs bounded memory: at most ``high_water`` plus the replies to
  one message.  The mark is checked before each message, also within a
  batch of messages that arrived together: once it is passed, that
  connection's remaining messages wait (in order, each handled once) until
  the output has drained.  Bytes that other threads passed to ``send()``
  and the loop has not queued yet count too; replies a handler has not
  sent yet cannot.
- ``server.max_connections`` (class or instance attribute, default None:
  no limit): at the limit the server stops accepting; further clients wait
  in the listen backlog (``request_queue_size``) until one closes.
- ``server.loop_threads`` (int >= 1, default 1; ValueError from
  serve_forever() otherwise): loop threads sharing the connections (see
  below).
- ``idle_timeout`` (seconds, default None): a connection that sends
  nothing for that long is closed (``close_reason`` is a TimeoutError).
  Every byte received restarts it, so it does not bound a client that
  trickles a message a byte at a time; ``message_timeout`` does.
- ``message_timeout`` (seconds > 0, default None: no limit; TypeError or
  ValueError from serve_forever() otherwise): a message must be complete
  within that long of its first byte (or of the end of the previous
  message, whichever is later), however slowly its bytes arrive, else the
  connection is closed after the replies queued before it (logged as a
  warning on the ``pyfast.message`` logger; ``close_reason`` is a
  TimeoutError; ``stats["message_timeouts"]`` counts them).  Time while the
  loop does not read the connection (backpressure: the client does not read
  its replies) does not count; idle_timeout bounds that.  A
  connection with no message in progress is never closed by it.  If the
  queued replies are not read within one more message_timeout the
  connection is dropped.  It is the message loop's slowloris bound, as
  nginx's ``client_header_timeout`` is an HTTP server's.  Off by default,
  as in socketserver and asyncio: a slow client costs one descriptor and
  at most ``max_line``/``max_size`` bytes here, never a thread, so it does
  not delay other connections (``max_connections`` bounds how many), and a
  default would cut off legitimate slow senders (a person typing into a
  line protocol).  Internet-facing servers should set it (e.g. 30-60 s,
  nginx's default is 60 s).
- shutdown() ends serve_forever() within milliseconds (an eventfd wakes
  the loop); on the way out each connection's queued output is written,
  waiting up to ``server.drain_timeout`` seconds in all (class or instance
  attribute, default 1.0; None: no limit) for clients that read slowly,
  then the connection is closed and finish() runs.  Ctrl-C in the serving
  thread raises KeyboardInterrupt.

Hooks and attributes of a MessageHandler
----------------------------------------
- ``__init__(client_address, server)``: may be extended; the connection
  is not usable yet (use setup()).
- ``setup()``: the connection is open (send() works).
- ``handle_message(message)``: one message, ``bytes``.
- ``finish()``: the connection is closed; ``self.close_reason`` is None
  (closed by the peer, by close() or by shutdown) or an exception:
  FramingError, TimeoutError (idle_timeout, message_timeout), OSError
  (socket error), or the exception a hook raised.
- ``send(data)``, ``send_message(data)``, ``close()``: never block, from
  any thread.  ``closed``, ``queued`` (bytes of output not yet written),
  ``client_address``, ``server``.

TLS
---
``server.ssl_context`` (a server-side ``ssl.SSLContext``, class or
instance attribute, as on every pyfast server) serves TLS.  The C loop
decrypts what it reads before framing and encrypts the replies queued
during a batch together when the batch ends (one ``SSL_write`` of up to
64 KiB, one send), so framing, ``high_water``/``low_water`` (counted in
plaintext bytes; ``queued`` is plaintext too), ``idle_timeout``,
``message_timeout`` and the drain on shutdown keep their meaning.  The
handler is unchanged: it gets plaintext messages and sends plaintext.

- The handshake runs on the loop, between reads, never blocking it;
  ``setup()`` runs once it completed, so a handler exists only for a
  client that completed it.  ``server.handshake_timeout`` (seconds,
  default 10; None: no limit) bounds it from the accept; a client silent
  that long is closed and logged at DEBUG on the "pyfast.tls" logger.  A
  silent client costs a descriptor and ~550 bytes (its pf_mconn and TLS
  record): its OpenSSL state is made at its first byte.
- A handshake that fails (plaintext on the TLS port, no shared protocol
  or cipher, a truncated or corrupt record, a missing or untrusted client
  certificate under ``verify_mode = ssl.CERT_REQUIRED``) closes that
  connection only, no handler runs, and the reason is logged at INFO on
  "pyfast.tls" (DEBUG for a client that went away or timed out), as on the
  other servers (pyfast.tls).  ``stats["tls_refused"]`` counts them.
- After the handshake, a TLS error (a corrupt record; a FIN inside a
  record) closes the connection: ``close_reason`` is an ``ssl.SSLError``,
  logged at INFO.  The peer's close_notify, or a FIN between records, is
  an ordinary EOF (as ``SSLSocket`` with ``suppress_ragged_eofs``).  A
  graceful close sends close_notify before the FIN.
- Behind a proxy in TCP mode (HAProxy ``mode tcp`` with ``send-proxy`` or
  ``send-proxy-v2``, TLS passed through), with ``server.proxy_protocol``
  too (pyfast.proxy): the PROXY header comes first, in plaintext, and is
  read as on a plaintext server (``proxy_timeout``, ``proxy_trusted``; a
  missing, malformed or stalled header or an untrusted peer is refused on
  "pyfast.proxy" and counted in ``stats["proxy_refused"]``); the bytes
  behind it, in the same read or not, start the handshake, which
  ``handshake_timeout`` then bounds from the header's end.  A handshake
  that fails is refused as above, logged with the header's client
  address; ``client_address`` is that client's (the proxy's for a v2
  LOCAL or an UNKNOWN header), as on the threaded and cooperative
  servers.
- ``self.tls`` (a TLSInfo, None over plaintext): ``getpeercert()``,
  ``version()``, ``cipher()``, ``selected_alpn_protocol()``, as on
  ``ssl.SSLSocket``.
- How: OpenSSL, called from C on the loop's thread over memory BIOs, on
  the ``SSL_CTX`` inside the given ``SSLContext`` (its certificates,
  options, verify mode, ALPN protocols, ciphers, minimum/maximum version
  apply as they are), through the libssl that CPython's ``_ssl`` module
  already loaded: csrc/pf_tls.c resolves the ~35 functions it uses with
  ``dlsym`` at run time, so building pyfast needs no OpenSSL headers and
  the wheel carries no second OpenSSL.  serve_forever() raises
  RuntimeError on an interpreter whose ``_ssl`` has OpenSSL linked in
  statically or whose SSLContext is laid out otherwise than CPython
  3.10-3.13's (checked: the ``SSL_CTX`` found must report the context's
  options and verify mode), and ValueError for a context with
  ``sni_callback``, ``keylog_filename`` or ``_msg_callback`` (OpenSSL
  would call them with an ``ssl.SSLSocket`` the loop does not have).  The
  loop threads use the context without the GIL: do not change it
  (load_cert_chain, set_alpn_protocols...) while the server runs.

Where handlers run: on the loop thread, which takes the GIL once per
batch (as uvloop runs Python on its loop thread).  ``server.loop_threads``
(class or instance attribute, default 1) runs that many loops, each on
its own thread with its own epoll: the first accepts and hands each new
connection to the loop with the fewest (a connection then stays on its
loop, so its messages keep their order), and ``max_connections`` is shared
out among them.  The C work (epoll, recv, framing, send) then runs in
parallel; the handlers still take turns on the GIL, so more loops help
only when the C work, not the handlers, fills a core, and they add GIL
contention (a handler may wait up to the interpreter's switch interval,
5 ms by default, for another loop's batch).  Handing each batch to a
worker pool instead would pay the same contention plus a context switch
per batch, so it is not offered.

How the server runs this loop: MessageHandler.pyfast_server_loop(server)
gives serve_forever() a MessageServerLoop (see "Handler models" in
pyfast.socketserver); shutdown() stops it.

A Cython subclass (``cimport pyfast._message``) may override
``handle_message`` as a ``cpdef`` method and call the C-level
``send_bytes(p, n)`` / ``send_message_bytes(p, n)``: no Python call per
message.  EchoMessageHandler is one (it echoes each message, framed).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyfast import _core
from pyfast._message import (EchoMessageHandler, FramingError,
                             MessageHandler, MessageLoop)

if TYPE_CHECKING:   # ssl is imported where TLS is used: `import pyfast` does not load it
    import ssl

__all__ = ["MessageHandler", "EchoMessageHandler", "FramingError", "MessageServerLoop",
           "TLSInfo"]


def is_message_handler(cls: object) -> bool:
    """True if cls (a RequestHandlerClass) is a MessageHandler subclass."""
    return isinstance(cls, type) and issubclass(cls, MessageHandler)


def _loop_limits(server: Any) -> list[int | None]:
    """max_connections of each loop: server.max_connections shared out
    among server.loop_threads loops (fewer loops if there are fewer
    connections than loops)."""
    threads = getattr(server, "loop_threads", 1)
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"loop_threads must be an int >= 1, not {threads!r}")
    total = getattr(server, "max_connections", None)
    if not total:
        return [None] * threads
    threads = min(threads, total)
    return [total // threads + (1 if i < total % threads else 0) for i in range(threads)]


class TLSInfo:
    """The TLS parameters of a message handler's connection
    (MessageHandler.tls), taken when first asked for; the methods of
    ssl.SSLSocket that read them."""

    __slots__ = ("_version", "_cipher", "_alpn", "_der", "_verified", "_context")

    def __init__(self, *, version: str, cipher: tuple[str, str | None, int] | None,
                 alpn: str | None, peer_cert_der: bytes | None, verified: bool,
                 context: ssl.SSLContext) -> None:
        self._version = version
        self._cipher = cipher
        self._alpn = alpn
        self._der = peer_cert_der
        self._verified = verified
        self._context = context

    def version(self) -> str:
        """The protocol version, e.g. "TLSv1.3" (as SSLSocket.version)."""
        return self._version

    def cipher(self) -> tuple[str, str | None, int] | None:
        """(name, protocol version, secret bits), as SSLSocket.cipher."""
        return self._cipher

    def selected_alpn_protocol(self) -> str | None:
        """The ALPN protocol chosen, or None (as SSLSocket.selected_alpn_protocol)."""
        return self._alpn

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The client's certificate, as SSLSocket.getpeercert: None if it
        sent none; with binary_form, its DER bytes; else a dict of its
        fields when the context verifies certificates (verify_mode
        CERT_OPTIONAL or CERT_REQUIRED) and the certificate was verified,
        {} otherwise.  The dict is decoded by CPython's own decoder
        (ssl._ssl._test_decode_cert, through a temporary PEM file), so it
        has SSLSocket.getpeercert()'s keys."""
        if self._der is None:
            return None
        if binary_form:
            return self._der
        import ssl
        if self._context.verify_mode == ssl.CERT_NONE or not self._verified:
            return {}
        import os
        import tempfile
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(ssl.DER_cert_to_PEM_cert(self._der))
            return ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
        finally:
            os.unlink(path)

    def __repr__(self) -> str:
        return f"<TLSInfo {self._version} {self._cipher[0] if self._cipher else None}>"


class MessageServerLoop:
    """The serving loop of a server whose RequestHandlerClass is a
    MessageHandler subclass: MessageHandler.pyfast_server_loop(server)
    makes one for each serve_forever() call (the seam is described in
    pyfast.socketserver's module docstring).

    run(poll_interval) serves server.socket on server.loop_threads
    MessageLoops (default 1): the first on the calling thread, the others
    on threads of their own (TLS when server.ssl_context is set: see
    "TLS" in the module docstring).  It raises ValueError for a bad
    loop_threads or an ssl_context the loop cannot serve, RuntimeError when
    this interpreter's ssl module cannot be used from C (see "TLS"),
    or what a loop raised (KeyboardInterrupt in the calling thread, an
    OSError from a loop's epoll); every loop is stopped and has closed its
    connections (finish() ran for each) when it returns or raises.
    stop() ends run(); thread-safe, idempotent, may come before run().

    While run() runs, server._message_loops holds its MessageLoops and
    server._message_loop the first (their stats).

    In a worker process (pyfast.prefork) server.admission is the workers'
    board (pyfast._core.Board): the loops count their connections on it
    and the first accepts only while it admits, in C (csrc/pf_board.h).
    """

    def __init__(self, server: Any, handler_class: type[MessageHandler]) -> None:
        self.server = server
        self.handler_class = handler_class
        self._stopping = False
        self._loops: Sequence[MessageLoop] = ()

    def stop(self) -> None:
        self._stopping = True
        for loop in self._loops:
            loop.stop()

    def _should_stop(self) -> bool:
        return self._stopping

    def run(self, poll_interval: float | None = 0.5) -> None:
        server = self.server
        limits = _loop_limits(server)
        loops = [MessageLoop(server, self.handler_class, limit, i == 0)
                 for i, limit in enumerate(limits)]
        if len(loops) > 1:
            loops[0].share_with(loops[1:])
        # stop() from now on stops the loops; before, they see _stopping
        # when they start.
        self._loops = loops
        server._message_loops = loops
        server._message_loop = loops[0]
        failed: list[BaseException] = []

        def run_other(loop: MessageLoop) -> None:
            try:
                loop.run(poll_interval, self._should_stop, service_actions=False)
            except BaseException as exc:
                failed.append(exc)
                for other in loops:
                    other.stop()

        threads = [threading.Thread(target=run_other, args=(loop,), daemon=True,
                                    name=f"pyfast-message-loop-{i}")
                   for i, loop in enumerate(loops[1:], 1)]
        try:
            with _core.block_signals():   # signals go to serve_forever()'s thread
                for t in threads:
                    t.start()
            loops[0].run(poll_interval, self._should_stop)
        finally:
            for loop in loops[1:]:
                loop.stop()
            for t in threads:
                t.join()
            server._message_loop = None
            server._message_loops = ()
            for loop in loops:
                loop.close()
        if failed:
            raise failed[0]


