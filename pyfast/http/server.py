"""HTTP servers on pyfast: http.server's HTTPServer and ThreadingHTTPServer
with pyfast's accept loop, worker pool and C-buffered request files.

The request handlers are the standard library's, unchanged:
BaseHTTPRequestHandler, SimpleHTTPRequestHandler and CGIHTTPRequestHandler
(where the running Python has it) are re-exported from http.server, so

    from pyfast.http.server import HTTPServer, BaseHTTPRequestHandler

is the only change an http.server program needs.

Request headers: importing this module replaces http.client.parse_headers
(which BaseHTTPRequestHandler.parse_request calls) with
pyfast.http.headers.parse_headers.  For the C-buffered rfile of pyfast's
servers it reads the header block in C and builds the same message as the
email parser would, without running it when the block is plain (the
stdlib's parser on the same bytes otherwise); for any other file it calls
the original, so every other user of http.client is unaffected.  Turn it
off with pyfast.http.headers.uninstall(), or PYFAST_HTTP_HEADERS=stdlib in
the environment before the import.

Two things differ from http.server, both on the wire only:

- Response headers and body leave in one send.  http.server writes the
  header block (end_headers()) and the body in separate writes; with
  Nagle's algorithm on, the body of a keep-alive response then waits for
  the client's delayed ACK (~40 ms a request).  A server with
  ``coalesce_header_blocks = True`` (HTTPServer here, and every server
  class built on it, CooperativeHTTPServer included) gives handlers a
  request socket that holds a write that ends a header block back until
  the next write, read, shutdown or close of the connection
  (CoalescingMixIn, composed with the server's request_socket_class).
- pyfast's SimpleHTTPRequestHandler sends regular files with sendfile(2).
"""

from __future__ import annotations

import http.server as _http_server
import io
import os
import socket
import ssl
import sys
from typing import Any

from pyfast import _core, socketserver
from pyfast.http import headers as _headers
from pyfast.socketserver import RequestSocket

# The stdlib's handlers and helpers, unchanged.
from http.server import (BaseHTTPRequestHandler, DEFAULT_ERROR_MESSAGE,  # noqa: F401
                         DEFAULT_ERROR_CONTENT_TYPE)
from http import HTTPStatus  # noqa: F401

__all__ = ["HTTPServer", "ThreadingHTTPServer", "BaseHTTPRequestHandler",
           "SimpleHTTPRequestHandler", "CoalescingSocket", "CoalescingMixIn",
           "coalescing_socket_class"]
if hasattr(_http_server, "CGIHTTPRequestHandler"):
    CGIHTTPRequestHandler = _http_server.CGIHTTPRequestHandler
    __all__.append("CGIHTTPRequestHandler")

_headers._install_from_environment()

# A held-back header block is at most this many bytes; a write that follows
# it and is at most _JOIN_MAX bytes is joined to it in one send.
_HOLD_MAX = 16384
_JOIN_MAX = 65536


