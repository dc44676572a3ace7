"""Plain helpers shared by the behaviour tests (no pytest fixtures here).

Every socket operation is bounded: client sockets get a timeout, waits take a
deadline, servers are stopped with bounded joins. Loopback only.
"""

import builtins
import importlib
import os
import socket
import sys
import threading
import time
import types
from pathlib import Path

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0          # every client socket op
STOP_TIMEOUT = 10.0       # shutdown()/server_close() in teardown
SEEDS_DIR = Path(__file__).parent / "seeds"


# --------------------------------------------------------------------- impls

class Unavailable:
    """Stands in for pyfast when it cannot be imported at all.

    Any attribute access raises, so the test using it FAILS (in its call
    phase) with the import error in the message; it is never skipped.
    """

    def __init__(self, name, error):
        self.__name__ = name
        self._error = error

    def __getattr__(self, attr):
        raise AttributeError(
            f"{self.__name__}.{attr}: {self.__name__} is not importable "
            f"({self._error!r})")

    def __repr__(self):
        return f"<unavailable module {self.__name__}: {self._error!r}>"


def import_impl(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        return Unavailable(name, exc)


def is_pyfast(impl):
    return getattr(impl, "__name__", "").split(".")[0] == "pyfast"


def http_server_of(impl):
    """The http.server module that goes with a socketserver implementation."""
    if not is_pyfast(impl):
        import http.server
        return http.server
    return import_impl("pyfast.http.server")


# ------------------------------------------------------------------ waiting

def wait_until(predicate, timeout=5.0, interval=0.01):
    """Poll predicate() until true or timeout; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def fd_count():
    return len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------ servers

class Running:
    """A server whose serve_forever() runs in a background thread."""

    def __init__(self, server, poll_interval=0.5):
        self.server = server
        self.serve_error = None
        self.returned = threading.Event()
        self.thread = threading.Thread(
            target=self._serve, args=(poll_interval,),
            name=f"serve_forever:{type(server).__name__}", daemon=True)
        self.thread.start()

    def _serve(self, poll_interval):
        try:
            self.server.serve_forever(poll_interval=poll_interval)
        except BaseException as exc:   # reported by stop()
            self.serve_error = exc
        finally:
            self.returned.set()

    @property
    def address(self):
        return self.server.server_address

    def shutdown(self, timeout=STOP_TIMEOUT):
        """server.shutdown(), bounded; returns True if serve_forever returned."""
        if self.returned.is_set():
            return True
        t = threading.Thread(target=self.server.shutdown, daemon=True)
        t.start()
        t.join(timeout)
        return self.returned.wait(0.1 if not t.is_alive() else 0)

    def close(self, timeout=STOP_TIMEOUT):
        """server_close(), bounded; returns True if it returned."""
        t = threading.Thread(target=self.server.server_close, daemon=True)
        t.start()
        t.join(timeout)
        return not t.is_alive()

    def stop(self):
        problems = []
        if not self.shutdown():
            problems.append("serve_forever did not return after shutdown()")
        if not self.close():
            problems.append("server_close() did not return")
        if self.serve_error is not None:
            problems.append(f"serve_forever raised {self.serve_error!r}")
        return problems


# ------------------------------------------------------------------ clients

def connect(address, timeout=IO_TIMEOUT, family=socket.AF_INET):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes: {bytes(buf)!r}")
        buf += chunk
    return bytes(buf)


def recv_until(sock, terminator=b"\n"):
    buf = bytearray()
    while not buf.endswith(terminator):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError(f"EOF before {terminator!r}: {bytes(buf)!r}")
        buf += chunk
    return bytes(buf)


def recv_all(sock, limit=1 << 24):
    """Read until EOF (bounded by the socket timeout and limit)."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def reset_close(sock):
    """Close with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    (1).to_bytes(4, sys.byteorder) + (0).to_bytes(4, sys.byteorder))
    sock.close()


def is_closed_by_peer(sock):
    """True if the peer closed (EOF or reset) within the socket timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# -------------------------------------------------------------------- seeds

def load_seed(name, impl, extra_modules=None):
    """Execute tests/seeds/<name>.py with `impl` standing in for socketserver.

    The seed's source is executed unchanged; only what its import statements
    resolve to differs: `import socketserver` / `from socketserver import X`
    give `impl`, and `extra_modules` maps further module names (e.g.
    "http.server") to replacements. The module is not registered in
    sys.modules, and its `__name__` is not "__main__", so its
    `if __name__ == "__main__":` block does not run.
    """
    mapping = {"socketserver": impl}
    mapping.update(extra_modules or {})
    real_import = builtins.__import__

    def seed_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in mapping:
            module = mapping[name]
            if not fromlist and "." in name:
                # `import a.b` binds `a`; seeds only use `from a.b import X`.
                raise ImportError(f"seed used 'import {name}'; use from-import")
            return module
        return real_import(name, globals, locals, fromlist, level)

    seed_builtins = dict(vars(builtins))
    seed_builtins["__import__"] = seed_import
    path = SEEDS_DIR / f"{name}.py"
    module = types.ModuleType(f"seed_{name}_{getattr(impl, '__name__', impl)}")
    module.__file__ = str(path)
    module.__dict__["__builtins__"] = seed_builtins
    code = compile(path.read_text(), str(path), "exec")
    exec(code, module.__dict__)
    return module
