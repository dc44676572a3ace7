"""Cooperative servers under faults: end of stream that comes with the last
data, resets, admission control (max_connections) and the graceful drain of
shutdown().

The end-of-stream tests run the same handler on CooperativeTCPServer /
CooperativeHTTPServer, on pyfast's threaded servers and on the stdlib's: the
behaviour (the handler sees EOF, the connection is closed, no descriptor is
left) is shared.  A client that sends its data and its FIN in ONE segment
(TCP_CORK, then shutdown(SHUT_WR)) is the case an edge-triggered hub must not
miss: the one readiness edge already carries the FIN.
"""

import http.server
import queue
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from greenlet import GreenletExit

import pyfast
import pyfast.http.server
import support
from pyfast.cooperative import CooperativeHTTPServer, CooperativeTCPServer, sleep
from support import HOST, fd_count, recv_all, reset_close, wait_until
from test_cooperative import Hello            # replies b"hello " + path

pytestmark = pytest.mark.timeout(60)

CLIENTS = 20

TCP_SERVERS = {
    "coop": CooperativeTCPServer,
    "pyfast-threading": pyfast.ThreadingTCPServer,
    "stdlib-threading": socketserver.ThreadingTCPServer,
}

HTTP_SERVERS = {
    "coop": CooperativeHTTPServer,
    "pyfast-threading": pyfast.http.server.ThreadingHTTPServer,
    "stdlib-threading": http.server.ThreadingHTTPServer,
}


def server_of(cls, handler, **attrs):
    attrs.setdefault("daemon_threads", True)
    attrs.setdefault("allow_reuse_address", True)
    attrs.setdefault("request_queue_size", 256)
    return type("Server", (cls,), attrs)((HOST, 0), handler)


def send_with_fin(c, data):
    """Send data and the FIN in one segment: TCP_CORK holds the data until
    shutdown(SHUT_WR) flushes it together with the FIN."""
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)


def settle(before, timeout=5.0):
    """Wait until this process has no more descriptors than before; the count."""
    wait_until(lambda: fd_count() <= before, timeout)
    return fd_count()


# ---- the last data and the FIN together ---------------------------------------

def _read_recv(handler):
    total = b""
    while True:
        chunk = handler.request.recv(1024)
        if not chunk:
            return total
        total += chunk


def _read_recv_into(handler):
    buf = bytearray(1024)
    total = b""
    while True:
        n = handler.request.recv_into(buf)
        if not n:
            return total
        total += bytes(buf[:n])


def _read_readline(handler):
    total = b""
    while True:
        line = handler.rfile.readline()
        if not line:
            return total
        total += line


def _read_iter(handler):
    return b"".join(line for line in handler.rfile)


def _read_text(handler):
    with handler.request.makefile("r", encoding="ascii", newline="") as f:
        return "".join(line for line in f).encode("ascii")


READERS = {"recv": _read_recv, "recv_into": _read_recv_into,
           "readline": _read_readline, "for_line_in_rfile": _read_iter,
           "makefile_text": _read_text}


@pytest.mark.parametrize("when", ["at_once", "after_greeting"])
@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", TCP_SERVERS)
def test_data_and_fin_in_one_segment_is_seen_as_eof(kind, reader, when, serve):
    """20 clients send two lines and their FIN in one segment: every handler
    sees end of stream after the data, replies, and its connection closes;
    the server's descriptors come back to where they were.  at_once: sent
    as soon as connected (usually there before the handler first reads);
    after_greeting: sent once the handler greeted, so it is already
    waiting when the one readiness edge, data and FIN, comes."""
    read = READERS[reader]
    ended = queue.Queue()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            try:
                self.wfile.write(b"hi\n")
                data = read(self)
                self.wfile.write(b"got %d bytes: %s" % (len(data), data))
            finally:
                ended.put(True)

    def run_client(c, data):
        greeting = b""
        if when == "after_greeting":
            greeting = support.recv_until(c)
        send_with_fin(c, data)
        return greeting + recv_all(c)         # until the server closes

    r = serve(server_of(TCP_SERVERS[kind], Handler))
    with support.connect(r.address) as warm:  # starts hubs / workers
        assert run_client(warm, b"warm\n") == b"hi\ngot 5 bytes: warm\n"
    ended.get(timeout=5)
    before = settle(fd_count())

    clients = [support.connect(r.address) for _ in range(CLIENTS)]
    replies = [run_client(c, b"one\ntwo\n") for c in clients]
    for c in clients:
        c.close()
    assert replies == [b"hi\ngot 8 bytes: one\ntwo\n"] * CLIENTS
    for _ in range(CLIENTS):
        ended.get(timeout=5)
    assert settle(before) - before <= 0


