"""python -m pyfast serve: serve a handler class in supervised workers.

    python -m pyfast serve module:Handler --bind 127.0.0.1:8000 --workers 4

Builds the server class that fits the handler and the --server model,
binds once (or takes the socket systemd passes: pyfast.activation), and
serves it with ``workers`` processes (pyfast.prefork): SIGTERM/SIGINT stop
gracefully, SIGHUP reloads (with --reload, the new workers re-import the
handler's module), SIGTTIN/SIGTTOU add/remove a worker.  With --workers 1
the server runs in this process: SIGTERM/SIGINT still stop it gracefully,
SIGHUP is not handled.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import stat
import sys
import threading
from typing import Any

MODELS = ("threading", "cooperative", "message")


def _address(text: str) -> tuple[int, Any]:
    """--bind: (address family, address).  HOST:PORT, [IPV6]:PORT, :PORT,
    PORT, or unix:PATH."""
    if text.startswith("unix:"):
        if not hasattr(socket, "AF_UNIX"):
            raise argparse.ArgumentTypeError("unix sockets are not available here")
        return socket.AF_UNIX, text[5:]
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not HOST:PORT or unix:PATH: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {number}")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, number)


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {n}")
    return n


def _seconds(text: str) -> float | None:
    if text.lower() == "none":
        return None
    t = float(text)
    if not t >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, not {text}")
    return t


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pyfast serve",
        description=("Serve a socketserver request handler class (BaseRequestHandler, "
                     "StreamRequestHandler, http.server's handlers) or a pyfast "
                     "MessageHandler on a pyfast server, in supervised worker processes. "
                     "Signals to this process: SIGTERM/SIGINT stop gracefully (running "
                     "handlers finish within --drain-timeout), SIGHUP reloads (new workers "
                     "first, then the old ones drain; needs --workers >= 2), SIGTTIN/SIGTTOU "
                     "add/remove a worker. Under systemd socket activation (LISTEN_FDS) the "
                     "socket systemd passes is served and --bind is not used."),
        epilog="example: python -m pyfast serve myapp:EchoHandler --bind 0.0.0.0:9000 --workers 4")
    ap.add_argument("handler", metavar="MODULE:HANDLER",
                    help="the handler class, as module:Class (the module is imported with the "
                         "current directory on sys.path)")
    ap.add_argument("-b", "--bind", metavar="ADDRESS", default="127.0.0.1:8000", type=_address,
                    help="HOST:PORT, [IPV6]:PORT, :PORT (all interfaces) or unix:PATH "
                         "(default: %(default)s)")
    ap.add_argument("-w", "--workers", type=_positive, default=1,
                    help="worker processes (default: %(default)s, serve in this process)")
    ap.add_argument("-s", "--server", choices=MODELS, default=None,
                    help="threading: handlers on a thread pool; cooperative: handlers as greenlets "
                         "on C hubs; message: a MessageHandler on the C message loop (default: "
                         "message for a MessageHandler, else threading)")
    ap.add_argument("--reload", action="store_true",
                    help="on SIGHUP, the new workers re-import the handler's module")
    ap.add_argument("--drain-timeout", type=_seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                    help="how long a stopping worker lets running handlers finish ('none': no "
                         "limit; default: the model's, 1.0)")
    ap.add_argument("--backlog", type=_positive, default=128,
                    help="listen() backlog, request_queue_size (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log worker starts, stops and reloads (logger pyfast.prefork) on stderr")
    return ap


def load_handler(spec: str) -> tuple[str, Any]:
    """'module:Class' (Class may be dotted) -> (module name, the class)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"python -m pyfast serve: expected MODULE:HANDLER, not {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, "")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return module_name, obj


def server_class(model: str | None, handler: Any, family: int) -> tuple[str, type]:
    """The pyfast server class for a model, a handler and an address family."""
    import pyfast
    from pyfast.message import is_message_handler
    message = is_message_handler(handler)
    if model is None:
        model = "message" if message else "threading"
    if message != (model == "message"):
        raise SystemExit(f"python -m pyfast serve: --server {model} does not serve "
                         f"{handler.__name__}" + (" (a MessageHandler: --server message)"
                                                  if message else " (not a MessageHandler)"))
    unix = family == getattr(socket, "AF_UNIX", None)
    import http.server
    is_http = isinstance(handler, type) and issubclass(handler, http.server.BaseHTTPRequestHandler)
    if model == "message":
        return model, pyfast.UnixStreamServer if unix else pyfast.TCPServer
    if model == "cooperative":
        from pyfast import cooperative
        if unix:
            return model, cooperative.CooperativeUnixStreamServer
        return model, cooperative.CooperativeHTTPServer if is_http else cooperative.CooperativeTCPServer
    if unix:
        return model, pyfast.ThreadingUnixStreamServer
    if is_http:
        from pyfast.http.server import ThreadingHTTPServer
        return model, ThreadingHTTPServer
    return model, pyfast.ThreadingTCPServer


def _remove_stale_unix_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def _stop_on_sigterm(server: Any) -> None:
    """Without workers: SIGTERM stops serve_forever() as shutdown() does."""
    def on_term(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s [%(process)d] %(message)s")
    family, address = args.bind
    module_name, handler = load_handler(args.handler)
    model, base = server_class(args.server, handler, family)
    attrs: dict[str, Any] = {"address_family": family, "allow_reuse_address": True,
                             "request_queue_size": args.backlog, "workers": args.workers}
    if args.reload:
        attrs["reload_modules"] = (module_name,)
    if hasattr(args, "drain_timeout"):
        attrs["drain_timeout"] = args.drain_timeout
    server_cls = type(base.__name__, (base,), attrs)
    unix = family == getattr(socket, "AF_UNIX", None)
    if unix:
        _remove_stale_unix_socket(address)
    with server_cls(address, handler) as server:
        where = server.server_address
        if not unix:
            host, port = where[:2]
            where = f"{'[' + host + ']' if ':' in host else host}:{port}"
        print(f"Serving {args.handler} on {where} ({model}, {args.workers} "
              f"worker{'s' if args.workers != 1 else ''}) ...", flush=True)
        if args.workers == 1:
            _stop_on_sigterm(server)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        if unix and server.worker_id is None:
            try:
                os.unlink(address)
            except OSError:
                pass
    return 0
