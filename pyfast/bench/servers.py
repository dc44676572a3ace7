"""The servers under test, one function per (impl, kind).

Run one as ``python -m pyfast.bench.servers IMPL SCENARIO [--host H]
[--port P] [--cpu N]``. The process pins itself to core N, binds, prints
``READY <port>`` on stdout and serves until SIGTERM. If the impl cannot run
here (not installed, pyfast core not built yet) it prints
``UNAVAILABLE <reason>`` and exits with status 3.

The socketserver-style servers are written once and parametrised by module:
``stdlib`` uses :mod:`socketserver`, ``pyfast`` uses :mod:`pyfast`, which
exposes the same names. Each is the code a user would write; the only
changes from the defaults, applied to every impl alike, are a listen backlog
of BACKLOG and address reuse.

The TLS kinds (tls-echo, tls-http) need ``--tls CERT KEY``: each server
serves TLS the way its users would, with tls_context()'s SSLContext.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from typing import Callable

BACKLOG = 1024
Ready = Callable[[int], None]

#: (impl, kind) -> serve(host, port, ready). serve blocks until SIGTERM.
REGISTRY: dict[tuple[str, str], Callable[[str, int, Ready], None]] = {}


_TLS_FILES: tuple[str, str] | None = None   # (cert, key) from --tls


class Unavailable(Exception):
    """This impl cannot run here; the message says why."""


def tls_context():
    """The server-side ssl.SSLContext of the TLS kinds, on --tls's
    certificate and key (TLS 1.2 and 1.3 allowed, the load generator asks
    for 1.3). Raises Unavailable when the process got no --tls."""
    import ssl
    if _TLS_FILES is None:
        raise Unavailable("a TLS scenario's server needs --tls CERT KEY")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_TLS_FILES)
    return ctx


def register(impl: str, *kinds: str):
    def deco(fn):
        for kind in kinds:
            REGISTRY[(impl, kind)] = fn
        return fn
    return deco


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# ---- socketserver API: stdlib and pyfast ------------------------------------

def socketserver_module(impl: str, *names: str):
    """The module that provides the socketserver API for `impl`.

    Raises Unavailable if it lacks any of `names`.
    """
    if impl == "stdlib":
        import socketserver
        return socketserver
    try:
        import pyfast
    except ImportError as e:
        raise Unavailable(f"ImportError: {e}") from e
    for name in names:
        if not hasattr(pyfast, name):
            raise Unavailable(f"AttributeError: module 'pyfast' has no attribute {name!r}"
                              " (server core not merged yet?)")
    return pyfast


def socketserver_handler(mod, kind: str):
    """The request handler class for `kind`, subclassing mod's handlers."""
    if kind == "echo":
        class EchoHandler(mod.BaseRequestHandler):
            def handle(self):
                while True:
                    data = self.request.recv(65536)
                    if not data:
                        break
                    self.request.sendall(data)
        return EchoHandler

    if kind == "line":
        class LineHandler(mod.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    self.wfile.write(line)
        return LineHandler

    if kind == "once":
        class OnceHandler(mod.BaseRequestHandler):
            def handle(self):
                data = self.request.recv(65536)
                self.request.sendall(data)
        return OnceHandler

    if kind == "udp":
        class UDPEchoHandler(mod.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                sock.sendto(data, self.client_address)
        return UDPEchoHandler

    raise ValueError(kind)


def _socketserver_serve(impl: str, kind: str, host: str, port: int, ready: Ready, workers: int = 1,
                        ssl_context=None) -> None:
    """kind's handler on mod.ThreadingTCPServer (UDPServer for udp); with
    ssl_context, TLS: pyfast's ssl_context attribute, the stdlib's
    listening socket wrapped (its documented way)."""
    server_name = "UDPServer" if kind == "udp" else "ThreadingTCPServer"
    handler_name = "StreamRequestHandler" if kind == "line" else "BaseRequestHandler"
    mod = socketserver_module(impl, server_name, handler_name)
    handler = socketserver_handler(mod, kind)
    base = getattr(mod, server_name)

    class Server(base):
        address_family = _family(host)
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = BACKLOG

    if workers != 1:
        Server.workers = workers
    if ssl_context is not None and impl != "stdlib":
        Server.ssl_context = ssl_context
    with Server((host, port), handler) as server:
        if ssl_context is not None and impl == "stdlib":
            server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        ready(server.server_address[1])
        server.serve_forever()


for _impl in ("stdlib", "pyfast"):
    for _kind in ("echo", "line", "once", "udp"):
        register(_impl, _kind)(
            lambda host, port, ready, _i=_impl, _k=_kind: _socketserver_serve(_i, _k, host, port, ready))
register("stdlib", "c10k")(lambda host, port, ready: _socketserver_serve("stdlib", "echo", host, port, ready))
for _impl in ("stdlib", "pyfast"):
    register(_impl, "tls-echo")(
        lambda host, port, ready, _i=_impl: _socketserver_serve(_i, "echo", host, port, ready,
                                                                ssl_context=tls_context()))


# ---- pyfast MessageHandler (message, c10k) -------------------------------------

def _message_serve(kind: str, cython: bool, host: str, port: int, ready: Ready, loops: int = 1,
                   proxy: bool = False, workers: int = 1, ssl_context=None) -> None:
    mod = socketserver_module("pyfast", "MessageHandler", "EchoMessageHandler", "TCPServer")
    framing = "line" if kind == "message" else "raw"
    if cython:
        # handle_message is a cpdef method in Cython: no Python call per message.
        handler = type("CyEcho", (mod.EchoMessageHandler,), {"framing": framing})
    else:
        class Echo(mod.MessageHandler):
            def handle_message(self, message):
                self.send_message(message)
        Echo.framing = framing
        handler = Echo

    class Server(mod.TCPServer):
        address_family = _family(host)
        allow_reuse_address = True
        request_queue_size = BACKLOG
        loop_threads = loops
        proxy_protocol = proxy

    if ssl_context is not None:
        Server.ssl_context = ssl_context
    if workers != 1:
        Server.workers = workers
    with Server((host, port), handler) as server:
        ready(server.server_address[1])
        server.serve_forever()


# pyfast-2loops: the Python handler on two loop threads (the second takes
# half of the connections from the first): hand-off against one loop.
register("pyfast-2loops", "message")(
    lambda host, port, ready: _message_serve("message", False, host, port, ready, loops=2))
# proxy: the same echo without and with a PROXY protocol header per connection.
register("pyfast", "proxy")(lambda host, port, ready: _message_serve("proxy", False, host, port, ready))
register("pyfast-proxy", "proxy")(
    lambda host, port, ready: _message_serve("proxy", False, host, port, ready, proxy=True))
# tls-echo: the raw echo over TLS, decrypted and encrypted in the C loop.
register("pyfast-msg", "tls-echo")(
    lambda host, port, ready: _message_serve("c10k", False, host, port, ready, ssl_context=tls_context()))
for _kind in ("message", "c10k"):
    register("pyfast", _kind)(lambda host, port, ready, _k=_kind: _message_serve(_k, False, host, port, ready))
    register("pyfast-cy", _kind)(lambda host, port, ready, _k=_kind: _message_serve(_k, True, host, port, ready))


# ---- pyfast.prefork: worker processes ---------------------------------------------

def _all_cores() -> None:
    """Unpinned: the workers scenarios' servers use every core."""
    os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))