class CoalescingMixIn:
    """Mix-in for a request socket class: sends an HTTP header block
    together with what follows it.

    sendall() of at most 16 KiB ending in b"\\r\\n\\r\\n" (a header block,
    as http.server's end_headers() writes it) is held back; the next
    sendall() sends both in one call (one TCP segment for a small
    response).  Whatever the handler does next with the connection (send,
    sendfile, recv, reading its rfile, shutdown, close, detach) sends the
    held bytes first, so nothing is reordered or lost.

    Not used directly: coalescing_socket_class(base) composes it with the
    request socket class of a concurrency model (RequestSocket for the
    thread and plain servers, pyfast.cooperative.CooperativeSocket for
    cooperative ones), once per class; a server asks for it with the
    class attribute ``coalesce_header_blocks = True`` (pyfast's HTTP and
    XML-RPC servers, and http.server's run through ``python -m pyfast run``).
    The composed class sends with the base's fast C sendall
    (pyfast._core.sock_sendall for a plain socket: the GIL is kept for a
    send the socket takes at once; the cooperative socket's own, which
    waits on its hub) and writes wfile through sendall.
    """

    __slots__ = ()

    # The base class's sendall(sock, data, flags), set by coalescing_socket_class.
    _pf_sendall = staticmethod(_core.sock_sendall)

    # StreamRequestHandler: wfile writes through sendall() (socketserver's
    # _SocketWriter), never past the held bytes.
    _pf_c_files = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held = None
        super().__init__(*args, **kwargs)

    def release(self, flags: int = 0) -> None:
        """Send held-back bytes now (flags as socket.sendall).  OSError as sendall."""
        held = self._held
        if held is not None:
            self._held = None
            self._pf_sendall(self, held, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        held = self._held
        sendall = self._pf_sendall
        if type(data) is bytes:
            # The common case (http.server writes bytes), without a memoryview.
            if held is None:
                if flags == 0 and 4 <= len(data) <= _HOLD_MAX and data.endswith(b"\r\n\r\n"):
                    self._held = data
                    return None
                return sendall(self, data, flags)
            self._held = None
            if len(data) <= _JOIN_MAX:
                return sendall(self, held + data, flags)
            sendall(self, held, flags)
            return sendall(self, data, flags)
        if held is not None:
            self._held = None
            with memoryview(data) as view:
                if view.nbytes <= _JOIN_MAX:
                    return sendall(self, held + view, flags)
            sendall(self, held, flags)
        elif flags == 0:
            with memoryview(data) as view:
                if 4 <= view.nbytes <= _HOLD_MAX and view[-4:] == b"\r\n\r\n":
                    self._held = bytes(view)
                    return None
        return sendall(self, data, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        self.release()
        return super().send(data, flags)

    # Flags of the send that releases held bytes before a sendfile():
    # MSG_MORE, so the kernel joins them to the file's first bytes (0 on a
    # TLS socket, whose sendall takes no flags and which encrypts in user
    # space anyway).
    _pf_more = getattr(socket, "MSG_MORE", 0)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self.release(self._pf_more)
        return super().sendfile(file, offset, count)

    def recv(self, *args: Any) -> Any:
        self.release()
        return super().recv(*args)

    def recv_into(self, *args: Any) -> Any:
        self.release()
        return super().recv_into(*args)

    def shutdown(self, how: int) -> None:
        try:
            self.release()
        finally:
            super().shutdown(how)

    def close(self) -> None:
        if self._held is not None and self.fileno() >= 0:
            try:
                self.release()
            except OSError:
                pass
        super().close()

    def detach(self) -> int:
        self.release()
        return super().detach()

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs: Any) -> Any:
        f = super().makefile(mode, buffering, **kwargs)
        if "r" in mode and hasattr(f, "before_read"):
            f.before_read = self.release
        return f


def coalescing_socket_class(base: type[socket.socket]) -> type[socket.socket]:
    """The request socket class `base` (a socket.socket subclass taking
    (family, type, proto, fileno), or an ssl.SSLSocket class: what
    pyfast.tls gives a threaded HTTPS server's handlers) with
    CoalescingMixIn in front: made once
    per base and cached, so every server of a concurrency model shares it.
    Raises TypeError when base is not a socket.socket subclass."""
    cls = socketserver._coalescing_classes.get(base)
    if cls is not None:
        return cls
    if not (isinstance(base, type) and issubclass(base, socket.socket)):
        raise TypeError(f"request socket class must be a socket.socket subclass, not {base!r}")
    if issubclass(base, CoalescingMixIn):
        cls = base
    else:
        own = base.sendall
        sendall = _core.sock_sendall if own is socket.socket.sendall else own
        name = "Coalescing" + base.__name__
        if base is RequestSocket:
            name = "CoalescingSocket"
        if issubclass(base, ssl.SSLSocket):
            # Made by SSLSocket._create() (context.wrap_socket), which
            # runs no __init__: _held starts as the class's None, and the
            # header block and its body leave as one TLS record.
            extra = {"_held": None, "_pf_more": 0}
        else:
            extra = {"__slots__": ("_held",)}
        cls = type(name, (CoalescingMixIn, base), {
            **extra,
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"{base.__name__} with HTTP header blocks held back "
                       f"until what follows them (CoalescingMixIn).",
            "_pf_sendall": staticmethod(sendall),
        })
    socketserver._coalescing_classes[base] = cls
    return cls


# The plain (thread and single-threaded servers') request socket with
# coalescing: what HTTPServer's handlers get as self.request.
CoalescingSocket = coalescing_socket_class(RequestSocket)


class HTTPServer(socketserver.TCPServer):
    """http.server.HTTPServer on pyfast (server_name and server_port are
    set by server_bind, as there)."""

    allow_reuse_address = 1    # as http.server.HTTPServer
    # The request socket class, whatever the concurrency model's, holds a
    # header block back until the body (CoalescingMixIn).
    coalesce_header_blocks = True

    def server_bind(self) -> None:
        """Override server_bind to store the server name."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = socket.getfqdn(host)
        self.server_port = port


class ThreadingHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    """HTTPServer with each connection on a pool thread (daemon threads, as
    http.server.ThreadingHTTPServer)."""
    daemon_threads = True


class SimpleHTTPRequestHandler(_http_server.SimpleHTTPRequestHandler):
    """http.server.SimpleHTTPRequestHandler that sends regular files with
    sendfile(2) (socket.socket.sendfile) instead of copying them through
    Python; anything else is copied as there."""

    def copyfile(self, source: Any, outputfile: Any) -> None:
        conn = self.connection
        if outputfile is self.wfile and isinstance(conn, socket.socket) \
                and not hasattr(conn, "getpeercert"):
            try:
                offset = source.tell()
                os.fstat(source.fileno())
            except (AttributeError, OSError, io.UnsupportedOperation):
                pass
            else:
                outputfile.flush()
                conn.sendfile(source, offset)
                return
        super().copyfile(source, outputfile)


# (family, sockaddr) for bind and port, as http.server.test picks them.
_get_best_family = _http_server._get_best_family


def test(HandlerClass: Any = BaseHTTPRequestHandler,
         ServerClass: Any = ThreadingHTTPServer,
         protocol: str = "HTTP/1.0", port: int = 8000, bind: str | None = None) -> None:
    """Serve HandlerClass on port (int) until Ctrl-C, as http.server.test."""
    ServerClass.address_family, addr = _get_best_family(bind, port)
    HandlerClass.protocol_version = protocol
    with ServerClass(addr, HandlerClass) as httpd:
        host, port = httpd.socket.getsockname()[:2]
        url_host = f"[{host}]" if ":" in host else host
        scheme = "https" if httpd.ssl_context is not None else "http"
        print(f"Serving {scheme.upper()} on {host} port {port} "
              f"({scheme}://{url_host}:{port}/) ...", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("\nKeyboard interrupt received, exiting.")
            sys.exit(0)
