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


def hello_http_handler(base=None):
    """An http.server handler class (HTTP/1.1 keep-alive, logging off) that
    answers GET /x with b"hello /x" and its Content-Length, the header block
    and the body in two writes as http.server's handlers write them.  base:
    the BaseHTTPRequestHandler class to subclass (default http.server's,
    imported on call)."""
    if base is None:
        import http.server
        base = http.server.BaseHTTPRequestHandler

    class Hello(base):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"hello " + self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Hello


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


def bio_handshake(raw, obj, outgoing, feed):
    """Drive the client SSLObject obj's handshake over the socket raw: send
    what obj wrote to outgoing, call feed() (which reads from raw into obj's
    incoming BIO) while obj wants to read, and send its last flight."""
    import ssl
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            feed()
    raw.sendall(outgoing.read())


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

class _TimedSocket(socket.socket):
    """socket.socket whose operations time out after IO_TIMEOUT."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settimeout(IO_TIMEOUT)


def _timed_socket_module():
    shim = types.ModuleType("socket")
    shim.__dict__.update({k: v for k, v in vars(socket).items()
                          if not k.startswith("__")})
    shim.__all__ = list(socket.__all__)
    shim.socket = shim.SocketType = _TimedSocket
    return shim


def module_with(name, **attrs):
    """A stand-in module, e.g. module_with("sys", argv=[...]) for a seed client."""
    real = importlib.import_module(name)
    shim = types.ModuleType(name)
    shim.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    shim.__dict__.update(attrs)
    return shim


def prepare_seed(name, impl, extra_modules=None, inject=None, inputs=(),
                 as_main=False):
    """(module, code) for tests/seeds/<name>.py with `impl` as socketserver.

    The seed's source runs unchanged; only what its imports resolve to
    differs: `import socketserver` / `from socketserver import X` give `impl`,
    `socket` gives the socket module whose sockets time out after IO_TIMEOUT
    (so a seed client never hangs), and `extra_modules` maps further names
    (e.g. "http.server", "sys") to replacements. `inject` pre-defines globals
    (SERVER_PORT for clients). print() writes to module.OUTPUT (a list of
    lines) and input() returns the next of `inputs`. With as_main,
    __name__ is "__main__" so the seed's main block runs. The module is not
    put in sys.modules.
    """
    mapping = {"socketserver": impl, "socket": _timed_socket_module()}
    mapping.update(extra_modules or {})
    real_import = builtins.__import__

    def seed_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in mapping:
            if not fromlist and "." in name:
                raise ImportError(f"seed used 'import {name}'; use from-import")
            return mapping[name]
        return real_import(name, globals, locals, fromlist, level)

    output = []
    pending = list(inputs)

    def seed_print(*args, sep=" ", end="\n", file=None, flush=False):
        if file is not None:
            return print(*args, sep=sep, end=end, file=file, flush=flush)
        output.append(sep.join(map(str, args)))

    def seed_input(prompt=""):
        output.append(f"<input {prompt!r}>")
        if not pending:
            raise EOFError("the test supplied no more input")
        return pending.pop(0)

    seed_builtins = dict(vars(builtins))
    seed_builtins.update(__import__=seed_import, print=seed_print, input=seed_input)
    path = SEEDS_DIR / f"{name}.py"
    module = types.ModuleType(
        "__main__" if as_main else f"seed_{name}_{getattr(impl, '__name__', impl)}")
    module.__file__ = str(path)
    module.__dict__["__builtins__"] = seed_builtins
    module.__dict__.update(inject or {})
    module.OUTPUT = output
    code = compile(path.read_text(), str(path), "exec")
    return module, code


def load_seed(name, impl, **kwargs):
    """Run tests/seeds/<name>.py to completion (see prepare_seed); the module."""
    module, code = prepare_seed(name, impl, **kwargs)
    exec(code, module.__dict__)
    return module


def run_seed_client(name, port, inputs=(), extra_modules=None, **inject):
    """Run a seed client script against SERVER_PORT=port; its printed lines.

    Sockets the script leaves open are closed afterwards, as its process
    exit would.
    """
    module, code = prepare_seed(name, None, extra_modules=extra_modules,
                                inject=dict(SERVER_PORT=port, **inject),
                                inputs=inputs)
    try:
        exec(code, module.__dict__)
    finally:
        for value in list(vars(module).values()):
            if isinstance(value, socket.socket):
                value.close()
    return module.OUTPUT


def start_seed_process(impl_name, seed):
    """Run a seed's main block in a child Python (unbuffered stdout)."""
    import subprocess
    return subprocess.Popen(
        [sys.executable, "-u", str(Path(__file__)), impl_name, seed],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def listening_port(proc, timeout=10.0):
    """The TCP port a child process listens on (polled, bounded)."""
    import psutil

    def find():
        if proc.poll() is not None:
            return -1
        for conn in psutil.Process(proc.pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                return conn.laddr.port
        return None

    port = wait_until(find, timeout=timeout, interval=0.02)
    if not port or port < 0:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise AssertionError(f"seed process is not listening (exit "
                             f"{proc.returncode}):\n{out}\n{err}")
    return port


class SeedMain:
    """A seed server's `if __name__ == "__main__":` block, run in a thread.

    `server_var` names the global the block assigns the server to; stop()
    shuts it down (bounded) and closes it.
    """

    def __init__(self, name, impl, server_var, **kwargs):
        self.module, code = prepare_seed(name, impl, as_main=True, **kwargs)
        self.server_var = server_var
        self.error = None
        self.reported = False      # the error already failed the test
        self.thread = threading.Thread(target=self._run, args=(code,),
                                       name=f"seed:{name}", daemon=True)
        self.thread.start()

    def _run(self, code):
        try:
            exec(code, self.module.__dict__)
        except BaseException as exc:
            self.error = exc

    @property
    def server(self):
        wait_until(lambda: self.module.__dict__.get(self.server_var)
                   or not self.thread.is_alive())
        server = self.module.__dict__.get(self.server_var)
        if server is None:
            self.reported = True
            raise AssertionError(f"seed main block did not create "
                                 f"{self.server_var!r}: {self.error!r}") from self.error
        return server

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        server = self.module.__dict__.get(self.server_var)
        if server is not None and self.thread.is_alive():
            t = threading.Thread(target=server.shutdown, daemon=True)
            t.start()
            t.join(STOP_TIMEOUT)
        self.thread.join(STOP_TIMEOUT)
        if server is not None:
            server.server_close()
        assert not self.thread.is_alive(), "seed serve_forever did not return"
        if self.error is not None and not self.reported:
            raise AssertionError(f"seed main block raised {self.error!r}") from self.error


def _run_seed_as_main(impl_name, seed):
    """`python support.py IMPL SEED`: run a seed's main block in this process."""
    import signal
    # Ctrl-C raises KeyboardInterrupt, as when run from a terminal, even if
    # the test runner's parent ignores SIGINT (a background job does).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    impl = import_impl(impl_name)
    extra = {"http.server": http_server_of(impl)}
    module, code = prepare_seed(seed, impl, extra_modules=extra, as_main=True)
    module.__dict__["__builtins__"]["print"] = builtins.print   # real stdout
    exec(code, module.__dict__)


if __name__ == "__main__":
    _run_seed_as_main(sys.argv[1], sys.argv[2])