@pytest.mark.parametrize("case", ["1.0", "1.1", "1.1-second-request"])
@pytest.mark.parametrize("kind", HTTP_SERVERS)
def test_http_request_and_fin_in_one_segment_closes_the_connection(kind, case, serve):
    """A request followed at once by the client's FIN (HTTP/1.0 clients that
    close; an HTTP/1.1 client that half-closes after its only request, or
    after the second request of a keep-alive connection, when the handler
    is already waiting): the reply comes, then the server closes (with
    HTTP/1.1 keep-alive it has to see the FIN to do so); no descriptor is
    left."""
    version = b"HTTP/1.0" if case == "1.0" else b"HTTP/1.1"
    handler = type("Hello", (Hello,), {"protocol_version": version.decode()})
    r = serve(server_of(HTTP_SERVERS[kind], handler))
    request = b"GET / %s\r\nHost: x\r\n\r\n" % version
    reply = b"%s 200 " % version

    def run_client(c):
        replies = b""
        if case == "1.1-second-request":
            c.sendall(request)
            while not replies.endswith(b"hello /"):
                replies += c.recv(4096)
        send_with_fin(c, request)
        return replies + recv_all(c)          # until the server closes

    with support.connect(r.address) as warm:
        assert run_client(warm).endswith(b"\r\n\r\nhello /")
    before = settle(fd_count())

    clients = [support.connect(r.address) for _ in range(CLIENTS)]
    replies = [run_client(c) for c in clients]
    for c in clients:
        c.close()
    whole = 2 if case == "1.1-second-request" else 1
    assert all(r.startswith(reply) and r.count(reply) == whole and r.endswith(b"hello /")
               for r in replies), replies[:2]
    assert settle(before) - before <= 0


# ---- resets ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", TCP_SERVERS)
def test_reset_mid_message_ends_the_handler_and_frees_its_descriptor(kind, serve):
    """20 clients send half a line and reset: each handler's readline ends
    (ConnectionResetError, or the partial line then EOF) and nothing is left."""
    ended = queue.Queue()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            try:
                while self.rfile.readline().endswith(b"\n"):
                    pass
                ended.put("eof")
            except ConnectionError:
                ended.put("reset")

    r = serve(server_of(TCP_SERVERS[kind], Handler))
    warm = support.connect(r.address)
    warm.close()
    assert ended.get(timeout=5) == "eof"
    before = settle(fd_count())

    clients = []
    for _ in range(CLIENTS):
        c = support.connect(r.address)
        c.sendall(b"half a li")
        clients.append(c)
    time.sleep(0.1)                    # the halves are read, the handlers wait
    for c in clients:
        reset_close(c)
    outcomes = [ended.get(timeout=5) for _ in range(CLIENTS)]
    assert set(outcomes) <= {"eof", "reset"}
    assert settle(before) - before <= 0


