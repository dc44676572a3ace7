"""Generic socket server classes, as the standard library's socketserver,
with the hot paths in C.

This module is a drop-in for ``socketserver``: the same classes, hooks,
class attributes and behaviour, so that ``import pyfast as socketserver``
is the only change a program needs.  What differs is underneath:

- serve_forever() and handle_request() sleep in epoll (C, without the GIL)
  on the listening socket and an eventfd, so shutdown() returns at once
  instead of at the next poll_interval, and Ctrl-C in that thread raises
  KeyboardInterrupt at once.
- get_request() accepts with accept4() in C, several connections per
  wake-up, with EMFILE handled (no busy loop when out of descriptors).
- ThreadingMixIn runs handlers on a pool of reusable threads (at most
  ``max_workers``) instead of creating a thread per connection.
- StreamRequestHandler's rfile and wfile are buffered in C
  (pyfast._core.SocketReader / SocketWriter).

There are five classes in an inheritance diagram, four of which represent
synchronous servers of four types, as in socketserver::

        +------------+
        | BaseServer |
        +------------+
              |
              v
        +-----------+        +------------------+
        | TCPServer |------->| UnixStreamServer |
        +-----------+        +------------------+
              |
              v
        +-----------+        +--------------------+
        | UDPServer |------->| UnixDatagramServer |
        +-----------+        +--------------------+

ForkingMixIn and ThreadingMixIn make asynchronous variants, e.g.
``class ThreadingTCPServer(ThreadingMixIn, TCPServer): pass``.

Request handlers: BaseRequestHandler (override handle()),
StreamRequestHandler (self.rfile / self.wfile), DatagramRequestHandler.

Handler models
--------------
How requests are run is chosen in one of two ways, both socketserver's
own shapes; BaseServer names no model.

1. A mix-in over process_request() (and, if it must, serve_forever()
   and shutdown()), in front of the server class, as ForkingMixIn and
   ThreadingMixIn: serve_forever() accepts, and the mix-in's
   process_request(request, client_address), called on the serving
   thread for each accepted request, hands it to a process, a thread
   (ThreadingMixIn) or a greenlet (pyfast.cooperative.CooperativeMixIn).
   Admission control (pyfast): serve_forever() stops watching the
   listening socket while ``_accepting()`` returns False (new clients
   wait in the listen backlog) and asks again after each wake-up;
   ``_wake()``, thread-safe, ends its current wait once the mix-in may
   accept again.  A server's ``admission`` (pyfast.prefork's workers)
   is asked too: serve_forever() accepts only while its admit() is
   true, and counts each connection (opened() once accepted, closed()
   in shutdown_request()).

2. A serving loop the request handler class brings (pyfast), for models
   that do their own accepting and reading, so that
   ``TCPServer(address, Handler)`` is all a user writes
   (pyfast.message.MessageHandler's C message loop).  If
   RequestHandlerClass has an attribute ``pyfast_server_loop``,
   serve_forever() calls ``RequestHandlerClass.pyfast_server_loop(server)``
   on its own thread to get a loop object and, instead of its own accept
   loop, calls ``loop.run(poll_interval)`` there; the loop serves
   ``server.socket`` until it is stopped, then closes the connections it
   holds and returns.  shutdown(), from another thread, calls
   ``loop.stop()`` and waits for run() (and so serve_forever()) to
   return.  stop() must be thread-safe and idempotent and may come
   before run() has started (run() then returns at once).  run() calls
   server.service_actions() about every poll_interval seconds and sends
   handler exceptions to server.handle_error(), as serve_forever() does;
   what it raises (KeyboardInterrupt...) serve_forever() raises.
   handle_request(), server_close() and the context manager stay
   BaseServer's.
"""

from __future__ import annotations

import _socket
import os
import socket
import sys
import threading
from io import BufferedIOBase
from time import monotonic as time
from typing import Any, BinaryIO, Callable, TypeVar

from pyfast import _core

__all__ = ["BaseServer", "TCPServer", "UDPServer",
           "ThreadingUDPServer", "ThreadingTCPServer",
           "BaseRequestHandler", "StreamRequestHandler",
           "DatagramRequestHandler", "ThreadingMixIn"]
if hasattr(os, "fork"):
    __all__.extend(["ForkingUDPServer", "ForkingTCPServer", "ForkingMixIn"])
if hasattr(socket, "AF_UNIX"):
    __all__.extend(["UnixStreamServer", "UnixDatagramServer",
                    "ThreadingUnixStreamServer",
                    "ThreadingUnixDatagramServer"])
    if hasattr(os, "fork") and sys.version_info >= (3, 12):
        __all__.extend(["ForkingUnixStreamServer", "ForkingUnixDatagramServer"])

# Connections accepted per wake-up of serve_forever() before it checks for
# shutdown and runs service_actions() again.
_ACCEPT_BATCH = 64


