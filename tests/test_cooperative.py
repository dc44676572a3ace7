"""Cooperative session handlers (pyfast.cooperative): behaviour, loopback only.

The echo tests run the same handler on the cooperative server, on
pyfast.ThreadingTCPServer and on the stdlib's socketserver.ThreadingTCPServer.
"""
import contextlib
import http.client
import http.server
import logging
import os
import resource
import socket
import socketserver
import struct
import sys
import threading
import time

import pytest
from greenlet import GreenletExit

import support

import pyfast
from pyfast import cooperative
from pyfast.cooperative import (CooperativeHTTPServer, CooperativeSocket,
                                CooperativeTCPServer, run_in_thread)

pytestmark = pytest.mark.timeout(60)


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)


class LineHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class PyfastLineHandler(pyfast.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


SERVERS = {
    "coop": CooperativeTCPServer,
    "pyfast-threading": pyfast.ThreadingTCPServer,
    "stdlib-threading": socketserver.ThreadingTCPServer,
}


@contextlib.contextmanager
def serving(server_cls, handler, **attrs):
    """Run server_cls(('127.0.0.1', 0), handler) in a thread; attrs set on a subclass."""
    attrs.setdefault("daemon_threads", True)
    attrs.setdefault("allow_reuse_address", True)
    attrs.setdefault("request_queue_size", 1024)
    cls = type("Server", (server_cls,), attrs)
    server = cls(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def connect(server, timeout=5.0):
    return socket.create_connection(server.server_address[:2], timeout=timeout)


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192)
    if want < 4200:
        pytest.skip("RLIMIT_NOFILE too low for 1,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---- echo, same handler on three servers ---------------------------------------

@pytest.mark.parametrize("impl", SERVERS)
def test_echo_base_request_handler(impl):
    with serving(SERVERS[impl], EchoHandler) as server, connect(server) as c:
        for size in (1, 1024, 100_000):
            payload = os.urandom(size)
            c.sendall(payload)
            assert recv_exact(c, size) == payload


@pytest.mark.parametrize("impl", SERVERS)
@pytest.mark.parametrize("handler", [LineHandler, PyfastLineHandler])
def test_line_echo_stream_request_handler(impl, handler):
    with serving(SERVERS[impl], handler) as server, connect(server) as c:
        f = c.makefile("rb")
        for i in range(50):
            c.sendall(b"line %d\n" % i)
            assert f.readline() == b"line %d\n" % i
        c.sendall(b"a\nb\nc\n")
        assert [f.readline() for _ in range(3)] == [b"a\n", b"b\n", b"c\n"]


@pytest.mark.parametrize("impl", SERVERS)
def test_unbuffered_wfile_writes_through_while_others_are_served(impl):
    """wbufsize 0 (the default): each write is on the wire when it returns,
    and a handler whose 16 MB write waits for a reader that has not started
    (more than the socket buffers hold) leaves the other
    sessions served.  On the cooperative server, wfile is the C Writer that
    waits on the hub (not socketserver's _SocketWriter)."""
    kinds = []

    class Handler(pyfast.StreamRequestHandler):
        def handle(self):
            kinds.append(type(self.wfile).__name__)
            line = self.rfile.readline()
            if line == b"big\n":
                self.wfile.write(b"x" * 16_000_000)
            else:
                self.wfile.write(b"hello\n")          # must arrive before...
                self.wfile.write(self.rfile.readline())  # ...the client says more

    with serving(SERVERS[impl], Handler) as server:
        big = connect(server)
        big.sendall(b"big\n")
        try:
            for i in range(5):
                with connect(server) as c:
                    f = c.makefile("rb")
                    c.sendall(b"hi\n")
                    assert f.readline() == b"hello\n"
                    c.sendall(b"more %d\n" % i)
                    assert f.readline() == b"more %d\n" % i
            assert len(recv_exact(big, 16_000_000)) == 16_000_000
        finally:
            big.close()
    if impl == "coop":
        assert set(kinds) == {"Writer"}


@pytest.mark.parametrize("impl", SERVERS)
def test_many_concurrent_clients(impl):
    with serving(SERVERS[impl], EchoHandler) as server:
        clients = [connect(server) for _ in range(200)]
        try:
            for rnd in range(3):
                for i, c in enumerate(clients):
                    c.sendall(b"%d:%d;" % (rnd, i))
                for i, c in enumerate(clients):
                    want = b"%d:%d;" % (rnd, i)
                    assert recv_exact(c, len(want)) == want
        finally:
            for c in clients:
                c.close()


def test_one_hub_many_ready_handlers_that_end_fail_sleep_or_fill_the_socket():
    """Many connections of one hub ready at once (one batch of events, run by
    handing off from one handler greenlet to the next): handlers that end,
    raise, sleep on a timer or wait for the socket to drain in the middle
    of the batch do not lose or reorder anyone else's replies."""
    errors = []
    big = os.urandom(4_000_000)

    class Mixed(socketserver.BaseRequestHandler):
        def handle(self):
            while True:
                data = self.request.recv(100)
                if not data:
                    return
                kind, _, rest = data.partition(b":")
                if kind == b"end":
                    self.request.sendall(b"bye:" + rest)
                    return
                if kind == b"fail":
                    raise ValueError(rest)
                if kind == b"nap":
                    cooperative.sleep(0.01)
                if kind == b"big":
                    self.request.sendall(big)
                    continue
                self.request.sendall(b"ok:" + rest)

    class Server(CooperativeTCPServer):
        hubs = 1

        def handle_error(self, request, client_address):
            errors.append(sys.exc_info()[1].args)

    kinds = [b"echo", b"end", b"fail", b"nap", b"big"]
    with serving(Server, Mixed) as server:
        clients = [connect(server) for _ in range(60)]
        try:
            for i, c in enumerate(clients):
                c.sendall(kinds[i % 5] + b":%d" % i)
            for i, c in enumerate(clients):
                kind = kinds[i % 5]
                if kind == b"end":
                    assert recv_exact(c, 100) == b"bye:%d" % i
                elif kind == b"fail":
                    assert c.recv(100) == b""
                elif kind == b"big":
                    assert recv_exact(c, len(big)) == big
                else:
                    assert recv_exact(c, 3 + len(b"%d" % i)) == b"ok:%d" % i
            # The handlers still running serve a second round.
            alive = [(i, c) for i, c in enumerate(clients) if kinds[i % 5] in (b"echo", b"nap")]
            for i, c in alive:
                c.sendall(b"echo:%d" % (i + 1000))
            for i, c in alive:
                want = b"ok:%d" % (i + 1000)
                assert recv_exact(c, len(want)) == want
        finally:
            for c in clients:
                c.close()
    assert sorted(errors) == sorted((b"%d" % i,) for i in range(60) if i % 5 == 2)


def test_handler_gets_cooperative_socket_with_socket_api():
    seen = {}

    class Inspect(socketserver.BaseRequestHandler):
        def handle(self):
            r = self.request
            seen["type"] = type(r)
            seen["isinstance"] = isinstance(r, socket.socket)
            seen["peer"] = r.getpeername()
            seen["timeout"] = r.gettimeout()
            seen["blocking"] = r.getblocking()
            r.settimeout(2.5)
            seen["timeout2"] = r.gettimeout()
            buf = bytearray(10)
            n = r.recv_into(buf)
            r.send(bytes(buf[:n]))
            with r.makefile("r", encoding="ascii", newline="") as text:
                seen["text"] = text.readline()

    with serving(CooperativeTCPServer, Inspect) as server, connect(server) as c:
        me = c.getsockname()
        c.sendall(b"hi")
        assert recv_exact(c, 2) == b"hi"
        c.sendall(b"text line\n")
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
    assert seen["type"] is CooperativeSocket and seen["isinstance"]
    assert seen["peer"] == me
    assert seen["timeout"] is None and seen["blocking"] is True
    assert seen["timeout2"] == 2.5
    assert seen["text"] == "text line\n"


@pytest.mark.parametrize("impl", ["stdlib", "cooperative"])
def test_recv_send_sendall_take_no_keyword_arguments(impl):
    a, b = socket.socketpair()
    if impl == "cooperative":
        a = CooperativeSocket(a.family, a.type, a.proto, a.detach())
    a.settimeout(2)
    with a, b:
        for call in (lambda: a.recv(bufsize=1), lambda: a.send(data=b"x"),
                     lambda: a.sendall(data=b"x"), lambda: a.sendall(b"x", flags=0)):
            with pytest.raises(TypeError):
                call()
        a.sendall(b"ok", 0)
        assert b.recv(2) == b"ok"
        b.sendall(b"back")
        assert a.recv(4, 0) == b"back"


def test_sendfile(tmp_path):
    data = os.urandom(3_000_000)
    path = tmp_path / "blob"
    path.write_bytes(data)

    class SendFile(socketserver.BaseRequestHandler):
        def handle(self):
            with open(path, "rb") as f:
                self.request.sendfile(f)

    with serving(CooperativeTCPServer, SendFile) as server, connect(server) as c:
        assert recv_exact(c, len(data) + 1) == data


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
def test_unix_stream_server(tmp_path):
    path = str(tmp_path / "sock")
    server = cooperative.CooperativeUnixStreamServer(path, LineHandler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(5)
            c.connect(path)
            c.sendall(b"unix\n")
            assert recv_exact(c, 5) == b"unix\n"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


# ---- http.server ------------------------------------------------------------------

Hello = support.hello_http_handler(http.server.BaseHTTPRequestHandler)


def test_http_base_request_handler_keep_alive():
    with serving(CooperativeHTTPServer, Hello) as server:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        try:
            for i in range(20):
                conn.request("GET", f"/{i}")
                resp = conn.getresponse()
                assert resp.status == 200
                assert resp.read() == f"hello /{i}".encode()
        finally:
            conn.close()


def test_http_simple_request_handler_serves_file(tmp_path):
    (tmp_path / "f.txt").write_bytes(b"x" * 100_000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    with serving(CooperativeHTTPServer, Quiet) as server:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        conn.request("GET", "/f.txt")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"x" * 100_000
        conn.close()


# ---- timeouts, errors, resets ---------------------------------------------------------

def test_settimeout_raises_timeout_error_on_silent_client():
    result = {}
    done = threading.Event()

    class Timed(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(0.2)
            t0 = time.monotonic()
            try:
                self.request.recv(10)
            except Exception as e:
                result["exc"] = e
            result["elapsed"] = time.monotonic() - t0
            done.set()

    with serving(CooperativeTCPServer, Timed) as server, connect(server):
        assert done.wait(5)
    assert isinstance(result["exc"], TimeoutError) and isinstance(result["exc"], socket.timeout)
    assert 0.15 <= result["elapsed"] < 2.0


def test_stream_handler_timeout_attribute_on_rfile():
    result = {}
    done = threading.Event()

    class Timed(socketserver.StreamRequestHandler):
        timeout = 0.2

        def handle(self):
            try:
                self.rfile.readline()
            except Exception as e:
                result["exc"] = e
            done.set()

    with serving(CooperativeTCPServer, Timed) as server, connect(server):
        assert done.wait(5)
    assert isinstance(result["exc"], TimeoutError)


def test_handler_exception_goes_to_handle_error_others_unaffected():
    errors = []

    class Boom(socketserver.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(100)
            if data == b"boom":
                raise ValueError("boom")
            self.request.sendall(data)
            EchoHandler.handle(self)

    class Server(CooperativeTCPServer):
        def handle_error(self, request, client_address):
            import sys
            errors.append(sys.exc_info()[0])

    with serving(Server, Boom) as server, connect(server) as good, connect(server) as bad:
        good.sendall(b"one")
        assert recv_exact(good, 3) == b"one"
        bad.sendall(b"boom")
        assert bad.recv(10) == b""  # the server shut that connection down
        good.sendall(b"two")
        assert recv_exact(good, 3) == b"two"
    assert errors == [ValueError]


def test_client_reset_mid_recv_raises_in_that_handler_only():
    errors = []
    got_first = threading.Event()

    class Reader(socketserver.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(100)
            if data == b"reset-me":
                got_first.set()
                try:
                    self.request.recv(100)
                except OSError as e:
                    errors.append(type(e))
                    raise
            self.request.sendall(data)
            EchoHandler.handle(self)

    class Server(CooperativeTCPServer):
        def handle_error(self, request, client_address):
            pass

    with serving(Server, Reader) as server, connect(server) as good:
        victim = connect(server)
        victim.sendall(b"reset-me")
        assert got_first.wait(5)
        time.sleep(0.05)  # the handler is waiting in recv
        victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        victim.close()  # RST
        good.sendall(b"fine")
        assert recv_exact(good, 4) == b"fine"
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.01)
    assert errors == [ConnectionResetError]


# ---- hubs, blocking handlers, watchdog, run_in_thread ---------------------------------

class Sleeper(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(100)
            if not data:
                break
            if data == b"sleep":
                time.sleep(0.6)
            self.request.sendall(data)


def test_blocking_handler_stalls_only_its_hub_and_watchdog_warns(caplog):
    caplog.set_level(logging.WARNING, logger="pyfast")
    with serving(CooperativeTCPServer, Sleeper, hubs=2) as server:
        a = connect(server)
        a.sendall(b"x")
        assert recv_exact(a, 1) == b"x"          # a is on hub 0
        b = connect(server)
        b.sendall(b"y")
        assert recv_exact(b, 1) == b"y"          # b is on hub 1
        a.sendall(b"sleep")
        time.sleep(0.05)
        t0 = time.monotonic()
        for _ in range(5):
            b.sendall(b"z")
            assert recv_exact(b, 1) == b"z"
        assert time.monotonic() - t0 < 0.3       # hub 1 kept answering
        assert recv_exact(a, 5) == b"sleep"
        a.close()
        b.close()
    warnings = [r for r in caplog.records if r.name == "pyfast" and r.levelno == logging.WARNING]
    assert warnings, "the watchdog did not warn"
    text = warnings[0].getMessage()
    assert "has not returned to its loop" in text
    assert "time.sleep(0.6)" in text and "in handle" in text


def test_busy_loop_reported_and_other_hubs_keep_serving(caplog):
    caplog.set_level(logging.WARNING, logger="pyfast")

    class Busy(socketserver.BaseRequestHandler):
        def handle(self):
            while True:
                data = self.request.recv(100)
                if not data:
                    break
                if data == b"spin":
                    end = time.monotonic() + 0.5
                    while time.monotonic() < end:
                        pass
                self.request.sendall(data)

    with serving(CooperativeTCPServer, Busy, hubs=2) as server:
        a = connect(server)
        a.sendall(b"x")
        assert recv_exact(a, 1) == b"x"
        b = connect(server)
        a.sendall(b"spin")
        time.sleep(0.05)
        for _ in range(3):
            b.sendall(b"q")
            assert recv_exact(b, 1) == b"q"
        assert recv_exact(a, 4) == b"spin"
        a.close()
        b.close()
    assert any("has not returned to its loop" in r.getMessage() and "in handle" in r.getMessage()
               for r in caplog.records if r.name == "pyfast")


def test_run_in_thread_returns_value_and_propagates_exception():
    results = []

    def blocking(x):
        time.sleep(0.1)
        return (x * 2, threading.current_thread().name)

    def failing():
        raise KeyError("nope")

    class Offload(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(10)
            value, thread = run_in_thread(blocking, 21)
            mine = [value, thread != threading.current_thread().name]
            try:
                run_in_thread(failing)
            except KeyError as e:
                mine.append(e.args)
            results.append(mine)
            self.request.sendall(b"done")

    with serving(CooperativeTCPServer, Offload, hubs=1) as server:
        a, b = connect(server), connect(server)
        # Both handlers wait on the pool at once: the single hub is free
        # while they do, so b does not wait for a.
        a.sendall(b"go")
        b.sendall(b"go")
        t0 = time.monotonic()
        assert recv_exact(a, 4) == b"done"
        assert recv_exact(b, 4) == b"done"
        assert time.monotonic() - t0 < 0.19
        a.close()
        b.close()
    assert results == [[42, True, ("nope",)]] * 2


def test_run_in_thread_outside_a_hub_calls_directly():
    assert run_in_thread(lambda a, b: a + b, 1, 2) == 3


def test_cooperative_sleep_lets_others_run():
    class Napper(socketserver.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(10)
            if data == b"nap":
                cooperative.sleep(0.5)
            self.request.sendall(data)

    with serving(CooperativeTCPServer, Napper, hubs=1) as server:
        a, b = connect(server), connect(server)
        a.sendall(b"nap")
        time.sleep(0.05)
        t0 = time.monotonic()
        b.sendall(b"ok")
        assert recv_exact(b, 2) == b"ok"
        assert time.monotonic() - t0 < 0.3
        assert recv_exact(a, 3) == b"nap"
        a.close()
        b.close()


# ---- shutdown, server_close, descriptors ---------------------------------------------

def test_shutdown_fast_with_1000_idle_connections_and_no_fd_left(many_fds):
    finals = []

    class Idle(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                self.request.recv(10)
            except GreenletExit:
                finals.append("exit")
                raise
            finally:
                finals.append("finally")

    before = fd_count()
    server = type("S", (CooperativeTCPServer,), {"request_queue_size": 1024})(
        ("127.0.0.1", 0), Idle)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    clients = []
    try:
        for _ in range(1000):
            clients.append(connect(server))
        deadline = time.monotonic() + 20
        while (sum(len(h.tasks) for h in (server.hub_list or ())) < 1000
               and time.monotonic() < deadline):
            time.sleep(0.02)
        assert sum(len(h.tasks) for h in server.hub_list) == 1000
        t0 = time.monotonic()
        server.shutdown()
        assert time.monotonic() - t0 < 0.25
        t.join(5)
        server.server_close()
        assert finals.count("exit") == 1000 and finals.count("finally") == 1000
        # Every server-side socket is shut down: the clients see EOF.
        assert all(c.recv(1) == b"" for c in clients[:20])
    finally:
        for c in clients:
            c.close()
    assert fd_count() == before


def test_server_close_ends_handler_greenlets_waiting_in_rfile():
    finals = []
    started = threading.Event()

    class Waiting(socketserver.StreamRequestHandler):
        def handle(self):
            try:
                started.set()
                self.rfile.readline()
            finally:
                finals.append(True)

    before = fd_count()
    with serving(CooperativeTCPServer, Waiting) as server:
        c = connect(server)
        assert started.wait(5)
    assert finals == [True]
    c.close()
    assert fd_count() == before


def test_timeout_zero_is_nonblocking():
    result = {}
    done = threading.Event()

    class NonBlock(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.setblocking(False)
            try:
                self.request.recv(10)
            except BlockingIOError:
                result["blocking"] = True
            self.request.setblocking(True)
            result["data"] = self.request.recv(10)
            done.set()

    with serving(CooperativeTCPServer, NonBlock) as server, connect(server) as c:
        time.sleep(0.05)
        c.sendall(b"late")
        assert done.wait(5)
    assert result == {"blocking": True, "data": b"late"}


@pytest.mark.parametrize("server_cls", [socketserver.ThreadingTCPServer,
                                        pyfast.ThreadingTCPServer,
                                        CooperativeTCPServer],
                         ids=["stdlib", "pyfast", "cooperative"])
def test_reads_after_end_of_stream_return_at_once(server_cls):
    """After EOF, recv() and rfile.readline() return b'' at once, every time
    (they must not wait for a readiness edge that never comes)."""
    got = {}
    done = threading.Event()

    class AfterEOF(socketserver.StreamRequestHandler):
        def handle(self):
            got["read"] = self.rfile.read()        # until EOF
            got["readline"] = self.rfile.readline()
            got["recv"] = [self.request.recv(100), self.request.recv(100)]
            done.set()

    with serving(server_cls, AfterEOF) as server:
        c = connect(server)
        c.sendall(b"hello")
        time.sleep(0.1)
        c.shutdown(socket.SHUT_WR)
        assert done.wait(2)
        c.close()
    assert got == {"read": b"hello", "readline": b"", "recv": [b"", b""]}


@pytest.mark.parametrize("server_cls", [socketserver.ThreadingTCPServer,
                                        pyfast.ThreadingTCPServer,
                                        CooperativeTCPServer],
                         ids=["stdlib", "pyfast", "cooperative"])
def test_recv_after_msg_peek_returns_the_peeked_bytes(server_cls):
    class Peek(socketserver.BaseRequestHandler):
        def handle(self):
            head = self.request.recv(100, socket.MSG_PEEK)
            while len(head) < 7:   # the whole request, still unread
                head = self.request.recv(100, socket.MSG_PEEK)
            data = self.request.recv(100)
            self.request.sendall(b"peeked %r read %r" % (head, data))

    with serving(server_cls, Peek) as server:
        c = connect(server)
        c.sendall(b"request")
        c.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = c.recv(100)
            if not chunk:
                break
            reply += chunk
        c.close()
    assert reply == b"peeked b'request' read b'request'"


# ---- hub internals: late wake-ups ------------------------------------------------------

@contextlib.contextmanager
def running_hub():
    hub = cooperative._coop.Hub("test-hub")
    t = threading.Thread(target=hub.run, daemon=True)
    t.start()
    try:
        yield hub
    finally:
        hub.stop()
        t.join(5)


def coop_socketpair():
    """(cooperative end, plain end): a socketpair whose first end is a
    CooperativeSocket (not yet on a hub)."""
    a, b = socket.socketpair()
    b.settimeout(5)
    return CooperativeSocket(a.family, a.type, a.proto, a.detach()), b


def test_close_under_a_wait_that_timed_out_does_not_reach_the_next_wait():
    """A greenlet waits on s1 with a timeout; in one batch another greenlet
    closes s1 and then s1's timer expires.  The waiter sees TimeoutError, as
    a blocked thread would (close() does not wake recv), and moves on to
    wait on s2: the wake-up for s1's close, delivered after that, must not
    reach the wait on s2 (it used to: OSError EBADF from s2.recv)."""
    s1, p1 = coop_socketpair()
    s2, p2 = coop_socketpair()
    s3, p3 = coop_socketpair()   # wakes the closer
    s4, p4 = coop_socketpair()   # wakes the blocker
    result = {}
    waiting = threading.Event()
    blocking = threading.Event()

    def waiter():
        hub = cooperative.current_hub()
        hub.register(s1)
        hub.register(s2)
        s1.settimeout(0.05)
        try:
            try:
                s1.recv(10)
            except Exception as e:
                result["s1"] = type(e)
            s2.settimeout(5)
            waiting.set()
            result["s2"] = s2.recv(10)
        except Exception as e:
            result["s2"] = e

    def closer():
        cooperative.current_hub().register(s3)
        s3.recv(10)
        s1.close()

    def blocker():
        cooperative.current_hub().register(s4)
        s4.recv(10)
        blocking.set()
        # Blocks the hub's thread (deliberately): meanwhile s1's timer
        # expires and the closer's byte arrives, so the next wait returns
        # both, the closer's descriptor first (pf_loop_wait reports fds
        # before timers).
        time.sleep(0.3)

    with running_hub() as hub:
        for fn in (waiter, closer, blocker):
            hub.spawn(fn)
        time.sleep(0.02)
        p4.sendall(b"b")
        assert blocking.wait(5)
        p3.sendall(b"c")
        assert waiting.wait(5)
        time.sleep(0.1)   # the close's wake-up is delivered meanwhile
        p2.sendall(b"data")
        deadline = time.monotonic() + 5
        while "s2" not in result and time.monotonic() < deadline:
            time.sleep(0.01)
    for s in (s2, s3, s4, p1, p2, p3, p4):
        s.close()
    assert result == {"s1": TimeoutError, "s2": b"data"}


# ---- hub internals: the inbox (work other threads hand to a hub) --------------------------

class _Token:
    """An object to follow: a weak reference to it dies with it."""


def test_hub_runs_what_other_threads_post_in_order():
    seen = []
    done = threading.Event()
    with running_hub() as hub:
        # From several threads at once: each thread's items in its order.
        def post(name):
            for i in range(200):
                hub.call_soon(seen.append, (name, i))
        threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        hub.call_soon(done.set)
        assert done.wait(10)
    assert len(seen) == 800
    for n in range(4):
        assert [i for name, i in seen if name == n] == list(range(200))


def test_hub_releases_what_is_posted_after_it_closed():
    import weakref
    with running_hub() as hub:
        pass
    token = _Token()
    ref = weakref.ref(token)
    hub.call_soon(print, token)      # closed: not run, not kept
    hub.resume(None, token)
    with pytest.raises(RuntimeError):
        hub.spawn(print, token)
    del token
    assert ref() is None


def test_hub_never_run_releases_what_was_posted_to_it():
    import gc
    import weakref
    hub = cooperative._coop.Hub("test-hub")
    token = _Token()
    ref = weakref.ref(token)
    hub.call_soon(print, token)
    hub.spawn(print, token)
    del token
    assert ref() is not None         # queued, for a run() to come
    del hub
    gc.collect()
    assert ref() is None
