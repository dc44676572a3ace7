"""How a handler model plugs into BaseServer (pyfast.socketserver's module
docstring, "Handler models"): a serving loop brought by the request handler
class (``pyfast_server_loop``), the message model through that seam, and
HTTP header coalescing whatever the concurrency model.  Loopback only."""

import http.client
import selectors
import socket
import threading

import pytest

import pyfast
import support
from pyfast.cooperative import CooperativeHTTPServer, CooperativeMixIn, CooperativeSocket
from pyfast.http import server as pf_http
from pyfast.http.server import CoalescingMixIn

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


# ---- a third-party model: a loop in Python that answers lines reversed -------

class ReverseLoop:
    """A serving loop as the seam asks for one: run(poll_interval) serves
    server.socket on the calling thread until stop(); stop() is
    thread-safe, idempotent and may come before run()."""

    def __init__(self, server, handler_class):
        self.server = server
        self.handler_class = handler_class
        self.ran_on = None
        self.poll_interval = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()

    def stop(self):
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass                        # run() has returned and closed it

    def run(self, poll_interval):
        self.ran_on = threading.get_ident()
        self.poll_interval = poll_interval
        server = self.server
        sel = selectors.DefaultSelector()
        sel.register(server.socket, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        conns = {}
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select(poll_interval):
                    if key.data == "accept":
                        conn, address = server.socket.accept()
                        conns[conn] = (address, b"")
                        sel.register(conn, selectors.EVENT_READ, "conn")
                    elif key.data == "conn":
                        self._read(sel, conns, key.fileobj)
                server.service_actions()
        finally:
            for conn in conns:
                conn.close()
            sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _read(self, sel, conns, conn):
        address, pending = conns[conn]
        data = conn.recv(4096)
        if not data:
            sel.unregister(conn)
            del conns[conn]
            conn.close()
            return
        *lines, pending = (pending + data).split(b"\n")
        conns[conn] = (address, pending)
        for line in lines:
            try:
                conn.sendall(self.handler_class.answer(line) + b"\n")
            except Exception:
                self.server.handle_error(conn, address)


class Reverse:
    """A request handler class that brings its own serving loop."""

    loops = []

    @classmethod
    def pyfast_server_loop(cls, server):
        loop = ReverseLoop(server, cls)
        cls.loops.append(loop)
        return loop

    @staticmethod
    def answer(line):
        if line == b"boom":
            raise ValueError("boom")
        return line[::-1]


class RecordsOwnPath:
    """Server mix-in: records what of the server's own accept path runs
    (none should, under a handler's serving loop)."""

    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self.own_path = []
        super().__init__(*args, **kwargs)

    def get_request(self):
        self.own_path.append("get_request")
        return super().get_request()

    def process_request(self, request, client_address):
        self.own_path.append("process_request")
        return super().process_request(request, client_address)


class RecordingTCPServer(RecordsOwnPath, pyfast.TCPServer):
    """Also records handle_error()'s exceptions and service_actions()."""

    def __init__(self, *args, **kwargs):
        self.errors = []
        self.service_actions_ran = threading.Event()
        super().__init__(*args, **kwargs)

    def service_actions(self):
        self.service_actions_ran.set()

    def handle_error(self, request, client_address):
        import sys
        self.errors.append(sys.exc_info()[1])


def test_a_handler_class_brings_its_own_serving_loop(serve, client):
    """serve_forever() runs the loop pyfast_server_loop(server) gives, on its
    own thread with its poll_interval, instead of its accept loop; the
    loop's handler errors go to handle_error; shutdown() from another
    thread stops it and serve_forever() returns."""
    Reverse.loops.clear()
    server = RecordingTCPServer((HOST, 0), Reverse)
    running = serve(server, poll_interval=0.05)
    c = client(server.server_address)
    c.sendall(b"abc\nhello\n")
    assert support.recv_exact(c, 10) == b"cba\nolleh\n"
    c.sendall(b"boom\nok\n")
    assert support.recv_exact(c, 3) == b"ko\n"
    assert [type(e) for e in server.errors] == [ValueError]
    assert server.service_actions_ran.wait(support.IO_TIMEOUT)
    [loop] = Reverse.loops
    assert loop.ran_on == running.thread.ident
    assert loop.poll_interval == 0.05
    assert server.own_path == []
    assert running.shutdown()
    assert running.serve_error is None
    assert support.is_closed_by_peer(c)     # the loop closed what it held


@pytest.mark.parametrize("handler_base", [Reverse, pyfast.MessageHandler],
                         ids=["third-party", "message"])
def test_shutdown_that_comes_before_the_loop_runs_still_ends_it(handler_base):
    """shutdown() called while serve_forever() is getting the loop (before
    run()) still stops it: run() returns at once, as socketserver's
    serve_forever() returns at once when shutdown() came first."""
    making, go = threading.Event(), threading.Event()

    class Gated(handler_base):
        @classmethod
        def pyfast_server_loop(cls, server):
            making.set()
            go.wait(support.IO_TIMEOUT)
            return super().pyfast_server_loop(server)

    with RecordingTCPServer((HOST, 0), Gated) as server:
        running = support.Running(server, 0.05)
        assert making.wait(support.IO_TIMEOUT)
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(0.2)               # shutdown() found no loop to stop yet
        go.set()
        stopper.join(support.IO_TIMEOUT)
        assert not stopper.is_alive(), "shutdown() did not return"
        assert running.returned.wait(support.IO_TIMEOUT)
        assert running.serve_error is None


def test_a_serving_loop_that_raises_ends_serve_forever_and_the_server_serves_again(client):
    """What run() raises, serve_forever() raises; the server can then be
    served again and shut down as usual."""

    class BrokenLoop(ReverseLoop):
        def run(self, poll_interval):
            self._wake_r.close()
            self._wake_w.close()
            raise OSError("epoll failed")

    class Broken(Reverse):
        fail = True

        @classmethod
        def pyfast_server_loop(cls, server):
            loop_class = BrokenLoop if cls.fail else ReverseLoop
            cls.fail = False
            return loop_class(server, cls)

    with RecordingTCPServer((HOST, 0), Broken) as server:
        failed = support.Running(server, 0.05)
        assert failed.returned.wait(support.IO_TIMEOUT), "serve_forever() did not return"
        assert isinstance(failed.serve_error, OSError)
        assert str(failed.serve_error) == "epoll failed"
        running = support.Running(server, 0.05)
        c = client(server.server_address)
        c.sendall(b"again\n")
        assert support.recv_exact(c, 6) == b"niaga\n"
        assert running.shutdown()
        assert running.serve_error is None


# ---- the message model through the seam ----------------------------------------

@pytest.mark.parametrize("server_class", [pyfast.TCPServer, pyfast.ThreadingTCPServer])
def test_message_handler_on_a_plain_server_runs_on_the_message_loop(server_class, client):
    """TCPServer(address, SomeMessageHandler), unchanged: the message loop
    accepts and frames (the server's own get_request/process_request never
    run), handle_message runs on serve_forever()'s thread, shutdown() from
    another thread ends it."""
    seen = []

    class Echo(pyfast.MessageHandler):
        def handle_message(self, message):
            seen.append(threading.get_ident())
            self.send_message(message.upper())

    class Server(RecordsOwnPath, server_class):
        pass

    with Server((HOST, 0), Echo) as server:
        running = support.Running(server, 0.05)
        c = client(server.server_address)
        c.sendall(b"one\ntwo\n")
        assert support.recv_exact(c, 8) == b"ONE\nTWO\n"
        assert seen == [running.thread.ident] * 2
        assert server.own_path == []
        assert running.shutdown()
        assert running.serve_error is None
        assert support.is_closed_by_peer(c)


# ---- HTTP coalescing whatever the concurrency model ---------------------------------

class OwnSocket(pyfast.RequestSocket):
    """A third-party model's request socket class."""
    __slots__ = ()


class OwnModelHTTPServer(pf_http.HTTPServer):
    request_socket_class = OwnSocket


HTTP_SERVERS = [
    pytest.param(pf_http.HTTPServer, pyfast.RequestSocket, id="HTTPServer"),
    pytest.param(pf_http.ThreadingHTTPServer, pyfast.RequestSocket, id="ThreadingHTTPServer"),
    pytest.param(CooperativeHTTPServer, CooperativeSocket, id="CooperativeHTTPServer"),
    pytest.param(type("CoopHTTP", (CooperativeMixIn, pf_http.HTTPServer), {}),
                 CooperativeSocket, id="CooperativeMixIn+HTTPServer"),
    pytest.param(OwnModelHTTPServer, OwnSocket, id="own-request-socket-class"),
]


@pytest.mark.parametrize("server_class, model_socket", HTTP_SERVERS)
def test_http_servers_coalesce_whatever_the_concurrency_model(server_class, model_socket, serve):
    """Every HTTP server is an HTTPServer (server_bind is HTTPServer's, not a
    copy) and its handlers get the concurrency model's request socket with
    header coalescing composed in front; a keep-alive response arrives
    whole."""
    assert pf_http.HTTPServer in server_class.__mro__
    assert server_class.server_bind is pf_http.HTTPServer.server_bind
    seen = []

    class Hello(support.hello_http_handler()):
        def setup(self):
            seen.append(type(self.request))
            super().setup()

    server = server_class((HOST, 0), Hello)
    serve(server, poll_interval=0.05)
    conn = http.client.HTTPConnection(HOST, server.server_port, timeout=support.IO_TIMEOUT)
    try:
        for path in ("/a", "/b"):
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b"hello " + path.encode()
    finally:
        conn.close()
    assert len(seen) == 1                       # one keep-alive connection
    assert issubclass(seen[0], model_socket) and issubclass(seen[0], CoalescingMixIn)
    assert seen[0] is pf_http.coalescing_socket_class(model_socket)