class DatagramSocket(socket.socket):
    """The socket of a datagram server (UDPServer.socket), which handlers
    get as ``self.request[1]``.

    A socket.socket in every respect, except in sendto(data, address) to a
    numeric IPv4 address (pyfast._core.datagram_sendto): the address is
    packed in C and the datagram sent keeping the GIL when it goes out at
    once; and while UDPServer.serve_forever() runs a batch of handlers with
    batch_replies on, such a datagram (at most 65,507 bytes) sent from the
    serving thread to an address that has sent to the server lately (a
    reply) is queued and its length returned at once: the queue
    goes out with one sendmmsg(2) when the batch's handlers have run, when
    it is full, when a reply has waited 100 µs as a handler returns, and
    before any other send or receive call on this socket (sendto with flags
    or a name, sendmsg, recv*, shutdown, close, detach).  A queued reply
    that the kernel refuses is logged (logger "pyfast.socketserver") instead
    of raised, since its handler has returned.  Everything else is
    socket.socket's own.
    """

    __slots__ = ("_pf_ipv4", "_pf_replies")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pf_ipv4 = _socket.socket.family.__get__(self) == socket.AF_INET
        self._pf_replies = None

    sendto = _core.datagram_sendto


def _sends_queued_replies_first(name):
    call = getattr(socket.socket, name)

    def method(self, *args, **kwargs):
        replies = self._pf_replies
        if replies is not None:
            replies.flush_replies()
        return call(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = call.__doc__
    return method


for _name in ("sendmsg", "recv", "recvfrom", "recv_into", "recvfrom_into",
              "recvmsg", "recvmsg_into", "shutdown", "close", "detach"):
    setattr(DatagramSocket, _name, _sends_queued_replies_first(_name))
del _name


_DATAGRAM_SOCKETS = (DatagramSocket, socket.socket)

# TCPServer.coalesce_header_blocks: request socket class -> its coalescing
# class (pyfast.http.server), composed once per class.
_coalescing_classes = {}


def _coalescing_class(cls):
    from pyfast.http.server import coalescing_socket_class
    return coalescing_socket_class(cls)


class RequestSocket(socket.socket):
    """The socket a stream handler gets as ``self.request``.

    A socket.socket in every respect (recv, sendall, sendfile, settimeout,
    setsockopt, getpeername, fileno, shutdown, detach, ...), except that
    makefile('rb') and makefile('wb') return files buffered in C
    (pyfast._core.SocketReader / SocketWriter).  Other modes (text,
    unbuffered reads) are socket.socket.makefile's.
    """

    __slots__ = ()

    # Accepted in non-blocking mode (accept4 SOCK_NONBLOCK): for sockets
    # whose calls wait in an event loop rather than in the kernel.
    accept_nonblocking = False

    # The C files of makefile('rb') and makefile('wb'), called as
    # cls(sock, buffering); a subclass whose calls wait elsewhere (e.g.
    # pyfast.cooperative.CooperativeSocket, on its hub) brings its own.
    _pf_reader_class: Callable[[Any, int], Any] = _core.SocketReader
    _pf_writer_class: Callable[[Any, int], Any] = _core.SocketWriter

    def makefile(self, mode: str = "r", buffering: int | None = None, *,  # type: ignore[override]
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
        """As socket.socket.makefile; 'rb' (buffered) and 'wb' are C files.

        buffering (int, bytes): for 'rb', the read size (None/-1: default);
        for 'wb', 0 writes through, > 0 buffers that many bytes, None/-1
        buffers io.DEFAULT_BUFFER_SIZE.
        """
        if mode == "rb" and buffering != 0:
            return self._pf_reader_class(self, -1 if buffering is None else buffering)
        if mode == "wb":
            return self._pf_writer_class(self, -1 if buffering is None else buffering)
        return super().makefile(mode, buffering, encoding=encoding,
                                errors=errors, newline=newline)


_Server = TypeVar("_Server", bound="BaseServer")


class BaseServer:

    """Base class for server classes.

    Methods for the caller:

    - __init__(server_address, RequestHandlerClass)
    - serve_forever(poll_interval=0.5)
    - shutdown()
    - handle_request()  # if you do not use serve_forever()
    - fileno() -> int   # for selector

    Methods that may be overridden:

    - server_bind()
    - server_activate()
    - get_request() -> request, client_address
    - handle_timeout()
    - verify_request(request, client_address)
    - server_close()
    - process_request(request, client_address)
    - shutdown_request(request)
    - close_request(request)
    - service_actions()
    - handle_error()

    Methods for derived classes:

    - finish_request(request, client_address)

    Class variables that may be overridden by derived classes or
    instances:

    - timeout
    - address_family
    - socket_type
    - allow_reuse_address
    - allow_reuse_port
    - workers (pyfast): serve_forever() serves in that many forked worker
      processes and supervises them (see pyfast.prefork); default 1
    - ssl_context (pyfast): a server-side ssl.SSLContext: every stream
      connection is TLS, its handshake run where the handler runs, never
      in serve_forever()'s thread of a threaded or cooperative server
      (see pyfast.tls); None (default): plaintext
    - handshake_timeout (pyfast; seconds, default 10; None: no limit)

    Instance variables:

    - RequestHandlerClass
    - socket
    - worker_id (pyfast): the worker's number (0 .. workers-1) in a worker
      process, else None

    """

    timeout: float | None = None

    # pyfast.prefork: worker processes; a worker's admission (an object
    # with admit() -> bool, opened(), closed(); see the module docstring).
    workers: int = 1
    worker_id: int | None = None
    admission: Any = None

    # pyfast.tls: a server-side ssl.SSLContext serves TLS on every
    # connection (None: plaintext); the handshake runs in
    # _setup_connection() and must complete within handshake_timeout
    # seconds (None: no limit).
    ssl_context: Any = None
    handshake_timeout: float | None = 10.0

    def __init__(self, server_address: Any,
                 RequestHandlerClass: Callable[..., object]) -> None:
        """Constructor.  May be extended, do not override."""
        self.server_address = server_address
        self.RequestHandlerClass = RequestHandlerClass
        self.__is_shut_down = threading.Event()
        self.__shutdown_request = False
        # epoll + eventfd: serve_forever() sleeps here, shutdown() wakes it.
        self.__waiter = _core.Waiter()
        self.__waiting = 0          # serve_forever()/handle_request() running
        self.__close_waiter = False  # server_close() came while they ran
        # The handler classes' serving loops that serve_forever() runs now.
        self.__loops = []

    def server_activate(self) -> None:
        """Called by constructor to activate the server.

        May be overridden.

        """
        pass

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle requests until shutdown().

        poll_interval (seconds) is how often service_actions() runs when
        no request arrives; unlike socketserver, shutdown() does not wait
        for it: the wait ends at once.  Ignores self.timeout.  KeyboardInterrupt
        (Ctrl-C) is raised here at once when this is the main thread.
        """
        self.__is_shut_down.clear()
        try:
            # pyfast.prefork: this process supervises worker processes.
            if self.workers != 1 and self.worker_id is None:
                from pyfast import prefork
                prefork.serve(self, poll_interval, self.__waiter, self._shutdown_requested)
                return
            server_loop = getattr(self.RequestHandlerClass, "pyfast_server_loop", None)
            if server_loop is not None:
                # The handler class serves the socket itself (module
                # docstring, "Handler models", 2).
                self.__run_loop(server_loop(self), poll_interval)
                return
            fd = self.fileno()
            waiter = self.__start_waiting(fd)
            listening = True
            try:
                while not self.__shutdown_request:
                    if self._admits() != listening:  # admission control
                        listening = not listening
                        (waiter.add if listening else waiter.remove)(fd)
                    ready = (waiter.wait(0 if self._pending_requests() else poll_interval)
                             or self._pending_requests())
                    # bpo-35017: shutdown() called during the wait: exit at once.
                    if self.__shutdown_request:
                        break
                    if ready:
                        self._handle_requests_noblock()
                    self.service_actions()
            finally:
                self.__done_waiting(waiter, fd)
        finally:
            self.__shutdown_request = False
            self.__is_shut_down.set()

    def __run_loop(self, loop, poll_interval):
        """Run a handler class's serving loop until shutdown()."""
        loops = self.__loops
        loops.append(loop)
        try:
            # shutdown() may have come first: it set the flag before it
            # looked for loops to stop, and this loop was not there yet.
            if self.__shutdown_request:
                loop.stop()
            loop.run(poll_interval)
        finally:
            loops.remove(loop)

    def __start_waiting(self, fd):
        """The waiter, watching fd, for serve_forever()/handle_request().

        A server may be closed and served again, as socketserver's (whose
        serve_forever() opens a selector per call; werkzeug's reloader
        closes the server and serves a socket it got from its parent):
        after server_close() a new waiter is opened, and a close still
        pending for a call in another thread is called off, since the
        server is in use again.
        """
        waiter = self.__waiter
        if waiter.closed:
            waiter = self.__waiter = _core.Waiter()
        self.__close_waiter = False
        waiter.add(fd)
        self.__waiting += 1
        return waiter

    def __done_waiting(self, waiter, fd):
        self.__waiting -= 1
        waiter.remove(fd)
        if self.__close_waiter and not self.__waiting:
            waiter.close()

    def _accepting(self):
        """pyfast: True while serve_forever() is to accept.  A mix-in's
        admission control returns False above its bound (the listening
        socket leaves the wait: new clients wait in the kernel's listen
        backlog), and calls _wake() once it may accept again."""
        return True

    def _admits(self):
        """pyfast: _accepting(), and the worker's admission if any."""
        admission = self.admission
        return bool(self._accepting()) and (admission is None or admission.admit())

    def _shutdown_requested(self):
        """pyfast: True from shutdown() until serve_forever() has returned;
        a batch of requests run within one wake-up stops between two of
        them once it is (UDPServer's C batch, pyfast._core.DatagramReceiver)."""
        return self.__shutdown_request

    def _wake(self):
        """pyfast: end serve_forever()'s current (or next) wait at once.
        Thread-safe."""
        self.__waiter.wake()

    def shutdown(self) -> None:
        """Stops the serve_forever loop.

        Blocks until the loop has finished: within milliseconds, the wait
        is woken through an eventfd (or the handler class's serving loop
        is stopped, see the module docstring).  This must be called while
        serve_forever() is running in another thread, or it will
        deadlock (as socketserver.BaseServer.shutdown).
        """
        self.__shutdown_request = True
        self.__waiter.wake()
        for loop in tuple(self.__loops):
            loop.stop()
        self.__is_shut_down.wait()

    def service_actions(self) -> None:
        """Called by the serve_forever() loop.

        May be overridden by a subclass / Mixin to implement any code that
        needs to be run during the loop.
        """
        pass

    # The distinction between handling, getting, processing and finishing a
    # request is fairly arbitrary.  Remember:
    #
    # - handle_request() is the top-level call.  It waits for readiness,
    #   then calls get_request(), verify_request() and process_request()
    # - get_request() is different for stream or datagram sockets
    # - process_request() is the place that may fork a new process or create a
    #   new thread to finish the request
    # - finish_request() instantiates the request handler class; this
    #   constructor will handle the request all by itself

    def handle_request(self) -> None:
        """Handle one request, possibly blocking.

        Respects self.timeout (seconds) and the listening socket's timeout,
        as socketserver.BaseServer.handle_request; calls handle_timeout()
        when it passes without a request.
        """
        timeout = self.socket.gettimeout()
        if timeout is None:
            timeout = self.timeout
        elif self.timeout is not None:
            timeout = min(timeout, self.timeout)
        if timeout is not None:
            deadline = time() + timeout

        fd = self.fileno()
        waiter = self.__start_waiting(fd)
        try:
            while True:
                if self._pending_requests() or waiter.wait(timeout):
                    return self._handle_request_noblock()
                if timeout is not None:
                    timeout = deadline - time()
                    if timeout < 0:
                        return self.handle_timeout()
        finally:
            self.__done_waiting(waiter, fd)

    def _handle_requests_noblock(self):
        """Handle the requests that are ready, up to _ACCEPT_BATCH, with
        service_actions() between them as if each had its own wake-up."""
        for _ in range(_ACCEPT_BATCH - 1 if self._batch_accept() else 0):
            if not self._handle_request_noblock() or self.__shutdown_request:
                return
            self.service_actions()
        self._handle_request_noblock()

    def _batch_accept(self):
        """True when get_request() raises (rather than blocks) once no
        request is ready, so that several can be taken per wake-up."""
        return False

    def _pending_requests(self):
        """True when requests were read ahead (a datagram batch) and are
        waiting in user space, where the wait cannot see them."""
        return False

    def _handle_request_noblock(self):
        """Handle one request, without blocking.

        Assumes the wait reported the socket readable.  Returns False when
        no request could be got (get_request raised OSError, e.g.
        BlockingIOError once the backlog is empty).
        """
        admission = self.admission
        if admission is not None and not admission.admit():
            return False
        try:
            request, client_address = self.get_request()
        except OSError:
            return False
        if admission is not None:
            admission.opened()
        if self.verify_request(request, client_address):
            try:
                self.process_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
                self.shutdown_request(request)
            except:
                self.shutdown_request(request)
                raise
        else:
            self.shutdown_request(request)
        return True

    def handle_timeout(self) -> None:
        """Called if no new request arrives within self.timeout.

        Overridden by ForkingMixIn.
        """
        pass

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Verify the request.  May be overridden.

        Return True if we should proceed with this request.

        """
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        """Call finish_request.

        Overridden by ForkingMixIn and ThreadingMixIn.

        """
        conn = self._setup_connection(request, client_address)
        if conn is not None:
            request, client_address = conn
            self.finish_request(request, client_address)
        self.shutdown_request(request)

    def _setup_connection(self, request: Any, client_address: Any) -> Any:
        """pyfast: the per-connection setup stage, run where the handler
        will run (process_request(), a ThreadingMixIn worker, a cooperative
        greenlet, a ForkingMixIn child; never serve_forever()'s thread for
        a mix-in) just before finish_request(), in the order the bytes
        come: with proxy_protocol, the PROXY header (pyfast.proxy:
        client_address becomes the real client's); with ssl_context, the
        TLS handshake (pyfast.tls.handshake: request becomes the TLS
        socket).  Returns (request, client_address) for the handler, or
        None when the connection was refused (logged there; the handler
        does not run, handle_error() is not called, and the caller shuts
        the request down as usual)."""
        if getattr(self, "proxy_protocol", False):
            from pyfast import proxy
            client_address = proxy.setup_connection(self, request, client_address)
            if client_address is None:
                return None
        if self.ssl_context is None:
            return request, client_address
        from pyfast import tls
        request = tls.handshake(self, request, client_address)
        return None if request is None else (request, client_address)

    def server_close(self) -> None:
        """Called to clean-up the server.

        May be overridden.  Called while serve_forever() runs in another
        thread, the wait it sleeps in stays open until that returns, so
        that shutdown() still ends it (socketserver tolerates this too).
        The server may be served again afterwards (with a new self.socket
        for a TCPServer), as socketserver's.

        """
        if self.__waiting:
            self.__close_waiter = True
        else:
            self.__waiter.close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Finish one request by instantiating RequestHandlerClass."""
        self.RequestHandlerClass(request, client_address, self)

    def shutdown_request(self, request: Any) -> None:
        """Called to shutdown and close an individual request."""
        self.close_request(request)

    def close_request(self, request: Any) -> None:
        """Called to clean up an individual request."""
        pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Handle an error gracefully.  May be overridden.

        The default is to print a traceback to stderr and continue, as
        socketserver.BaseServer.handle_error.

        """
        print('-'*40, file=sys.stderr)
        print('Exception occurred during processing of request from',
            client_address, file=sys.stderr)
        import traceback
        traceback.print_exc()
        print('-'*40, file=sys.stderr)

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *args: object) -> None:
        self.server_close()


class TCPServer(BaseServer):

    """Base class for various socket-based server classes.

    Defaults to synchronous IP stream (i.e., TCP).

    Methods for the caller:

    - __init__(server_address, RequestHandlerClass, bind_and_activate=True)
    - serve_forever(poll_interval=0.5)
    - shutdown()
    - handle_request()  # if you don't use serve_forever()
    - fileno() -> int   # for selector

    Methods that may be overridden:

    - server_bind()
    - server_activate()
    - get_request() -> request, client_address
    - handle_timeout()
    - verify_request(request, client_address)
    - process_request(request, client_address)
    - shutdown_request(request)
    - close_request(request)
    - handle_error()

    Methods for derived classes:

    - finish_request(request, client_address)

    Class variables that may be overridden by derived classes or
    instances:

    - timeout
    - address_family
    - socket_type
    - request_queue_size (only for stream sockets): the listen() backlog
    - allow_reuse_address
    - allow_reuse_port
    - proxy_protocol, proxy_trusted, proxy_timeout, proxy_max_length
      (pyfast: the PROXY protocol header before every connection, so that
      client_address is the real client's behind a proxy; pyfast.proxy)
    - socket_activation, activation_name (pyfast): see pyfast.activation

    Instance variables:

    - server_address
    - RequestHandlerClass
    - socket

    The constructor raises OSError (e.g. EADDRINUSE) when the address
    cannot be bound, after closing the socket, as socketserver.TCPServer.
    """

    address_family = socket.AF_INET

    socket_type = socket.SOCK_STREAM

    request_queue_size = 5

    allow_reuse_address = False

    allow_reuse_port = False

    # pyfast.activation: server_bind() takes a socket systemd passed.
    socket_activation = True
    activation_name: str | None = None

    _listener = None

    # The class of self.request for accepted connections (pyfast): a
    # socket.socket subclass taking (family, type, proto, fileno).
    request_socket_class: type[socket.socket] = RequestSocket

    # pyfast.proxy: the PROXY protocol (HAProxy's v1/v2) before every
    # connection: client_address is the real client's.  See pyfast.proxy.
    proxy_protocol = False
    proxy_trusted: Any = None           # addresses/networks; None: any peer
    proxy_timeout: float | None = 5.0   # seconds for the whole header
    proxy_max_length = 2048             # bytes, v2 TLVs included

    # pyfast: True on HTTP servers: request_socket_class, whatever the
    # concurrency model's, is used with an HTTP header block held back until
    # what follows it (pyfast.http.server.coalescing_socket_class).
    coalesce_header_blocks = False

    def __init__(self, server_address: Any, RequestHandlerClass: Callable[..., object],
                 bind_and_activate: bool = True) -> None:
        """Constructor.  May be extended, do not override."""
        BaseServer.__init__(self, server_address, RequestHandlerClass)
        socket_class = (DatagramSocket if self.socket_type == socket.SOCK_DGRAM
                        else socket.socket)
        self.socket = socket_class(self.address_family, self.socket_type)
        if self.socket_type == socket.SOCK_STREAM:
            # accept4() in C; opened now so the descriptors a server holds
            # are all taken by its constructor.
            self._listener = _core.Listener(self.socket.fileno())
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except:
                self.server_close()
                raise

    def server_bind(self) -> None:
        """Called by constructor to bind the socket.

        May be overridden.  pyfast: a socket passed by systemd (socket
        activation, see pyfast.activation) that fits the server is taken
        instead of binding, unless socket_activation is false.

        """
        if self.socket_activation:  # pyfast.activation
            from pyfast import activation
            if activation.adopt(self):
                return
        if self.allow_reuse_address and hasattr(socket, "SO_REUSEADDR"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.allow_reuse_port and hasattr(socket, "SO_REUSEPORT"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        """Called by constructor to activate the server.

        May be overridden.

        """
        self.socket.listen(self.request_queue_size)

    def server_close(self) -> None:
        """Called to clean-up the server.

        May be overridden.

        """
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.socket.close()
        super().server_close()

    def fileno(self) -> int:
        """Return socket file number.

        Interface required by selector.

        """
        return self.socket.fileno()

    def get_request(self) -> tuple[Any, Any]:
        """Get the request and client address from the socket.

        May be overridden.  Accepts in C (accept4); returns a RequestSocket
        (a socket.socket) in blocking mode and the client's address as
        socket.accept() gives it.  Raises BlockingIOError when no
        connection is pending, OSError when accept fails.
        """
        sock = self.socket
        if type(sock) is not socket.socket:
            # e.g. an ssl.SSLSocket put there by server_bind(): its own
            # accept() wraps the connection.
            return sock.accept()
        listener = self._listener
        if listener is None or listener.fd != sock.fileno():
            if listener is not None:
                listener.close()
            listener = self._listener = _core.Listener(sock.fileno())
        cls = self.request_socket_class
        if self.coalesce_header_blocks:
            cls = _coalescing_classes.get(cls) or _coalescing_class(cls)
        fd, address = listener.accept(getattr(cls, "accept_nonblocking", False))
        try:
            return cls(sock.family, sock.type, sock.proto, fd), address
        except BaseException:
            os.close(fd)
            raise

    def _batch_accept(self):
        # Only our own get_request() on a plain socket is known to raise
        # instead of blocking when the backlog is empty.
        return (type(self).get_request is TCPServer.get_request
                and type(self.socket) is socket.socket)

    def shutdown_request(self, request: Any) -> None:
        """Called to shutdown and close an individual request."""
        try:
            #explicitly shutdown.  socket.close() merely releases
            #the socket and waits for GC to perform the actual close.
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass #some platforms may raise ENOTCONN here
        self.close_request(request)
        if self.admission is not None:
            self.admission.closed()

    def close_request(self, request: Any) -> None:
        """Called to clean up an individual request."""
        request.close()


class UDPServer(TCPServer):

    """UDP server class."""

    allow_reuse_address = False

    allow_reuse_port = False

    socket_type = socket.SOCK_DGRAM

    max_packet_size = 8192

    # pyfast: replies sent with self.socket.sendto() from the handlers of
    # one batch go out together with sendmmsg(2); see DatagramSocket.  A
    # reply then leaves when the batch's handlers (at most 64) have run,
    # not when its own handler returns: set False for servers whose
    # handlers may run long.
    batch_replies = True

    _receiver = None

    def get_request(self) -> tuple[Any, Any]:
        """(data, socket), client_address of the next datagram.

        Datagrams are read in batches with recvmmsg() (C) and handed out
        one per call; a datagram larger than max_packet_size bytes is
        truncated to that size, as socketserver.UDPServer.get_request.
        Raises BlockingIOError when none is queued.
        """
        sock = self.socket
        if type(sock) not in _DATAGRAM_SOCKETS:
            data, client_addr = sock.recvfrom(self.max_packet_size)
            return (data, sock), client_addr
        data, client_addr = self._datagram_receiver().next()
        return (data, sock), client_addr

    def _datagram_receiver(self):
        """The recvmmsg() reader of self.socket, made again when the socket
        or max_packet_size changed and none of its datagrams is pending."""
        receiver = self._receiver
        if receiver is not None and receiver.pending:
            return receiver
        sock = self.socket
        if (receiver is None or receiver.fd != sock.fileno()
                or receiver.max_packet_size != self.max_packet_size):
            receiver = self._receiver = _core.DatagramReceiver(
                sock.fileno(), self.max_packet_size, _ACCEPT_BATCH)
        return receiver

    def _handle_requests_noblock(self):
        # When every step from get_request() to close_request() is
        # socketserver's own, the loop over a batch runs in C (Cython):
        # one handler call per datagram, nothing else in Python.
        cls = type(self)
        if (type(self.socket) not in _DATAGRAM_SOCKETS
                or cls.get_request is not UDPServer.get_request
                or cls.verify_request is not BaseServer.verify_request
                or cls.process_request is not BaseServer.process_request
                or cls.finish_request is not BaseServer.finish_request
                or cls.shutdown_request is not UDPServer.shutdown_request
                or cls.close_request is not UDPServer.close_request
                or cls.service_actions is not BaseServer.service_actions
                or self.ssl_context is not None):  # refused per datagram (no DTLS)
            return super()._handle_requests_noblock()
        try:
            self._datagram_receiver().dispatch(
                self, self.socket, self.RequestHandlerClass,
                self.batch_replies and type(self.socket) is DatagramSocket,
                self._shutdown_requested)
        except OSError:
            pass  # as get_request() raising OSError in _handle_request_noblock

    def _batch_accept(self):
        return (type(self).get_request is UDPServer.get_request
                and type(self.socket) in _DATAGRAM_SOCKETS)

    def _pending_requests(self):
        receiver = self._receiver
        return receiver is not None and receiver.pending > 0

    def server_activate(self) -> None:
        # No need to call listen() for UDP.
        pass

    def server_close(self) -> None:
        # Datagrams read ahead came from the closed socket, not from one put
        # in its place (perhaps with the same descriptor number).
        receiver = self._receiver
        if receiver is not None and receiver.pending:
            self._receiver = None
        super().server_close()

    def shutdown_request(self, request: Any) -> None:
        # No need to shutdown anything.
        self.close_request(request)

    def close_request(self, request: Any) -> None:
        # No need to close anything.
        pass


if hasattr(os, "fork"):
    class ForkingMixIn:
        """Mix-in class to handle each request in a new process.

        As socketserver.ForkingMixIn: max_children, timeout (seconds),
        collect_children(), block_on_close.  The child handles the request
        inline and exits with os._exit(); it never touches the parent's
        worker pool or wait loop.
        """

        timeout = 300
        active_children = None
        max_children = 40
        # If true, server_close() waits until all child processes complete.
        block_on_close = True

        def collect_children(self, *, blocking: bool = False) -> None:
            """Internal routine to wait for children that have exited."""
            if self.active_children is None:
                return

            # Above max_children, reap with waitpid(-1) until below it.
            while len(self.active_children) >= self.max_children:
                try:
                    pid, _ = os.waitpid(-1, 0)
                    self.active_children.discard(pid)
                except ChildProcessError:
                    self.active_children.clear()
                except OSError:
                    break

            # Now reap all defunct children.
            for pid in self.active_children.copy():
                try:
                    flags = 0 if blocking else os.WNOHANG
                    pid, _ = os.waitpid(pid, flags)
                    # 0 if the child has not exited yet: discard() ignores it.
                    self.active_children.discard(pid)
                except ChildProcessError:
                    # someone else reaped it
                    self.active_children.discard(pid)
                except OSError:
                    pass

        def handle_timeout(self) -> None:
            """Wait for zombies after self.timeout seconds of inactivity.

            May be extended, do not override.
            """
            self.collect_children()

        def service_actions(self) -> None:
            """Collect the zombie child processes regularly in the ForkingMixIn.

            service_actions is called in the BaseServer's serve_forever loop.
            """
            self.collect_children()

        def process_request(self, request: Any, client_address: Any) -> None:
            """Fork a new subprocess to process the request."""
            pid = os.fork()
            if pid:
                # Parent process
                if self.active_children is None:
                    self.active_children = set()
                self.active_children.add(pid)
                self.close_request(request)
                return
            else:
                # Child process.
                # This must never return, hence os._exit()!
                status = 1
                try:
                    conn = self._setup_connection(request, client_address)
                    if conn is not None:
                        request, client_address = conn
                        self.finish_request(request, client_address)
                    status = 0
                except Exception:
                    self.handle_error(request, client_address)
                finally:
                    try:
                        self.shutdown_request(request)
                    finally:
                        os._exit(status)

        def server_close(self) -> None:
            super().server_close()
            self.collect_children(blocking=self.block_on_close)


class ThreadingMixIn:
    """Mix-in class to handle each request on a worker thread.

    Unlike socketserver's, no thread is created per request: handlers run
    on a pool of reusable threads, started on demand up to
    ``max_workers``; a request that arrives while all of them are busy
    waits in the pool's queue.  A thread is started only for a request that
    no thread will take (an idle thread, or one whose handler has just
    returned, takes the next request); while every thread is busy, a
    request first waits a few milliseconds for one to finish (see
    pyfast._core.Pool, start_delay), so connection churn reuses threads.
    Threads idle for ``worker_idle_timeout`` seconds exit.

    Availability: threads held by slow clients (a slowloris client that
    trickles a byte every few seconds keeps its handler, and its thread,
    forever) must not make the server less available than socketserver's
    thread per connection.  So ``max_workers`` is a soft bound: a request
    that has waited ``worker_overflow_after`` seconds while every thread is
    busy gets a thread of its own, as socketserver would have given it one
    at once.  This bounds how long any request waits behind slow ones,
    whatever the protocol (an HTTP header deadline would only cover HTTP),
    and costs nothing while threads keep freeing up.

    Class attributes:

    - daemon_threads: worker threads are daemon threads (the process may
      exit while handlers run), as socketserver.
    - block_on_close: server_close() waits until every queued and running
      handler has finished (unless daemon_threads), as socketserver.
    - max_workers (int): threads start on demand up to this many.
    - worker_overflow_after (seconds, or None): past max_workers, a
      request waiting this long for a thread gets one of its own; None
      makes max_workers a hard bound (requests then wait for a thread to
      finish, however long that takes).
    - worker_idle_timeout (seconds).
    - worker_sched_batch: run workers under SCHED_BATCH (Linux), so a
      worker woken by I/O does not preempt the thread holding the GIL.

    An exception that escapes process_request_thread() (SystemExit from a
    handler when handle_error() re-raises, or an override that bypasses
    it) goes to threading.excepthook with the worker thread, as from
    socketserver's per-request threads; the worker then takes the next
    request.  server_close() retires the pool; serving again starts a
    new one.
    """

    # Decides how threads will act upon termination of the
    # main process
    daemon_threads = False
    # If true, server_close() waits until all non-daemonic threads terminate.
    block_on_close = True
    max_workers = 1024
    worker_overflow_after = 0.5
    worker_idle_timeout = 10.0
    worker_sched_batch = True
    _pool = None

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Same as in BaseServer but on a worker thread.

        In addition, exception handling is done here.

        """
        try:
            conn = self._setup_connection(request, client_address)
            if conn is not None:
                request, client_address = conn
                self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the request for a worker thread."""
        pool = self._pool
        if pool is None:
            pool = self._pool = _core.Pool(
                self.max_workers, self.worker_idle_timeout,
                name=f"{type(self).__name__}-worker",
                daemon=bool(self.daemon_threads),
                sched_batch=bool(self.worker_sched_batch),
                overflow_after=self.worker_overflow_after)
        pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        pool = self._pool
        if pool is not None:
            # Its queued requests still run; the next request (the server
            # served again) gets a new pool.
            self._pool = None
            pool.close()
            if self.block_on_close and not self.daemon_threads:
                pool.join()

    @property
    def _threads(self):
        """The worker threads that server_close() waits for (as
        socketserver.ThreadingMixIn._threads, which holds the live
        non-daemon handler threads when block_on_close is true): the
        pool's live threads, a list; empty with daemon_threads or without
        block_on_close.  A pool thread outlives its request, so this
        counts threads, at most max_workers, not requests in progress."""
        pool = self._pool
        if pool is None or self.daemon_threads or not self.block_on_close:
            return []
        return pool.threads


if hasattr(os, "fork"):
    class ForkingUDPServer(ForkingMixIn, UDPServer): pass
    class ForkingTCPServer(ForkingMixIn, TCPServer): pass

class ThreadingUDPServer(ThreadingMixIn, UDPServer): pass
class ThreadingTCPServer(ThreadingMixIn, TCPServer): pass

if hasattr(socket, 'AF_UNIX'):

    class UnixStreamServer(TCPServer):
        address_family = socket.AF_UNIX

    class UnixDatagramServer(UDPServer):
        address_family = socket.AF_UNIX

    class ThreadingUnixStreamServer(ThreadingMixIn, UnixStreamServer): pass

    class ThreadingUnixDatagramServer(ThreadingMixIn, UnixDatagramServer): pass

    if hasattr(os, "fork"):
        class ForkingUnixStreamServer(ForkingMixIn, UnixStreamServer): pass

        class ForkingUnixDatagramServer(ForkingMixIn, UnixDatagramServer): pass


class BaseRequestHandler:

    """Base class for request handler classes.

    This class is instantiated for each request to be handled.  The
    constructor sets the instance variables request, client_address
    and server, and then calls the handle() method.  To implement a
    specific service, all you need to do is to derive a class which
    defines a handle() method.

    The handle() method can find the request as self.request, the
    client address as self.client_address, and the server (in case it
    needs access to per-server information) as self.server.  Since a
    separate instance is created for each request, the handle() method
    can define other arbitrary instance variables.

    """

    def __init__(self, request: Any, client_address: Any, server: Any) -> None:
        self.request = request
        self.client_address = client_address
        self.server = server
        self.setup()
        try:
            self.handle()
        finally:
            self.finish()

    def setup(self) -> None:
        pass

    def handle(self) -> None:
        pass

    def finish(self) -> None:
        pass


class StreamRequestHandler(BaseRequestHandler):

    """Define self.rfile and self.wfile for stream sockets.

    As socketserver.StreamRequestHandler, with both files buffered in C:

    - rbufsize (bytes): read size of rfile (-1: io.DEFAULT_BUFFER_SIZE).
    - wbufsize (bytes): 0 (default) sends every wfile.write() before it
      returns; otherwise wfile keeps up to wbufsize bytes until flush().
    - timeout (seconds or None): applied to the socket; a read or write
      that waits longer raises TimeoutError.
    - disable_nagle_algorithm: set TCP_NODELAY on the socket.

    Both files are io.BufferedIOBase (tell, seek... raise
    io.UnsupportedOperation, as the stdlib's) and take one call at a time:
    a write() or read from a second thread (another connection's handler
    broadcasting to this one) waits, without the GIL, until the first has
    returned, so every byte is sent and one write()'s bytes are never
    interleaved with another's.
    """

    # Default buffer sizes for rfile, wfile.
    rbufsize = -1
    wbufsize = 0

    # A timeout to apply to the request socket, if not None.
    timeout: float | None = None

    # Set by setup(): C files on a plain socket, else the socket's makefile().
    rfile: BinaryIO
    wfile: BinaryIO

    # Disable nagle algorithm for this socket, if True.
    # Use only when wbufsize != 0, to avoid small packets.
    disable_nagle_algorithm = False

    def setup(self) -> None:
        self.connection = self.request
        if self.timeout is not None:
            self.connection.settimeout(self.timeout)
        if self.disable_nagle_algorithm:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, True)
        conn = self.connection
        if _plain_socket(conn):
            # Files buffered in C, straight on the descriptor.
            self.rfile = (_core.SocketReader(conn, self.rbufsize)
                          if self.rbufsize != 0 else conn.makefile('rb', 0))
            self.wfile = _core.SocketWriter(conn, self.wbufsize)
        else:
            # Anything else (an ssl.SSLSocket, a wrapper) keeps its own
            # makefile(), as in socketserver; a pyfast socket class whose
            # makefile('wb', 0) is a C file that writes through
            # (_pf_c_files, e.g. CooperativeSocket) gives wfile too.
            self.rfile = conn.makefile('rb', self.rbufsize)
            if self.wbufsize == 0 and not getattr(conn, "_pf_c_files", False):
                self.wfile = _SocketWriter(conn)
            else:
                self.wfile = conn.makefile('wb', self.wbufsize)

    def finish(self) -> None:
        if not self.wfile.closed:
            try:
                self.wfile.flush()
            except OSError:
                # A final socket error may have occurred here, such as
                # the local error ECONNABORTED.
                pass
        self.wfile.close()
        self.rfile.close()


_PLAIN_SOCKETS = (RequestSocket, socket.socket)


def _plain_socket(conn):
    """True when conn's reads and writes are the descriptor's own (not TLS
    or a wrapper), so the C files can work on the descriptor directly."""
    return type(conn) in _PLAIN_SOCKETS


class _SocketWriter(BufferedIOBase):
    """Unbuffered writable file over any socket-like object with sendall(),
    as socketserver's (used when the request is not a plain socket)."""

    def __init__(self, sock):
        self._sock = sock

    def writable(self):
        return True

    def write(self, b):
        self._sock.sendall(b)
        with memoryview(b) as view:
            return view.nbytes

    def fileno(self):
        return self._sock.fileno()


class DatagramRequestHandler(BaseRequestHandler):

    """Define self.rfile and self.wfile for datagram sockets.

    rfile reads the datagram; what is written to wfile is sent back to the
    client as one datagram when handle() returns.
    """

    def setup(self) -> None:
        from io import BytesIO
        self.packet, self.socket = self.request
        self.rfile = BytesIO(self.packet)
        self.wfile = BytesIO()

    def finish(self) -> None:
        self.socket.sendto(self.wfile.getvalue(), self.client_address)
