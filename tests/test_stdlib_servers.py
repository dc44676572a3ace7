"""The standard library's servers built on socketserver, on pyfast:
http.server, xmlrpc.server, wsgiref.simple_server, python -m pyfast.http;
and the module's names.  Parametrised over the stdlib modules and pyfast's
where the behaviour is shared."""

import http.client
import importlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import xmlrpc.client

import pytest

import support

HOST = "127.0.0.1"

HTTP_IMPLS = [pytest.param("http.server", id="stdlib"),
              pytest.param("pyfast.http.server", id="pyfast")]


def _serve(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True)
    t.start()
    return t


def _stop(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert not thread.is_alive()


def test_pyfast_all_holds_every_socketserver_name():
    import pyfast
    missing = set(socketserver.__all__) - set(pyfast.__all__)
    assert not missing
    for name in socketserver.__all__:
        assert hasattr(pyfast, name), name


@pytest.mark.parametrize("modname", HTTP_IMPLS)
def test_keep_alive_responses_do_not_stall_on_nagle(modname):
    """Headers and body are written separately by BaseHTTPRequestHandler;
    with Nagle on (the default), the stdlib takes ~40 ms a request on
    keep-alive (delayed ACK).  pyfast sends them together."""
    mod = importlib.import_module(modname)

    Hello = support.hello_http_handler(mod.BaseHTTPRequestHandler)

    server = mod.ThreadingHTTPServer((HOST, 0), Hello)
    t = _serve(server)
    try:
        conn = http.client.HTTPConnection(HOST, server.server_address[1], timeout=5)
        start = time.monotonic()
        for _ in range(20):
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b"hello /"
        elapsed = time.monotonic() - start
        conn.close()
    finally:
        _stop(server, t)
    if modname.startswith("pyfast"):
        # 20 requests with a 40 ms stall each would take >= 0.8 s.
        assert elapsed < 0.4, elapsed


def test_coalescing_socket_sends_held_headers_before_reading_and_closing():
    """A header block written last is sent when the handler reads next or
    the connection closes: nothing is held past the handler's next action."""
    from pyfast.http.server import HTTPServer, BaseHTTPRequestHandler

    class HeadersOnly(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self):
            self.send_response(204)
            self.end_headers()   # the only write: a header block, held back

        def log_message(self, *args):
            pass

    server = HTTPServer((HOST, 0), HeadersOnly)
    t = _serve(server)
    try:
        conn = http.client.HTTPConnection(HOST, server.server_address[1], timeout=5)
        for _ in range(3):  # keep-alive: sent when the handler reads the next request
            conn.request("HEAD", "/")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 204
        conn.close()
        # HTTP/1.0 (Connection: close): sent by shutdown_request.
        s = support.connect(server.server_address)
        s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
        data = support.recv_all(s)
        s.close()
        assert data.startswith(b"HTTP/1.1 204")
    finally:
        _stop(server, t)


@pytest.mark.parametrize("modname", HTTP_IMPLS)
def test_simple_http_request_handler_serves_files(modname, tmp_path):
    mod = importlib.import_module(modname)
    payload = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(payload)
    (tmp_path / "small.txt").write_bytes(b"small file\n")

    class Quiet(mod.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = mod.ThreadingHTTPServer((HOST, 0), Quiet)
    t = _serve(server)
    try:
        conn = http.client.HTTPConnection(HOST, server.server_address[1], timeout=5)
        conn.request("GET", "/blob.bin")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == payload
        conn.close()
        conn = http.client.HTTPConnection(HOST, server.server_address[1], timeout=5)
        conn.request("GET", "/small.txt")
        assert conn.getresponse().read() == b"small file\n"
        conn.request("GET", "/missing")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404
        conn.close()
    finally:
        _stop(server, t)


def test_python_m_pyfast_http_serves_a_directory(tmp_path):
    (tmp_path / "index.html").write_bytes(b"<p>pyfast</p>")
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyfast.http", str(port), "--bind", HOST,
         "--directory", str(tmp_path)],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "Serving HTTP on 127.0.0.1 port %d" % port in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        conn.request("GET", "/index.html")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"<p>pyfast</p>"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(5)


XMLRPC_IMPLS = [pytest.param("xmlrpc.server", id="stdlib"),
                pytest.param("pyfast.xmlrpc.server", id="pyfast")]


@pytest.mark.parametrize("modname", XMLRPC_IMPLS)
def test_simple_xmlrpc_server_calls_registered_functions(modname):
    mod = importlib.import_module(modname)
    server = mod.SimpleXMLRPCServer((HOST, 0), logRequests=False, allow_none=True)
    server.register_function(pow)
    server.register_function(lambda a, b: a + b, "add")
    server.register_introspection_functions()
    t = _serve(server)
    try:
        proxy = xmlrpc.client.ServerProxy("http://%s:%d" % server.server_address)
        assert proxy.pow(2, 10) == 1024
        assert proxy.add("py", "fast") == "pyfast"
        assert "add" in proxy.system.listMethods()
        with pytest.raises(xmlrpc.client.Fault):
            proxy.no_such_method()
        proxy("close")()
    finally:
        _stop(server, t)


def test_cooperative_xmlrpc_server_keeps_hub_sockets_and_coalesces():
    # An XML-RPC server on cooperative handlers: the request socket is the
    # hub's, composed with header coalescing (not one of the two).
    from pyfast.cooperative import CooperativeMixIn, CooperativeSocket
    from pyfast.http.server import CoalescingMixIn
    from pyfast.xmlrpc.server import SimpleXMLRPCServer

    seen = []

    class Server(CooperativeMixIn, SimpleXMLRPCServer):
        def finish_request(self, request, client_address):
            seen.append(type(request))
            super().finish_request(request, client_address)

    server = Server((HOST, 0), logRequests=False)
    server.register_function(lambda a, b: a + b, "add")
    t = _serve(server)
    try:
        proxy = xmlrpc.client.ServerProxy("http://%s:%d" % server.server_address)
        assert proxy.add(2, 3) == 5
    finally:
        _stop(server, t)
    assert seen and issubclass(seen[0], CooperativeSocket) and issubclass(seen[0], CoalescingMixIn)


@pytest.mark.parametrize("modname", XMLRPC_IMPLS)
def test_multipath_xmlrpc_server_dispatches_by_path(modname):
    mod = importlib.import_module(modname)

    class Paths(mod.SimpleXMLRPCRequestHandler):
        rpc_paths = ("/a", "/b")

    server = mod.MultiPathXMLRPCServer((HOST, 0), requestHandler=Paths, logRequests=False)
    for path, value in (("/a", "A"), ("/b", "B")):
        d = mod.SimpleXMLRPCDispatcher()
        d.register_function(lambda value=value: value, "which")
        server.add_dispatcher(path, d)
    t = _serve(server)
    try:
        base = "http://%s:%d" % server.server_address
        assert xmlrpc.client.ServerProxy(base + "/a").which() == "A"
        assert xmlrpc.client.ServerProxy(base + "/b").which() == "B"
    finally:
        _stop(server, t)


WSGI_IMPLS = [pytest.param("wsgiref.simple_server", id="stdlib"),
              pytest.param("pyfast.wsgiref.simple_server", id="pyfast")]


@pytest.mark.parametrize("modname", WSGI_IMPLS)
def test_wsgi_server_runs_an_application(modname):
    mod = importlib.import_module(modname)
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got:", body]

    class Quiet(mod.WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = mod.make_server(HOST, 0, app, handler_class=Quiet)
    t = _serve(server)
    try:
        conn = http.client.HTTPConnection(HOST, server.server_address[1], timeout=5)
        conn.request("POST", "/path?q=1", body=b"payload")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"got:payload"
        conn.close()
    finally:
        _stop(server, t)
    assert seen["PATH_INFO"] == "/path" and seen["QUERY_STRING"] == "q=1"
    assert seen["SERVER_PORT"] == str(server.server_port)


def _queue_datagrams(server, n):
    """A client that has sent b"0".. b"n-1" to server, left time to be all
    queued (so that one recvmmsg reads them); its socket times out in 5 s."""
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    for i in range(n):
        c.sendto(b"%d" % i, server.server_address)
    time.sleep(0.1)
    return c


def test_udp_batch_hands_out_every_datagram_in_order(pyfast_impl):
    """Datagrams read ahead by recvmmsg are all handled, in arrival order,
    by serve_forever and by handle_request alike."""
    got = []

    class Record(pyfast_impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            got.append(data)
            sock.sendto(b"ack", self.client_address)

    server = pyfast_impl.UDPServer((HOST, 0), Record)
    c = _queue_datagrams(server, 10)
    try:
        for _ in range(10):
            server.handle_request()
        assert got == [b"%d" % i for i in range(10)]
        t = _serve(server)
        for i in range(10, 200):
            c.sendto(b"%d" % i, server.server_address)
        assert support.wait_until(lambda: len(got) == 200)
        assert got == [b"%d" % i for i in range(200)]
        _stop(server, t)
    finally:
        c.close()


def test_udp_shutdown_mid_batch_leaves_the_rest_pending(pyfast_impl):
    """shutdown() during a batch read by recvmmsg stops serve_forever after
    the datagram being handled; the others stay queued, in order, for the
    next handle_request() / serve_forever()."""
    got = []

    class StopAfterFirst(pyfast_impl.BaseRequestHandler):
        def handle(self):
            got.append(self.request[0])
            if len(got) == 1:
                threading.Thread(target=server.shutdown, daemon=True).start()
                assert support.wait_until(lambda: server._BaseServer__shutdown_request)

    server = pyfast_impl.UDPServer((HOST, 0), StopAfterFirst)
    c = _queue_datagrams(server, 10)
    try:
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        t.join(5)
        assert not t.is_alive()
        assert got == [b"0"]
        for _ in range(9):
            server.handle_request()
        assert got == [b"%d" % i for i in range(10)]
    finally:
        c.close()
        server.server_close()


def test_datagram_receiver_addresses_past_its_cache(pyfast_impl):
    """The receiver's cache of decoded sender addresses is bounded (1024):
    1,100 distinct senders each get their own address back."""
    from pyfast import _core
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind((HOST, 0))
        srv.setblocking(False)
        receiver = _core.DatagramReceiver(srv.fileno(), 100, 16)
        for i in range(1100):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.bind((HOST, 0))
                c.sendto(b"%d" % i, srv.getsockname())
                assert receiver.next() == (b"%d" % i, c.getsockname())
        with pytest.raises(BlockingIOError):
            receiver.next()
        assert receiver.pending == 0


@pytest.mark.parametrize("batch_replies", [True, False])
def test_udp_replies_of_a_batch_are_queued_then_sent(pyfast_impl, batch_replies):
    """With batch_replies, the replies made by one batch's handlers wait in
    the queue (sent together with sendmmsg) and none is left after it;
    without, each goes out as its handler sends it."""
    queued = []

    class Echo(pyfast_impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data, self.client_address)
            queued.append(self.server._receiver.queued_replies)

    class S(pyfast_impl.UDPServer):
        pass

    S.batch_replies = batch_replies
    server = S((HOST, 0), Echo)
    c = _queue_datagrams(server, 10)
    try:
        t = _serve(server)
        assert [c.recvfrom(10)[0] for _ in range(10)] == [b"%d" % i for i in range(10)]
        _stop(server, t)
        assert queued == (list(range(1, 11)) if batch_replies else [0] * 10)
        assert server._receiver.queued_replies == 0
    finally:
        c.close()
        server.server_close()
