"""Cooperative session handlers: socketserver handlers as greenlets on C hubs.

The same handler code as with socketserver (BaseRequestHandler,
StreamRequestHandler, http.server's handlers), at event-loop speed: each
connection's handle() runs as a greenlet on a *hub*, a thread whose loop is
C (csrc/pf_loop.c: epoll_wait without the GIL, timers, an eventfd wake-up).
``self.request`` is a CooperativeSocket: recv, recv_into, send, sendall,
sendfile, makefile (rfile/wfile), settimeout... switch to the hub instead of
blocking, and the hub switches back when the descriptor is ready, so one
thread serves many connections with no OS context switch per message.

Everything else is socketserver's: serve_forever(), shutdown(), the hooks
(verify_request, process_request, finish_request, handle_error,
shutdown_request...), server_close().

Classes::

    CooperativeMixIn                        handlers as greenlets on hubs
    CooperativeTCPServer(CooperativeMixIn, TCPServer)
    CooperativeUnixStreamServer(CooperativeMixIn, UnixStreamServer)
    CooperativeHTTPServer(CooperativeTCPServer, pyfast.http.server.HTTPServer)
    CooperativeSocket(RequestSocket)        self.request

Functions: run_in_thread(fn, *args) (blocking work on a thread, the
greenlet waits), sleep(seconds) (cooperative), current_hub().

What a handler must not do: block its thread (time.sleep, a blocking
client library, a busy loop).  That stalls every connection of its hub
(the others keep going: ``hubs`` threads share the connections), and the
watchdog logs a warning with the handler's stack on the "pyfast" logger
when a hub has not come back to its loop for ``watchdog_threshold``
seconds.  Use run_in_thread() for blocking work.

TLS: set ``ssl_context`` on the server (pyfast.tls): the handshake and
every read and write switch to the hub (self.request is a
pyfast.tls.TLSSocket).  Not supported: an ssl.SSLSocket put in place by
server_bind/get_request (the stdlib's way; it blocks its hub), datagram
servers.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import threading
import traceback
from typing import Any, Callable, TypeVar

from greenlet import getcurrent, GreenletExit

from pyfast import _coop, _core
from pyfast.socketserver import RequestSocket, TCPServer

__all__ = ["CooperativeMixIn", "CooperativeTCPServer", "CooperativeHTTPServer",
           "CooperativeSocket", "run_in_thread", "sleep", "current_hub"]
if hasattr(socket, "AF_UNIX"):
    __all__.append("CooperativeUnixStreamServer")

log = logging.getLogger("pyfast")

current_hub = _coop.current_hub


class CooperativeSocket(RequestSocket):
    """The socket a cooperative handler gets as ``self.request``.

    A RequestSocket (a socket.socket) whose descriptor is non-blocking at
    the OS level; the blocking calls (recv, recv_into, recvfrom, send,
    sendall, sendto, sendmsg, recvmsg, sendfile, and the files of
    makefile()) switch to the hub until the descriptor is ready.  settimeout()/gettimeout()/
    setblocking() keep socket semantics: a call that waits longer than the
    timeout raises TimeoutError (a hub timer), timeout 0 raises
    BlockingIOError.  makefile('rb') and makefile('wb') are buffered in C.

    Used from a thread that is not its hub's (e.g. inside run_in_thread),
    the calls block that thread in poll(2) instead.
    """

    # TCPServer.get_request() accepts this socket with SOCK_NONBLOCK.
    accept_nonblocking = True

    # makefile('rb') and makefile('wb') (RequestSocket's): C files that
    # wait on the hub.
    _pf_reader_class = _coop.Reader
    _pf_writer_class = _coop.Writer

    # StreamRequestHandler.setup() takes wfile from makefile('wb', wbufsize)
    # even for wbufsize 0 (a C Writer that writes through, waiting on the hub).
    _pf_c_files = True

    __slots__ = ("_pf_conn",)

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1,
                 fileno: int | None = None) -> None:
        super().__init__(family, type, proto, fileno)
        timeout = socket.getdefaulttimeout()
        super().setblocking(False)
        self._pf_conn = _coop.Conn(super().fileno(),
                                   -1.0 if timeout is None else timeout)

    recv = _coop.sock_recv
    recv_into = _coop.sock_recv_into
    send = _coop.sock_send
    sendall = _coop.sock_sendall

    def _retry(self, writing, method, *args):
        conn = self._pf_conn
        while True:
            try:
                return method(self, *args)
            except BlockingIOError:
                if conn.timeout == 0:
                    raise
            if writing:
                _coop.wait_writable(self)
            else:
                conn.readable = False
                _coop.wait_readable(self)

    def recvfrom(self, *args: Any) -> Any:
        return self._retry(False, socket.socket.recvfrom, *args)

    def recvfrom_into(self, *args: Any) -> Any:
        return self._retry(False, socket.socket.recvfrom_into, *args)

    def recvmsg(self, *args: Any) -> Any:
        return self._retry(False, socket.socket.recvmsg, *args)

    def sendto(self, *args: Any) -> Any:
        return self._retry(True, socket.socket.sendto, *args)

    def sendmsg(self, *args: Any) -> Any:
        return self._retry(True, socket.socket.sendmsg, *args)

    def settimeout(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if value != value or value < 0:
                raise ValueError("Timeout value out of range")
        self._pf_conn.timeout = -1.0 if value is None else value

    def gettimeout(self) -> float | None:
        t = self._pf_conn.timeout
        return None if t < 0 else t

    timeout = property(gettimeout)

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._pf_conn.timeout != 0.0

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """socket.sendfile with os.sendfile(), waiting on the hub when the
        socket is full; files without a descriptor go through send()."""
        self._check_sendfile_params(file, offset, count)
        if self.gettimeout() == 0:
            raise ValueError("non-blocking sockets are not supported")
        try:
            fileno = file.fileno()
            fsize = os.fstat(fileno).st_size
        except (AttributeError, io.UnsupportedOperation, OSError):
            return self._sendfile_use_send(file, offset, count)
        if not fsize:
            return 0
        blocksize = min(count or fsize, 2 ** 30)
        total = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        break
                try:
                    sent = os.sendfile(self.fileno(), fileno, offset, blocksize)
                except BlockingIOError:
                    _coop.wait_writable(self)
                    continue
                if sent == 0:
                    break
                offset += sent
                total += sent
            return total
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset)

    def detach(self) -> int:
        self._pf_conn.detach()
        return super().detach()

    def _real_close(self, _ss=socket._socket.socket):
        self._pf_conn.detach()
        _ss.close(self)


_coop.use_conn_slot(CooperativeSocket._pf_conn)


_pool = None
_pool_lock = threading.Lock()


def _get_pool():
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _core.Pool(64, 10.0, name="pyfast-run_in_thread")
    return _pool


_T = TypeVar("_T")


def run_in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run fn(*args) on a pool thread; the calling greenlet waits (its hub
    serves the others meanwhile) and gets fn's result, or its exception.

    Outside a hub's greenlet (plain threads), calls fn(*args) directly.
    """
    hub = _coop.current_hub()
    if hub is None or getcurrent() is hub.loop:
        return fn(*args)
    g = getcurrent()

    def job():
        try:
            result = (True, fn(*args))
        except BaseException as e:
            result = (False, e)
        hub.resume(g, result)

    _get_pool().submit(job)
    while True:
        result = hub.wait_resume()
        if type(result) is tuple:
            break
    ok, value = result
    if ok:
        return value
    try:
        raise value
    finally:
        value = None