def _sighup_every(interval: float) -> None:
    """Fork a process that sends this one SIGHUP every interval seconds
    until this one is gone (the reload scenario); no thread in the server."""
    parent = os.getpid()
    if os.fork():
        return
    import time
    try:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                break
            os.kill(parent, signal.SIGHUP)
    finally:
        os._exit(0)


for _n in (1, 2):
    register(f"pyfast-{_n}w", "message")(
        lambda host, port, ready, _w=_n: (_all_cores(), _message_serve("message", False, host, port, ready,
                                                                       workers=_w)))
    register(f"pyfast-{_n}w", "echo")(
        lambda host, port, ready, _w=_n: (_all_cores(), _socketserver_serve("pyfast", "echo", host, port,
                                                                            ready, workers=_w)))


@register("pyfast-2w", "reload")
def reload_threaded(host: str, port: int, ready: Ready) -> None:
    _all_cores()
    _sighup_every(1.0)
    _socketserver_serve("pyfast", "once", host, port, ready, workers=2)


@register("pyfast-coop-2w", "reload")
def reload_coop(host: str, port: int, ready: Ready) -> None:
    _all_cores()
    _sighup_every(1.0)
    _coop_serve("once", host, port, ready, workers=2)


@register("pyfast-msg-2w", "reload")
def reload_message(host: str, port: int, ready: Ready) -> None:
    _all_cores()
    _sighup_every(1.0)
    mod = socketserver_module("pyfast", "MessageHandler", "TCPServer")

    class Once(mod.MessageHandler):
        framing = "fixed"
        message_size = 64      # the reload scenario's request

        def handle_message(self, message):
            self.send(message)
            self.close()

    class Server(mod.TCPServer):
        address_family = _family(host)
        allow_reuse_address = True
        request_queue_size = BACKLOG
        workers = 2

    with Server((host, port), Once) as server:
        ready(server.server_address[1])
        server.serve_forever()


