"""socketserver parity: behaviours of the stdlib's socketserver that
programs rely on, run against the stdlib and pyfast alike.

- a server closed with server_close() may be given a socket and served
  again (werkzeug's reloader does this);
- two threads writing to one handler's wfile, or reading its rfile, are
  served one call at a time: every byte arrives, nothing raises;
- an exception escaping a threading server's handler thread goes to
  threading.excepthook;
- rfile and wfile are io.BufferedIOBase files, with
  io.UnsupportedOperation where the stdlib's files raise it;
- the module's __all__ and class names are socketserver's, and CPython's
  own test_socketserver passes with pyfast in its place;
- ThreadingMixIn._threads and block_on_close.
"""

import io
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import support

HOST = support.HOST


def _tcp_listener(family=socket.AF_INET, address=(HOST, 0)):
    """A listening socket made outside the server, as werkzeug's reloader
    hands one to the server it builds in the child process."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(address)
    sock.listen(16)
    return sock


def _echo_line(impl):
    class EchoLine(impl.StreamRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.readline())
    return EchoLine


def _udp_echo(impl):
    class Echo(impl.DatagramRequestHandler):
        def handle(self):
            self.wfile.write(self.rfile.read())
    return Echo


def _stream_round_trip(address, family=socket.AF_INET, payload=b"ping\n"):
    with support.connect(address, family=family) as c:
        c.sendall(payload)
        return support.recv_until(c, b"\n")


def _dgram_round_trip(address, family=socket.AF_INET, tmp_path=None, payload=b"ping"):
    with socket.socket(family, socket.SOCK_DGRAM) as c:
        c.settimeout(support.IO_TIMEOUT)
        if family == socket.AF_UNIX:
            c.bind(str(tmp_path / f"client-{time.monotonic_ns()}"))
        c.sendto(payload, address)
        return c.recv(1024)


# --------------------------------------------------- closed, then served again

STREAM_SERVERS = ["TCPServer", "ThreadingTCPServer", "ForkingTCPServer",
                  "UnixStreamServer", "ThreadingUnixStreamServer"]
DGRAM_SERVERS = ["UDPServer", "ThreadingUDPServer", "ForkingUDPServer",
                 "UnixDatagramServer", "ThreadingUnixDatagramServer"]


def _address(cls, tmp_path, n):
    if cls.address_family == socket.AF_UNIX:
        return str(tmp_path / f"server-{n}.sock")
    return (HOST, 0)


def _serves(server, round_trip, payload):
    """serve_forever() in a thread answers one round trip, then shutdown()
    ends it."""
    running = support.Running(server, 0.05)
    try:
        assert round_trip(server.server_address, payload) == payload
    finally:
        assert not running.stop()


def _stream_echo(family=socket.AF_INET):
    return lambda address, payload: _stream_round_trip(address, family, payload)


def _replace_socket(server, family=socket.AF_INET, address=(HOST, 0)):
    """As werkzeug's BaseWSGIServer given a socket by its parent process:
    server_close(), then a listening socket made elsewhere in its place."""
    server.server_close()
    server.socket = _tcp_listener(family, address)
    server.server_address = server.socket.getsockname()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", STREAM_SERVERS)
def test_stream_server_closed_then_given_a_new_socket_serves_again(impl, name, tmp_path):
    cls = getattr(impl, name)
    family = cls.address_family
    server = cls(_address(cls, tmp_path, 0), _echo_line(impl))
    try:
        _serves(server, _stream_echo(family), b"ping\n")
        _replace_socket(server, family, _address(cls, tmp_path, 1))
        _serves(server, _stream_echo(family), b"again\n")
        # And once more through handle_request(), after a third socket.
        _replace_socket(server, family, _address(cls, tmp_path, 2))
        reply = []
        t = threading.Thread(target=lambda: reply.append(
            _stream_round_trip(server.server_address, family, b"once\n")))
        t.start()
        server.handle_request()
        t.join(support.IO_TIMEOUT)
        assert reply == [b"once\n"]
    finally:
        server.server_close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", DGRAM_SERVERS)
def test_datagram_server_closed_then_rebound_serves_again(impl, name, tmp_path):
    cls = getattr(impl, name)
    family = cls.address_family

    def echo(address, payload):
        return _dgram_round_trip(address, family, tmp_path, payload)

    server = cls(_address(cls, tmp_path, 0), _udp_echo(impl))
    try:
        _serves(server, echo, b"ping")
        server.server_close()
        # A new socket of the same kind, bound by the server's own hooks.
        server.socket = socket.socket(family, socket.SOCK_DGRAM)
        server.server_address = _address(cls, tmp_path, 1)
        server.server_bind()
        server.server_activate()
        _serves(server, echo, b"again")
    finally:
        server.server_close()


def test_close_requested_while_serving_then_served_again(impl):
    """server_close() while serve_forever() runs in another thread, then
    shutdown(), a new socket and serve_forever() again."""
    server = impl.ThreadingTCPServer((HOST, 0), _echo_line(impl))
    try:
        running = support.Running(server, 0.05)
        assert _stream_round_trip(server.server_address) == b"ping\n"
        assert running.close()          # server_close() while it serves
        assert not running.stop()
        server.socket = _tcp_listener()
        server.server_address = server.socket.getsockname()
        _serves(server, _stream_echo(), b"again\n")
    finally:
        server.server_close()


@pytest.mark.timeout(60)
def test_cooperative_server_closed_then_served_again_restarts_its_hubs(pyfast_impl):
    from pyfast import cooperative
    hubs = []

    class EchoOnHub(_echo_line(pyfast_impl)):
        def handle(self):
            hubs.append(cooperative.current_hub())
            super().handle()

    server = cooperative.CooperativeTCPServer((HOST, 0), EchoOnHub)
    try:
        _serves(server, _stream_echo(), b"ping\n")
        assert server.hub_list is None       # server_close() stopped them
        _replace_socket(server)
        _serves(server, _stream_echo(), b"again\n")
        assert len(hubs) == 2 and None not in hubs and hubs[0] is not hubs[1]
    finally:
        server.server_close()


@pytest.mark.timeout(60)
def test_message_server_closed_then_served_again(pyfast_impl):
    server = pyfast_impl.TCPServer((HOST, 0), pyfast_impl.EchoMessageHandler)
    try:
        _serves(server, _stream_echo(), b"ping\n")
        _replace_socket(server)
        _serves(server, _stream_echo(), b"again\n")
    finally:
        server.server_close()


# ------------------------------------------- two threads on one handler's files

# Bytes each of the two writers sends, in records of RECORD bytes (one
# write() call each): many times what the connection's socket buffers
# (made small: SMALL_BUFFER) hold, so that writes wait on a full socket
# while the other thread writes.
RECORD = 256 * 1024
RECORDS = 8
SMALL_BUFFER = 64 * 1024


def _small_buffer_client(address):
    """A client whose receive buffer is small (set before connect, so the
    window stays small), that reads nothing until told."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    c.settimeout(20)
    c.connect(address)
    return c