def sleep(seconds: float) -> None:
    """Suspend the calling greenlet for seconds (other handlers on its hub
    run meanwhile); time.sleep() outside a hub's greenlet."""
    hub = _coop.current_hub()
    if hub is None or getcurrent() is hub.loop:
        import time
        time.sleep(seconds)
    else:
        hub.sleep(seconds)


class _Watchdog(threading.Thread):
    """Warns when a hub has been away from its loop for > threshold s."""

    def __init__(self, hubs, threshold):
        super().__init__(name="pyfast-hub-watchdog", daemon=True)
        self.hubs = hubs
        self.threshold = threshold
        self.stopped = threading.Event()

    def run(self):
        threshold_ns = int(self.threshold * 1e9)
        reported = {}
        interval = max(self.threshold / 2, 0.005)
        while not self.stopped.wait(interval):
            now = _coop.now_ns()
            for hub in self.hubs:
                last = hub.last_ns
                if not hub.busy or now - last <= threshold_ns or reported.get(hub) == last:
                    continue
                reported[hub] = last
                frame = sys._current_frames().get(hub.thread_ident)
                stack = "".join(traceback.format_stack(frame)) if frame else "  (no frame)\n"
                log.warning("pyfast: hub %s has not returned to its loop for %.0f ms "
                            "(a handler blocks its thread: use pyfast.run_in_thread); "
                            "it is at:\n%s", hub.name, (now - last) / 1e6, stack)
                del frame