@pytest.mark.parametrize("kind", TCP_SERVERS)
def test_sendall_to_a_peer_that_resets_raises(kind, serve):
    """A handler writing a long reply to a client that never reads and then
    resets gets a ConnectionError from sendall, at once, not a hang."""
    outcome = queue.Queue()

    class Firehose(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(10)
            try:
                for _ in range(1024):          # 64 MiB: far beyond the buffers
                    self.request.sendall(b"x" * 65536)
                outcome.put("finished")
            except ConnectionError as exc:
                outcome.put(type(exc))

    r = serve(server_of(TCP_SERVERS[kind], Firehose))
    c = support.connect(r.address)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sendall(b"go")
    time.sleep(0.2)                            # the handler is blocked in sendall
    reset_close(c)
    assert issubclass(outcome.get(timeout=5), ConnectionError)


# ---- admission control: max_connections ------------------------------------------

class Counting:
    """A server mix-in that counts, from the server's side, the connections
    it has accepted and not yet shut down, and keeps the peak."""
    open_now = 0
    peak = 0
    accepted = 0

    def get_request(self):
        request = super().get_request()
        with self.count_lock:
            self.open_now += 1
            self.accepted += 1
            self.peak = max(self.peak, self.open_now)
        return request

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self.count_lock:
            self.open_now -= 1


def test_max_connections_bounds_what_the_server_has_accepted(pyfast_impl, serve):
    """max_connections = 10, 60 clients connected at once: the server never
    holds more than 10 accepted connections (the others wait in the listen
    backlog), and every client is served in the end."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline()
            sleep(0.02)                       # keeps its slot a little
            self.wfile.write(line)

    server = server_of(type("S", (Counting, CooperativeTCPServer), {}), Handler,
                       max_connections=10, count_lock=threading.Lock())
    r = serve(server)
    clients = [support.connect(r.address) for _ in range(60)]
    for i, c in enumerate(clients):
        c.sendall(b"client %d\n" % i)
    replies = [support.recv_until(c) for c in clients]
    for c in clients:
        c.close()
    assert replies == [b"client %d\n" % i for i in range(60)]
    assert server.accepted == 60
    assert 1 <= server.peak <= 10


# ---- graceful drain on shutdown ---------------------------------------------------

REPLY = 1 << 20


class BigReply(socketserver.BaseRequestHandler):
    """Sends a 1 MiB reply once the client asks.  A small fixed send buffer
    (no autotuning) keeps most of it in the handler, not in the kernel,
    while the client reads slowly."""
    started = None          # a queue.Queue: one item per handler in sendall

    def handle(self):
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        self.request.recv(10)
        if self.started is not None:
            self.started.put(True)
        self.request.sendall(b"r" * REPLY)


def ask_for_replies(address, n):
    """n clients that have each asked for a BigReply."""
    clients = []
    for _ in range(n):
        c = support.connect(address)
        c.sendall(b"go")
        clients.append(c)
    return clients


def read_slowly(clients, timeout=40.0):
    """Read every client until EOF or reset, all at once, 4 KiB per read:
    the bytes each one got.  Closes them."""
    got = [0] * len(clients)
    with selectors.DefaultSelector() as sel:
        for i, c in enumerate(clients):
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ, i)
        deadline = time.monotonic() + timeout
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                try:
                    data = key.fileobj.recv(4096)
                except ConnectionError:
                    data = b""
                got[key.data] += len(data)
                if not data:
                    sel.unregister(key.fileobj)
    for c in clients:
        c.close()
    return got


def test_shutdown_lets_running_handlers_finish_their_replies(pyfast_impl):
    """200 clients each read a 1 MiB reply slowly while shutdown() then
    server_close() are called: every reply arrives whole, then the
    connection closes."""
    started = queue.Queue()
    handler = type("Big", (BigReply,), {"started": started})
    server = server_of(CooperativeTCPServer, handler, drain_timeout=30.0)
    r = support.Running(server, 0.1)
    try:
        clients = ask_for_replies(r.address, 200)
        for _ in clients:
            started.get(timeout=10)
        # Every handler is in sendall, its reply mostly unsent.
        stopper = threading.Thread(target=lambda: (server.shutdown(), server.server_close()))
        stopper.start()
        got = read_slowly(clients)
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        assert not r.stop()
    whole = got.count(REPLY)
    assert whole == len(got), f"{whole} of {len(got)} replies whole"


def test_shutdown_ends_a_handler_still_running_after_drain_timeout(pyfast_impl):
    """A handler that never finishes is ended (GreenletExit, its finally
    runs) once drain_timeout has passed, and its socket is closed; the
    others finished meanwhile."""
    events = queue.Queue()

    class Stuck(socketserver.BaseRequestHandler):
        def handle(self):
            what = self.request.recv(10)
            events.put("started")
            try:
                if what == b"stuck":
                    sleep(3600)
                else:
                    sleep(0.1)
                    self.request.sendall(b"done")
            except GreenletExit:
                events.put("exit")
                raise

    server = server_of(CooperativeTCPServer, Stuck, drain_timeout=0.5)
    r = support.Running(server, 0.1)
    stuck = support.connect(r.address)
    quick = support.connect(r.address)
    try:
        stuck.sendall(b"stuck")
        quick.sendall(b"quick")
        assert [events.get(timeout=5) for _ in range(2)] == ["started"] * 2
        t0 = time.monotonic()
        assert r.shutdown()
        took = time.monotonic() - t0
        assert 0.4 <= took < 3.0, took
        assert events.get(timeout=1) == "exit"
        assert recv_all(quick) == b"done"
        assert recv_all(stuck) == b""          # closed by the server
    finally:
        stuck.close()
        quick.close()
        assert not r.stop()


SIGINT_SERVER = r"""
import sys
sys.path.insert(0, %r)
from pyfast.cooperative import CooperativeTCPServer
from test_coop_faults import BigReply

class S(CooperativeTCPServer):
    allow_reuse_address = True
    drain_timeout = 20.0

with S(("127.0.0.1", 0), BigReply) as server:
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
""" % str(Path(__file__).parent)


def test_ctrl_c_lets_running_handlers_finish_their_replies(pyfast_impl):
    """SIGINT to a process serving in its main thread while 20 clients read
    1 MiB replies slowly: serve_forever() raises KeyboardInterrupt after the
    drain, and every reply arrived whole."""
    proc = subprocess.Popen([sys.executable, "-c", SIGINT_SERVER],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        clients = ask_for_replies((HOST, port), 20)
        for c in clients:
            support.recv_exact(c, 4096)        # every reply is flowing
        proc.send_signal(signal.SIGINT)
        got = read_slowly(clients)
        assert proc.wait(20) == 0
        assert proc.stdout.read() == "interrupted\n"
        assert got == [REPLY - 4096] * 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("kind", TCP_SERVERS)
def test_shutdown_from_a_handler_returns(kind):
    """A handler may call server.shutdown() (serve_forever runs in another
    thread), as with socketserver's threading servers: it returns, the
    handler finishes its reply, serve_forever() returns."""
    class Quit(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(10)
            self.server.shutdown()
            self.request.sendall(b"bye")

    server = server_of(TCP_SERVERS[kind], Quit)
    r = support.Running(server, 0.1)
    try:
        with support.connect(r.address) as c:
            c.sendall(b"quit")
            t0 = time.monotonic()
            assert recv_all(c) == b"bye"
            assert time.monotonic() - t0 < 3.0
        assert r.returned.wait(5)
    finally:
        assert not r.stop()