# ---- http.server --------------------------------------------------------------

def _hello_handler():
    """The http scenario's handler: the stdlib's BaseHTTPRequestHandler
    answering every GET with a short body, keep-alive, logging off."""
    import http.server

    class Hello(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        body = b"Hello, world!\n"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

        def log_message(self, format, *args):
            pass

    return Hello


def _serve_http_with(server_class, host: str, port: int, ready: Ready, ssl_context=None,
                     wrap: bool = False) -> None:
    """The hello handler on server_class; with ssl_context, TLS: as its
    ssl_context attribute, or (wrap) by wrapping the listening socket."""
    class Server(server_class):
        address_family = _family(host)
        request_queue_size = BACKLOG

    if ssl_context is not None and not wrap:
        Server.ssl_context = ssl_context
    with Server((host, port), _hello_handler()) as server:
        if ssl_context is not None and wrap:
            server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
        ready(server.server_address[1])
        server.serve_forever()


def _http_serve(impl: str, host: str, port: int, ready: Ready, ssl_context=None) -> None:
    import http.server
    if impl == "stdlib":
        server_mod = http.server
    else:
        try:
            import pyfast.http.server as server_mod
        except ImportError as e:
            raise Unavailable(f"ImportError: {e}") from e
    _serve_http_with(server_mod.ThreadingHTTPServer, host, port, ready, ssl_context, wrap=impl == "stdlib")


for _impl in ("stdlib", "pyfast"):
    register(_impl, "http")(lambda host, port, ready, _i=_impl: _http_serve(_i, host, port, ready))
    register(_impl, "tls-http")(
        lambda host, port, ready, _i=_impl: _http_serve(_i, host, port, ready, tls_context()))


@register("stdlib-on-pyfast", "http")
def zero_change_http(host: str, port: int, ready: Ready) -> None:
    """The stdlib's http.server.ThreadingHTTPServer, unchanged, with pyfast
    in place of socketserver (pyfast.install(), as python -m pyfast run)."""
    try:
        import pyfast
    except ImportError as e:
        raise Unavailable(f"ImportError: {e}") from e
    if "http.server" in sys.modules:
        raise Unavailable("http.server was imported before pyfast.install()")
    pyfast.install()
    import http.server
    _serve_http_with(http.server.ThreadingHTTPServer, host, port, ready)


# ---- pyfast-coop: the same handlers as greenlets on C hubs ------------------------

def _coop_module():
    try:
        import pyfast
        from pyfast import cooperative
    except ImportError as e:
        raise Unavailable(f"ImportError: {e}") from e
    return pyfast, cooperative


def _coop_serve(kind: str, host: str, port: int, ready: Ready, workers: int = 1, ssl_context=None) -> None:
    pyfast, cooperative = _coop_module()
    handler = socketserver_handler(pyfast, kind)

    class Server(cooperative.CooperativeTCPServer):
        address_family = _family(host)
        allow_reuse_address = True
        request_queue_size = BACKLOG

    if workers != 1:
        Server.workers = workers
    if ssl_context is not None:
        Server.ssl_context = ssl_context
    with Server((host, port), handler) as server:
        ready(server.server_address[1])
        server.serve_forever()


for _kind in ("echo", "line", "once"):
    register("pyfast-coop", _kind)(
        lambda host, port, ready, _k=_kind: _coop_serve(_k, host, port, ready))
# c10k: blocking-style echo handlers, one greenlet per connection.
register("pyfast-coop", "c10k")(lambda host, port, ready: _coop_serve("echo", host, port, ready))


register("pyfast-coop", "tls-echo")(
    lambda host, port, ready: _coop_serve("echo", host, port, ready, ssl_context=tls_context()))


@register("pyfast-coop", "http")
def coop_http(host: str, port: int, ready: Ready) -> None:
    _, cooperative = _coop_module()
    _serve_http_with(cooperative.CooperativeHTTPServer, host, port, ready)


@register("pyfast-coop", "tls-http")
def coop_https(host: str, port: int, ready: Ready) -> None:
    _, cooperative = _coop_module()
    _serve_http_with(cooperative.CooperativeHTTPServer, host, port, ready, tls_context())


# ---- gevent --------------------------------------------------------------------

def _gevent_serve(handle, host: str, port: int, ready: Ready) -> None:
    try:
        from gevent.server import StreamServer
    except ImportError as e:
        raise Unavailable(f"ImportError: {e}") from e
    server = StreamServer((host, port), handle, backlog=BACKLOG)
    server.start()
    ready(server.server_port)
    server.serve_forever()


@register("gevent", "echo")
def gevent_echo(host: str, port: int, ready: Ready) -> None:
    def handle(sock, address):
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)
        sock.close()

    _gevent_serve(handle, host, port, ready)