class _Connections:
    """The connections one set of hubs has been given and not yet shut
    down (queued for a hub, or being served): admission control and the
    drain of serve_forever() count them.  Thread-safe."""

    def __init__(self, server):
        self.server = server
        self.cond = threading.Condition(threading.Lock())
        self.open = 0

    def opened(self):
        with self.cond:
            self.open += 1

    def closed(self):
        with self.cond:
            self.open -= 1
            n = self.open
            if not n:
                self.cond.notify_all()
        limit = self.server.max_connections
        if limit and n == limit - 1:
            self.server._wake()         # below the bound again: accept

    def wait_closed(self, timeout):
        """Wait until none is open or timeout (seconds; None: no limit)
        passes.  True if none is open."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.open, timeout)


class CooperativeMixIn:
    """Mix-in class to handle each connection as a greenlet on a hub.

    Each accepted connection becomes a CooperativeSocket and its
    finish_request() (the handler) runs as a greenlet on one of ``hubs``
    hub threads (round robin).  Handler exceptions go to handle_error();
    the connection is then shut down (shutdown_request), as with
    ThreadingMixIn.

    Methods for the caller, and what each does to the handlers:

    - serve_forever(): accepts while fewer than ``max_connections``
      connections are open; at the bound the listening socket leaves its
      wait (new clients wait in the kernel's listen backlog,
      ``request_queue_size``) until one closes.  On the way out (after
      shutdown(), or an exception such as KeyboardInterrupt) it drains, as
      message servers do: it accepts no more; handlers waiting for their
      client to send (idle between requests) get GreenletExit at once;
      the others (sending a reply, sleeping, in run_in_thread) may finish
      within ``drain_timeout`` seconds; then whatever still runs gets
      GreenletExit (its ``finally`` blocks run, its socket is closed) and
      the hub threads end.  A second Ctrl-C during the drain ends it at once.
    - shutdown(): ends serve_forever() and returns once its drain is over.
    - server_close(): closes the listening socket and, without waiting,
      throws GreenletExit into every handler still running (their
      ``finally`` blocks run), closes their sockets and joins the hub
      threads: the non-graceful path (e.g. after handle_request()).

    Class attributes (may be set on an instance):

    - hubs (int): hub threads.  One is fastest when a single core serves;
      more keep the server answering when a handler blocks its thread.
    - max_connections (int; None or 0: no limit): connections accepted and
      not yet shut down, whether a handler runs for them yet or they wait
      for their hub; as pyfast.message servers' max_connections.
    - drain_timeout (seconds; None: no limit): how long serve_forever()
      lets running handlers finish on the way out; as pyfast.message
      servers' drain_timeout.
    - watchdog_threshold (seconds or None): warn (logger "pyfast") with the
      handler's stack when a hub has not come back to its loop for longer.
    """

    hubs: int = 2
    max_connections: int | None = None
    drain_timeout: float | None = 1.0
    watchdog_threshold: float | None = 0.1
    # get_request() (TCPServer's) accepts non-blocking into this class.
    request_socket_class: type[socket.socket] = CooperativeSocket
    _hub_list = None
    _hub_threads = None
    _watchdog = None
    _next_hub = 0
    _connections = None
    _drained = None             # threading.Event: serve_forever()'s drain is over

    def _start_hubs(self):
        n = max(1, int(self.hubs))
        name = type(self).__name__
        hubs = [_coop.Hub(f"{name}-hub-{i}") for i in range(n)]
        threads = []
        for hub in hubs:
            started = threading.Event()
            t = threading.Thread(target=_hub_main, args=(hub, started),
                                 name=hub.name, daemon=True)
            with _core.block_signals():   # signals go to serve_forever()'s thread
                t.start()
            started.wait()
            threads.append(t)
        self._connections = _Connections(self)
        self._hub_list, self._hub_threads = hubs, threads
        if self.watchdog_threshold is not None:
            self._watchdog = _Watchdog(hubs, float(self.watchdog_threshold))
            with _core.block_signals():
                self._watchdog.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to a hub, as a new greenlet."""
        hubs = self._hub_list
        if hubs is None:
            self._start_hubs()
            hubs = self._hub_list
        if type(request) is not CooperativeSocket and type(request) is socket.socket:
            request = CooperativeSocket(request.family, request.type,
                                        request.proto, request.detach())
        i = self._next_hub
        self._next_hub = (i + 1) % len(hubs)
        connections = self._connections
        connections.opened()
        try:
            hubs[i].spawn(self.process_request_greenlet, request, client_address,
                          connections)
        except BaseException:
            connections.closed()
            raise

    def process_request_greenlet(self, request: Any, client_address: Any,
                                 connections: Any = None) -> None:
        """Same as in BaseServer, in the connection's greenlet; exceptions
        go to handle_error().  GreenletExit (server_close, drain) ends it
        after the handler's finally blocks ran."""
        try:
            if isinstance(request, CooperativeSocket):
                _coop.current_hub().register(request)
            conn = self._setup_connection(request, client_address)
            if conn is not None:
                request, client_address = conn
                self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            try:
                self.shutdown_request(request)
            finally:
                if connections is not None:
                    connections.closed()

    def _accepting(self):
        # BaseServer.serve_forever() accepts while this is true.
        limit = self.max_connections
        connections = self._connections
        return not limit or connections is None or connections.open < limit

    def _handle_request_noblock(self):
        # Stops a batch of accepts at the bound.
        if not self._accepting():
            return False
        return super()._handle_request_noblock()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """As BaseServer.serve_forever, with admission control
        (max_connections) and, on the way out, the drain described in the
        class docstring (drain_timeout)."""
        drained = self._drained = threading.Event()
        try:
            super().serve_forever(poll_interval)
        finally:
            try:
                self._drain()
            finally:
                drained.set()

    def shutdown(self) -> None:
        """As BaseServer.shutdown; returns once serve_forever() has drained
        (drain_timeout bounds it).  Called from a handler (on a hub), it
        returns when serve_forever() stops accepting: the drain waits for
        that very handler."""
        super().shutdown()
        drained = self._drained
        if drained is not None and _coop.current_hub() is None:
            drained.wait()

    def _drain(self):
        hubs, connections = self._hub_list, self._connections
        if not hubs:
            return
        try:
            for hub in hubs:
                hub.end_idle()
            connections.wait_closed(self.drain_timeout)
        finally:
            self._stop_hubs()

    def server_close(self) -> None:
        """Close the listener, end every handler greenlet (GreenletExit),
        close their sockets, join the hub threads."""
        super().server_close()
        self._stop_hubs()

    def _stop_hubs(self):
        hubs, threads = self._hub_list, self._hub_threads
        self._hub_list = self._hub_threads = None
        if self._watchdog is not None:
            self._watchdog.stopped.set()
            self._watchdog = None
        if hubs:
            for hub in hubs:
                hub.stop()
            for t in threads:
                t.join(5.0)

    @property
    def hub_list(self) -> list[_coop.Hub] | None:
        """The running hubs (pyfast._coop.Hub), or None before the first connection."""
        return self._hub_list


def _hub_main(hub, started):
    hub.call_soon(started.set)
    hub.run()


class CooperativeTCPServer(CooperativeMixIn, TCPServer):
    pass


if hasattr(socket, "AF_UNIX"):
    from pyfast.socketserver import UnixStreamServer

    class CooperativeUnixStreamServer(CooperativeMixIn, UnixStreamServer):
        pass


from pyfast.http.server import HTTPServer as _HTTPServer  # noqa: E402


class CooperativeHTTPServer(CooperativeTCPServer, _HTTPServer):
    """http.server.HTTPServer on cooperative handlers: serves
    http.server.BaseHTTPRequestHandler / SimpleHTTPRequestHandler
    subclasses unchanged.

    pyfast.http.server.HTTPServer with CooperativeMixIn: server_bind()
    stores server_name and server_port, pyfast's request header parser is
    in place (pyfast.http.headers; PYFAST_HTTP_HEADERS=stdlib turns it
    off), and ``coalesce_header_blocks`` gives handlers a CooperativeSocket
    that sends a header block together with the body (no Nagle/delayed-ACK
    stall on keep-alive connections)."""