def _record(tag, i):
    head = b"%c%06d|" % (tag, i)
    return head + bytes([tag]) * (RECORD - len(head))


def _two_writers_server(impl, wbufsize, started, errors):
    """A server whose handler and a second thread each write RECORDS
    records to the handler's wfile at once; the client waits before
    reading, so both block on a full socket."""

    class TwoWriters(impl.StreamRequestHandler):
        def handle(self):
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            self.rfile.readline()             # the client is connected
            wfile = self.wfile

            def write_all(tag):
                try:
                    for i in range(RECORDS):
                        wfile.write(_record(tag, i))
                    wfile.flush()
                except BaseException as exc:  # noqa: BLE001 - the test's finding
                    errors.append(exc)

            other = threading.Thread(target=write_all, args=(ord("B"),))
            other.start()
            started.set()
            write_all(ord("A"))
            other.join(30)

    TwoWriters.wbufsize = wbufsize
    return impl.ThreadingTCPServer((HOST, 0), TwoWriters)


def _recv_bulk(sock, n):
    """n bytes from sock; on EOF first, an error that gives the count only."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _records_received(data):
    """(tag, i) of each whole record in data; fails on a broken one."""
    got = []
    assert len(data) == 2 * RECORDS * RECORD, f"{len(data)} bytes arrived"
    for off in range(0, len(data), RECORD):
        rec = data[off:off + RECORD]
        tag, i = rec[0], int(rec[1:7])
        assert rec == _record(tag, i), f"record at {off} is interleaved"
        got.append((tag, i))
    return got


@pytest.mark.timeout(60)
@pytest.mark.parametrize("wbufsize", [0, 65536], ids=["unbuffered", "buffered"])
def test_two_threads_writing_one_wfile_deliver_every_byte(impl, serve, client, wbufsize):
    started = threading.Event()
    errors = []
    server = _two_writers_server(impl, wbufsize, started, errors)
    serve(server)
    with _small_buffer_client(server.server_address) as c:
        c.sendall(b"go\n")
        assert started.wait(10)
        time.sleep(0.3)                       # both writers now wait on a full socket
        data = _recv_bulk(c, 2 * RECORDS * RECORD)
    assert errors == []
    if support.is_pyfast(impl):
        # pyfast also never interleaves the bytes of one write() call
        # (the stdlib's sendall from two threads may).
        got = _records_received(data)
        for tag in b"AB":
            assert [i for t, i in got if t == tag] == list(range(RECORDS))
    else:
        assert data.count(b"A") >= RECORDS * (RECORD - 8)
        assert data.count(b"B") >= RECORDS * (RECORD - 8)


@pytest.mark.timeout(60)
def test_a_write_waiting_for_another_threads_write_does_not_hold_the_gil(impl, serve, client):
    """While two writers wait (one on the full socket, one for the other's
    write to end), a third thread keeps running Python."""
    started = threading.Event()
    errors = []
    server = _two_writers_server(impl, 0, started, errors)
    serve(server)
    with _small_buffer_client(server.server_address) as c:
        c.sendall(b"go\n")
        assert started.wait(10)
        time.sleep(0.2)
        spins = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            spins += 1
        # Held GIL: this thread would barely run (a switch interval per spin).
        assert spins > 1000
        _recv_bulk(c, 2 * RECORDS * RECORD)
    assert errors == []


@pytest.mark.timeout(60)
def test_two_threads_reading_one_rfile_get_whole_lines_once(pyfast_impl, serve, client):
    """pyfast only: with the stdlib, two threads calling readline() on one
    rfile (io.BufferedReader over socket.SocketIO) get lines cut apart and
    bytes repeated and lost (seen here: 390-398 of 400 lines whole, the
    right byte count, different bytes); pyfast serves one call at a time."""
    impl = pyfast_impl
    lines_read = []
    errors = []
    done = threading.Event()
    n_lines = 400

    class TwoReaders(impl.StreamRequestHandler):
        def handle(self):
            rfile = self.rfile

            def read_all():
                try:
                    for line in iter(rfile.readline, b""):
                        lines_read.append(line)
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)

            other = threading.Thread(target=read_all)
            other.start()
            read_all()
            other.join(10)
            done.set()

    server = impl.ThreadingTCPServer((HOST, 0), TwoReaders)
    serve(server)
    c = client(server.server_address)
    sent = [b"line %04d %s\n" % (i, b"x" * (i % 97)) for i in range(n_lines)]
    for i in range(0, n_lines, 10):           # lines split across segments
        chunk = b"".join(sent[i:i + 10])
        c.sendall(chunk[:len(chunk) // 3])
        time.sleep(0.001)
        c.sendall(chunk[len(chunk) // 3:])
    c.shutdown(socket.SHUT_WR)
    assert done.wait(10)
    assert errors == []
    assert sorted(lines_read) == sent


@pytest.mark.timeout(60)
def test_close_from_another_thread_while_a_write_waits_for_the_socket(impl, serve, client):
    """The handler's write waits on a full socket; another thread closes
    wfile: nothing hangs, the connection is shut down when the handler
    ends, and the server keeps serving."""
    outcome = {}
    done = threading.Event()

    class Closer(impl.StreamRequestHandler):
        def handle(self):
            self.rfile.readline()
            wfile = self.wfile
            threading.Timer(0.3, wfile.close).start()
            try:
                wfile.write(b"z" * (8 << 20))
                outcome["write"] = "returned"
            except (ValueError, OSError) as exc:
                outcome["write"] = type(exc)
            done.set()

    server = impl.ThreadingTCPServer((HOST, 0), Closer)
    serve(server)
    c = client(server.server_address, timeout=20)
    c.sendall(b"go\n")
    time.sleep(0.6)
    received = len(support.recv_all(c))
    assert done.wait(10)
    assert received == 8 << 20
    # The stdlib's wfile.close() does not interrupt the sendall; pyfast
    # completes the write, then reports the close that came meanwhile.
    assert outcome["write"] in ("returned", ValueError)


# -------------------------------------------------- handler thread exceptions

class _Recorder:
    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def __call__(self, *args):
        self.calls.append(args)
        self.event.set()


@pytest.fixture
def hooks(monkeypatch):
    """(threading_hook, sys_hook) recorders in place of both excepthooks."""
    th, sh = _Recorder(), _Recorder()
    monkeypatch.setattr(threading, "excepthook", th)
    monkeypatch.setattr(sys, "excepthook", sh)
    return th, sh


def _raising_handler(impl, exc_type):
    class Raises(impl.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(64)
            if data.startswith(b"raise"):
                raise exc_type("from the handler")
            self.request.sendall(b"ok:" + data)
    return Raises


def _report_of_a_raising_handler(server, serve, client, hooks):
    """Serve; a request makes server's handler (_raising_handler) raise.
    Returns what threading.excepthook got, once, after checking that
    sys.excepthook got nothing and that the server (for pyfast, its
    worker) still serves."""
    thread_hook, sys_hook = hooks
    serve(server)
    client(server.server_address).sendall(b"raise")
    assert thread_hook.event.wait(5)
    (args,), = thread_hook.calls
    assert sys_hook.calls == []
    c2 = client(server.server_address)
    c2.sendall(b"next")
    assert c2.recv(64) == b"ok:next"
    return args


@pytest.mark.timeout(30)
@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt, ValueError])
def test_exception_escaping_a_handler_thread_goes_to_threading_excepthook(
        impl, serve, client, hooks, exc_type):

    class ReRaising(impl.ThreadingTCPServer):
        def handle_error(self, request, client_address):
            raise                               # as CPython's test_socketserver

    server = ReRaising((HOST, 0), _raising_handler(impl, exc_type))
    args = _report_of_a_raising_handler(server, serve, client, hooks)
    assert args.exc_type is exc_type
    assert isinstance(args.thread, threading.Thread)


@pytest.mark.timeout(30)
def test_exception_from_an_overridden_process_request_thread_is_not_swallowed(
        impl, serve, client, hooks):

    class Bypassing(impl.ThreadingTCPServer):
        def process_request_thread(self, request, client_address):
            try:
                self.finish_request(request, client_address)  # no handle_error
            finally:
                self.shutdown_request(request)

    server = Bypassing((HOST, 0), _raising_handler(impl, OSError))
    args = _report_of_a_raising_handler(server, serve, client, hooks)
    assert args.exc_type is OSError and str(args.exc_value) == "from the handler"


def test_pool_worker_survives_an_escaping_exception(pyfast_impl, serve, client, hooks):
    thread_hook, _ = hooks
    threads = []

    class Raises(pyfast_impl.BaseRequestHandler):
        def handle(self):
            threads.append(threading.current_thread())
            if self.request.recv(64) == b"raise":
                raise SystemExit(3)
            self.request.sendall(b"ok")

    class ReRaising(pyfast_impl.ThreadingTCPServer):
        def handle_error(self, request, client_address):
            raise

    server = ReRaising((HOST, 0), Raises)
    serve(server)
    c = client(server.server_address)
    c.sendall(b"raise")
    assert thread_hook.event.wait(5)
    assert support.wait_until(lambda: server._pool.stats["running"] == 0)
    c2 = client(server.server_address)
    c2.sendall(b"next")
    assert c2.recv(64) == b"ok"
    assert threads[0] is threads[1] and threads[0].is_alive()


# --------------------------------------------------------- rfile / wfile as io

def _probe(f):
    """What a file says and raises, as comparable values."""
    out = {}

    def call(name, *args):
        try:
            result = getattr(f, name)(*args)
        except Exception as exc:                # noqa: BLE001
            return type(exc)
        return result if isinstance(result, (bool, type(None))) else type(result)

    out["isinstance"] = isinstance(f, io.BufferedIOBase)
    for name in ("readable", "writable", "seekable", "isatty", "tell", "truncate", "flush"):
        out[name] = call(name)
    out["seek"] = call("seek", 0)
    out["closed"] = f.closed
    out["fileno_is_int"] = isinstance(f.fileno(), int)
    with f as entered:
        out["enter_returns_self"] = entered is f
    out["closed_after_with"] = f.closed
    out["tell_when_closed"] = call("tell")
    out["fileno_when_closed"] = call("fileno")
    return out


def test_rfile_and_wfile_are_buffered_io_like_the_stdlibs(impl, serve, client):
    seen = {}
    done = threading.Event()

    class Probe(impl.StreamRequestHandler):
        def handle(self):
            rfile, wfile = self.rfile, self.wfile
            try:
                seen["rfile_name"] = rfile.name == self.request.fileno()
                seen["rfile_mode"] = rfile.mode
                seen["wfile_fileno"] = wfile.fileno() == self.request.fileno()
                seen["rfile_write"] = _raises(rfile.write, b"x")
                seen["wfile_read"] = _raises(wfile.read)
                seen["wfile_read1"] = _raises(wfile.read1, 1)
                seen["wfile_readinto"] = _raises(wfile.readinto, bytearray(1))
                seen["wfile_detach"] = _raises(wfile.detach)
                seen["wfile"] = _probe(wfile)
                seen["rfile"] = _probe(rfile)
            finally:
                done.set()

    server = impl.TCPServer((HOST, 0), Probe)
    serve(server)
    client(server.server_address)
    assert done.wait(5)
    assert seen["rfile_name"] and seen["rfile_mode"] == "rb" and seen["wfile_fileno"]
    for key in ("rfile_write", "wfile_read", "wfile_read1", "wfile_readinto", "wfile_detach"):
        assert seen[key] is io.UnsupportedOperation, key
    common = {"isinstance": True, "seekable": False, "isatty": False,
              "tell": io.UnsupportedOperation, "truncate": io.UnsupportedOperation,
              "seek": io.UnsupportedOperation, "flush": None, "closed": False,
              "fileno_is_int": True, "enter_returns_self": True,
              "closed_after_with": True, "tell_when_closed": io.UnsupportedOperation}
    assert seen["rfile"] == dict(common, readable=True, writable=False,
                                 fileno_when_closed=ValueError)
    # socketserver's _SocketWriter.fileno() answers after close (it asks
    # the socket); pyfast's raises ValueError, as io's files do.
    wfile = seen["wfile"]
    assert wfile.pop("fileno_when_closed") in (int, ValueError)
    assert wfile == dict(common, readable=False, writable=True)


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as exc:                    # noqa: BLE001
        return type(exc)
    return None


# ------------------------------------------------------ module names, __all__

def test_all_is_exactly_the_running_pythons_socketserver_all():
    import socketserver
    import pyfast
    import pyfast.socketserver as pss
    assert pss.__all__ == socketserver.__all__
    # Standing in for socketserver (install()), its classes report its name;
    # otherwise their own module's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # this process imported the stdlib's
        pyfast.install()
    try:
        for name in pss.__all__:
            cls = getattr(pss, name)
            assert (cls.__module__, cls.__name__) == ("socketserver", name)
    finally:
        pyfast.uninstall()
    for name in pss.__all__:
        assert getattr(pss, name).__module__ == "pyfast.socketserver"
    # pyfast's own names are pyfast's, not socketserver's.
    assert pss.RequestSocket.__module__ == "pyfast.socketserver"
    assert {"RequestSocket", "MessageHandler"} <= set(pyfast.__all__)
    assert set(socketserver.__all__) <= set(pyfast.__all__)


_RUNNER = Path(__file__).with_name("cpython_socketserver.py")


@pytest.mark.timeout(300)
def test_cpythons_test_socketserver_passes_with_pyfast_in_place():
    """CPython's own test_socketserver (this Python's test package), with
    pyfast.socketserver as sys.modules["socketserver"]: nothing fails and
    only what the stdlib skips is skipped."""
    proc = subprocess.run([sys.executable, str(_RUNNER)], capture_output=True,
                          text=True, timeout=280, cwd=_RUNNER.parent)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    std = subprocess.run([sys.executable, str(_RUNNER), "--stdlib"], capture_output=True,
                         text=True, timeout=280, cwd=_RUNNER.parent)
    assert std.returncode == 0, std.stderr[-4000:]
    assert _skips(proc.stderr) == _skips(std.stderr)


def _skips(output):
    return sorted(line.split(" ... ")[0] for line in output.splitlines()
                  if " ... skipped" in line)


# ------------------------------------------------- _threads, block_on_close

def test_threads_are_reaped(impl):
    """As CPython's test_threads_reaped: sequential requests do not pile
    up handler threads in server._threads."""
    server = impl.ThreadingTCPServer((HOST, 0), impl.StreamRequestHandler)
    try:
        for _ in range(10):
            with socket.create_connection(server.server_address, timeout=5):
                server.handle_request()
        assert len(server._threads) < 10
        assert all(isinstance(t, threading.Thread) for t in server._threads)
    finally:
        server.server_close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("block_on_close, daemon_threads",
                         [(True, False), (False, False), (True, True)])
def test_server_close_waits_for_handlers_only_when_block_on_close(
        impl, client, block_on_close, daemon_threads):
    release = threading.Event()
    finished = threading.Event()

    class Slow(impl.BaseRequestHandler):
        def handle(self):
            release.wait(10)
            finished.set()

    class Server(impl.ThreadingTCPServer):
        pass

    Server.block_on_close = block_on_close
    Server.daemon_threads = daemon_threads
    server = Server((HOST, 0), Slow)
    client(server.server_address)
    server.handle_request()
    waits = block_on_close and not daemon_threads
    if block_on_close:      # else socketserver's _threads has no len()
        assert (len(server._threads) > 0) == waits
    threading.Timer(0.5, release.set).start()
    server.server_close()
    assert finished.is_set() == waits
    assert finished.wait(10)
    if block_on_close:
        assert len(server._threads) == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("wbufsize", [0, 65536], ids=["unbuffered", "buffered"])
def test_cooperative_handler_and_a_thread_writing_one_wfile_deliver_every_byte(
        pyfast_impl, serve, wbufsize):
    """The same on a cooperative server: the handler's greenlet (waiting
    on its hub) and an OS thread (waiting in poll) share the wfile."""
    from pyfast import cooperative
    started = threading.Event()
    errors = []
    base = _two_writers_server(pyfast_impl, wbufsize, started, errors)
    handler = base.RequestHandlerClass
    base.server_close()
    server = cooperative.CooperativeTCPServer((HOST, 0), handler)
    serve(server)
    with _small_buffer_client(server.server_address) as c:
        c.sendall(b"go\n")
        assert started.wait(10)
        time.sleep(0.3)
        data = _recv_bulk(c, 2 * RECORDS * RECORD)
    assert errors == []
    got = _records_received(data)
    for tag in b"AB":
        assert [i for t, i in got if t == tag] == list(range(RECORDS))


@pytest.mark.timeout(60)
def test_two_cooperative_handlers_writing_one_wfile_deliver_every_byte(pyfast_impl, serve):
    """A broadcast on a cooperative server: one hub, the greenlet of
    connection 2 writes to connection 1's wfile while connection 1's own
    greenlet waits on it (full socket).  The second waits its turn on the
    hub; the hub goes on serving meanwhile."""
    from pyfast import cooperative
    errors = []
    first_wfile = []
    first_writing = threading.Event()
    second_done = threading.Event()

    class Broadcast(pyfast_impl.StreamRequestHandler):
        def handle(self):
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            role = self.rfile.readline()
            try:
                if role == b"first\n":
                    first_wfile.append(self.wfile)
                    first_writing.set()
                    for i in range(RECORDS):
                        self.wfile.write(_record(ord("A"), i))
                    while not second_done.is_set():   # keep the connection open
                        cooperative.sleep(0.01)
                elif role == b"second\n":
                    for i in range(RECORDS):
                        first_wfile[0].write(_record(ord("B"), i))
                    second_done.set()
                    self.wfile.write(b"sent\n")
                else:
                    self.wfile.write(role)            # an echo
            except BaseException as exc:              # noqa: BLE001
                errors.append(exc)
                raise

    class Server(cooperative.CooperativeTCPServer):
        hubs = 1

    server = Server((HOST, 0), Broadcast)
    serve(server)
    with _small_buffer_client(server.server_address) as c1, \
            support.connect(server.server_address) as c2:
        c1.sendall(b"first\n")
        assert first_writing.wait(10)
        c2.sendall(b"second\n")
        time.sleep(0.3)              # both greenlets now wait, on the socket or their turn
        assert _stream_round_trip(server.server_address, payload=b"echo\n") == b"echo\n"
        data = _recv_bulk(c1, 2 * RECORDS * RECORD)
        assert support.recv_until(c2) == b"sent\n"
    assert errors == []
    got = _records_received(data)
    for tag in b"AB":
        assert [i for t, i in got if t == tag] == list(range(RECORDS))