@register("gevent", "once")
def gevent_once(host: str, port: int, ready: Ready) -> None:
    def handle(sock, address):
        # As socketserver's handler and shutdown_request: one recv, the
        # reply, then shutdown(SHUT_WR) and close (the server closes first).
        sock.sendall(sock.recv(65536))
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    _gevent_serve(handle, host, port, ready)


# ---- uvloop ----------------------------------------------------------------------

def _uvloop():
    try:
        import uvloop
    except ImportError as e:
        raise Unavailable(f"ImportError: {e}") from e
    return uvloop


def _run_until_term(uvloop, start):
    """Run coroutine function start() under uvloop, then wait for SIGTERM."""
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        server = await start()
        async with server:
            await done.wait()

    uvloop.run(main())


def _uvloop_protocol(kind: str):
    """The asyncio.Protocol class for `kind` ("echo", "once" or "message")."""
    import asyncio

    class Echo(asyncio.Protocol):
        """echo: write back every chunk read, until the client closes.
        Flow control as asyncio documents it: stop reading a client whose
        replies pile up (pause_writing above the transport's high-water
        mark), so one that never reads costs bounded memory."""

        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

        def pause_writing(self):
            self.transport.pause_reading()

        def resume_writing(self):
            self.transport.resume_reading()

    class Once(Echo):
        """once: the first chunk's echo, then close (the server closes first)."""

        def data_received(self, data):
            self.transport.write(data)
            self.transport.close()

    class Lines(Echo):
        """message: split into lines, one write per whole line (as a
        MessageHandler's send_message per message); a partial line waits."""

        def connection_made(self, transport):
            super().connection_made(transport)
            self.partial = b""

        def data_received(self, data):
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                self.transport.write(line + b"\n")

    return {"echo": Echo, "c10k": Echo, "once": Once, "message": Lines}[kind]


def _uvloop_protocol_serve(kind: str, host: str, port: int, ready: Ready, ssl_context=None) -> None:
    uvloop = _uvloop()
    import asyncio
    protocol = _uvloop_protocol(kind)

    async def start():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol, host, port, backlog=BACKLOG, reuse_address=True,
                                          ssl=ssl_context)
        ready(server.sockets[0].getsockname()[1])
        return server

    _run_until_term(uvloop, start)


for _kind in ("echo", "once", "message", "c10k"):
    register("uvloop", _kind)(
        lambda host, port, ready, _k=_kind: _uvloop_protocol_serve(_k, host, port, ready))
register("uvloop", "tls-echo")(
    lambda host, port, ready: _uvloop_protocol_serve("echo", host, port, ready, tls_context()))


@register("uvloop", "line")
def uvloop_streams_line(host: str, port: int, ready: Ready) -> None:
    uvloop = _uvloop()
    import asyncio

    async def handle(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
        writer.close()

    async def start():
        server = await asyncio.start_server(handle, host, port, backlog=BACKLOG, reuse_address=True)
        ready(server.sockets[0].getsockname()[1])
        return server

    _run_until_term(uvloop, start)


# ---- C reference -------------------------------------------------------------------

#: kind -> the C reference server's mode: the same work as the Python handlers.
C_MODES = {"echo": "echo", "c10k": "echo", "line": "line", "message": "line", "once": "once"}


def _c_serve_tcp(mode: str, host: str, port: int, ready: Ready) -> None:
    from pyfast import _bench
    with socket.create_server((host, port), family=_family(host), backlog=BACKLOG) as sock:
        ready(sock.getsockname()[1])
        _bench.serve_echo_tcp(sock, mode=mode)


for _kind, _mode in C_MODES.items():
    register("c", _kind)(lambda host, port, ready, _m=_mode: _c_serve_tcp(_m, host, port, ready))


@register("c", "udp")
def c_echo_udp(host: str, port: int, ready: Ready) -> None:
    from pyfast import _bench
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        ready(sock.getsockname()[1])
        _bench.serve_echo_udp(sock)


@register("c", "tls-echo")
def c_tls_echo(host: str, port: int, ready: Ready) -> None:
    """The C reference TLS server (tlsref.c: epoll, SSL_accept, echo until
    EOF, close) on a listening socket made here; it replaces this process
    (exec), so the pid the runner measures is the C server's."""
    from .cbuild import BuildError, compiled
    if _TLS_FILES is None:
        raise Unavailable("a TLS scenario's server needs --tls CERT KEY")
    try:
        exe = compiled("tlsref")
    except BuildError as e:
        raise Unavailable(str(e)) from e
    sock = socket.create_server((host, port), family=_family(host), backlog=BACKLOG)
    sock.set_inheritable(True)
    ready(sock.getsockname()[1])
    sys.stdout.flush()
    os.execv(exe, [exe, str(sock.fileno()), *_TLS_FILES])


# ---- entry point -----------------------------------------------------------------

def serve(impl: str, scenario: str, host: str = "127.0.0.1", port: int = 0, ready: Ready | None = None) -> None:
    """Serve `impl` for `scenario` until SIGTERM. Raises Unavailable."""
    from .scenarios import SCENARIOS
    kind = SCENARIOS[scenario].kind
    fn = REGISTRY.get((impl, kind))
    if fn is None:
        raise Unavailable(f"no {impl} server for {scenario} (kind {kind!r})")
    fn(host, port, ready or (lambda p: None))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyfast.bench.servers", description=__doc__.split("\n\n")[0])
    ap.add_argument("impl")
    ap.add_argument("scenario")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to this core")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), default=None,
                    help="certificate and key (PEM files) of the TLS kinds")
    args = ap.parse_args(argv)
    global _TLS_FILES
    _TLS_FILES = tuple(args.tls) if args.tls else None
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    # SIGTERM ends the process quietly (the C server and uvloop catch it themselves).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

    def ready(port: int) -> None:
        print(f"READY {port}", flush=True)

    try:
        serve(args.impl, args.scenario, args.host, args.port, ready)
    except Unavailable as e:
        print(f"UNAVAILABLE {e}", flush=True)
        return 3
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
