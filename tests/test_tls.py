"""TLS on pyfast's stream servers (pyfast.tls): ssl_context, handshake_timeout,
the handshake off serve_forever()'s thread, client certificates, HTTPS.
Loopback only; certificates made at test time by trustme.

The same handlers run on every model: single-threaded TCPServer, the
threaded and forking servers, the cooperative server (TLS over memory BIOs
on the hub), and the stdlib's ThreadingTCPServer with its listening socket
wrapped (the stdlib's way) where the behaviour is shared.
"""
import contextlib
import hashlib
import logging
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

import pytest

import support

import pyfast
from pyfast import cooperative, tls

pytestmark = pytest.mark.timeout(120)

import trustme  # noqa: E402  (the [test] extra: a failure to import fails the module)


# ------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def client_context(ca):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def tls_connect(address, context, timeout=support.IO_TIMEOUT, family=socket.AF_INET):
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect(address)
    return context.wrap_socket(raw, server_hostname="localhost")


# ------------------------------------------------------------------ servers

# The echo and line handlers of the cooperative tests (same handler, every model).
from test_cooperative import EchoHandler, PyfastLineHandler as LineHandler  # noqa: E402


class InfoHandler(pyfast.StreamRequestHandler):
    """Answers one line with what the handler sees of its connection."""

    def handle(self):
        self.rfile.readline()
        r = self.request
        cert = r.getpeercert()
        names = ",".join(v for k, v in cert.get("subjectAltName", ())) if cert else ""
        info = (f"{type(r).__module__}.{type(r).__name__}|{r.version()}|{r.cipher()[0]}|"
                f"{r.selected_alpn_protocol()}|{names}|"
                f"{threading.current_thread().name}\n")
        self.wfile.write(info.encode())


MODELS = {
    "single": pyfast.TCPServer,
    "threading": pyfast.ThreadingTCPServer,
    "cooperative": cooperative.CooperativeTCPServer,
}
THREAD_MODELS = ["threading", "cooperative"]   # handshakes off the serving thread


@contextlib.contextmanager
def running(server_class, handler, context, **attrs):
    if "request_queue_size" in attrs:   # listen() runs in the constructor
        server_class = type(server_class.__name__, (server_class,),
                            {"request_queue_size": attrs.pop("request_queue_size")})
    server = server_class((support.HOST, 0), handler)
    server.ssl_context = context
    for k, v in attrs.items():
        setattr(server, k, v)
    r = support.Running(server, 0.05)
    try:
        yield server
    finally:
        problems = r.stop()
        assert not problems, problems


# ------------------------------------------------------------- behaviour

@pytest.mark.parametrize("model", MODELS)
def test_echo_over_tls(model, server_context, client_context):
    with running(MODELS[model], EchoHandler, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            assert c.version() == "TLSv1.3"
            for size in (1, 1024, 100_000):
                data = os.urandom(size)
                c.sendall(data)
                assert support.recv_exact(c, size) == data


def test_forking_server_handshakes_in_the_child(server_context, client_context):
    """The child handshakes and serves (its handler answers once and
    returns: the child also holds this process's client socket, so it
    would never see the client's FIN)."""
    class Once(pyfast.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(100)
            self.request.sendall(b"%d:" % os.getpid() + data)

    with running(pyfast.ForkingTCPServer, Once, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            c.sendall(b"fork")
            pid, data = support.recv_all(c).split(b":")
    assert data == b"fork" and int(pid) != os.getpid()


@pytest.mark.parametrize("model", MODELS)
def test_stream_handler_rfile_wfile_over_tls(model, server_context, client_context):
    with running(MODELS[model], LineHandler, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            lines = [b"a\n", b"bb" * 5000 + b"\n", b"ccc\n"]
            c.sendall(b"".join(lines))
            for line in lines:
                assert support.recv_until(c, b"\n") == line


@pytest.mark.parametrize("model", ["single", "threading", "cooperative"])
def test_request_is_a_tls_socket_with_the_sslsocket_queries(model, server_context, ca):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(["x-pyfast", "http/1.1"])
    server_context = _copy_context(server_context, ca)
    server_context.set_alpn_protocols(["x-pyfast"])
    with running(MODELS[model], InfoHandler, server_context) as server:
        with tls_connect(server.server_address, ctx) as c:
            c.sendall(b"?\n")
            kind, version, cipher, alpn, cn, thread = \
                support.recv_until(c, b"\n").decode().strip().split("|")
            client_cipher = c.cipher()[0]
    expected = "pyfast.tls.TLSSocket" if model == "cooperative" else "ssl.SSLSocket"
    assert kind == expected
    assert version == "TLSv1.3"
    assert cipher == client_cipher
    assert alpn == "x-pyfast"
    assert cn == ""         # no client certificate asked for


def _copy_context(ctx, ca, verify_mode=ssl.CERT_NONE):
    new = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(new)
    new.verify_mode = verify_mode
    if verify_mode != ssl.CERT_NONE:
        ca.configure_trust(new)
    return new


@pytest.mark.parametrize("model", ["single", "threading", "cooperative"])
def test_client_certificate_required(model, ca, client_context, caplog):
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    server_context = _copy_context(None, ca, ssl.CERT_REQUIRED)
    with running(MODELS[model], InfoHandler, server_context) as server:
        # Without a certificate: refused at the handshake (TLS 1.3: the
        # client learns it at its first read).
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with tls_connect(server.server_address, client_context) as c:
                c.sendall(b"?\n")
                if not c.recv(100):
                    raise ConnectionError("closed")
        # With one the CA issued: served, and the handler reads it.
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        ca.issue_cert("client@example.org").configure_cert(ctx)
        with tls_connect(server.server_address, ctx) as c:
            c.sendall(b"?\n")
            fields = support.recv_until(c, b"\n").decode().split("|")
        assert fields[4] == "client@example.org"
    assert support.wait_until(lambda: any(
        r.name == "pyfast.tls" and "refused" in r.getMessage() for r in caplog.records))


def test_peer_certificate_subject(ca):
    """The handler reads the client certificate's fields."""
    server_context = _copy_context(None, ca, ssl.CERT_REQUIRED)
    seen = []

    class Handler(pyfast.BaseRequestHandler):
        def handle(self):
            seen.append(self.request.getpeercert())
            self.request.sendall(b"ok")

    for model in THREAD_MODELS:
        seen.clear()
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        ca.issue_cert("alice@example.org").configure_cert(ctx)
        with running(MODELS[model], Handler, server_context) as server:
            with tls_connect(server.server_address, ctx) as c:
                assert support.recv_exact(c, 2) == b"ok"
        assert seen and seen[0]["subjectAltName"] == (("email", "alice@example.org"),), model


@pytest.mark.parametrize("model", THREAD_MODELS)
def test_handshake_runs_where_the_handler_runs_not_in_serve_forever(
        model, server_context, client_context, ca):
    threads = []
    ctx = _copy_context(server_context, ca)
    ctx.sni_callback = lambda sslobj, name, c: threads.append(threading.current_thread())
    with running(MODELS[model], EchoHandler, ctx) as server:
        with tls_connect(server.server_address, client_context) as c:
            c.sendall(b"x")
            assert c.recv(1) == b"x"
        serving = [t for t in threading.enumerate() if t.name.startswith("serve_forever:")]
    assert threads and serving
    assert all(t not in serving for t in threads), (threads, serving)


@pytest.mark.parametrize("model", THREAD_MODELS)
def test_silent_clients_do_not_stall_accept(model, server_context, client_context):
    """1,000 clients connect and never send a ClientHello; normal clients
    keep being served meanwhile, and once the silent ones hang up, the
    server's descriptors return to their level."""
    n_silent = int(os.environ.get("PYFAST_TEST_SILENT", 1000))
    with running(MODELS[model], EchoHandler, server_context,
                 handshake_timeout=60, request_queue_size=2048) as server:
        address = server.server_address
        with tls_connect(address, client_context) as c:   # warm up
            c.sendall(b"w")
            assert c.recv(1) == b"w"
        fds_before = support.fd_count()
        silent = []
        try:
            for i in range(n_silent):
                silent.append(support.connect(address))
            t0 = time.monotonic()
            for i in range(5):
                with tls_connect(address, client_context, timeout=30) as c:
                    c.sendall(b"hello %d" % i)
                    assert support.recv_exact(c, 7) == b"hello %d" % i
            served_in = time.monotonic() - t0
        finally:
            for s in silent:
                s.close()
        # Generous: a handshake waiting behind a silent one waits for
        # handshake_timeout (60 s), which this test's timeout would blow.
        assert served_in < 30
        assert support.wait_until(lambda: support.fd_count() <= fds_before + 2, timeout=30), \
            (support.fd_count(), fds_before)


def test_unix_stream_server_over_tls(tmp_path, server_context, client_context):
    path = str(tmp_path / "s")
    for cls in (pyfast.ThreadingUnixStreamServer, cooperative.CooperativeUnixStreamServer):
        server = cls(path, EchoHandler)
        server.ssl_context = server_context
        r = support.Running(server, 0.05)
        try:
            c = tls_connect(path, client_context, family=socket.AF_UNIX)
            with c:
                c.sendall(b"unix")
                assert support.recv_exact(c, 4) == b"unix"
        finally:
            assert not r.stop()
            os.unlink(path)


def test_stdlib_wrapped_listening_socket_still_served(server_context, client_context):
    """The stdlib's way (wrap the listening socket) keeps working, on the
    stdlib's and on pyfast's threaded servers alike."""
    for cls in (socketserver.ThreadingTCPServer, pyfast.ThreadingTCPServer):
        server = cls((support.HOST, 0), EchoHandler)
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        r = support.Running(server, 0.05)
        try:
            with tls_connect(server.server_address, client_context) as c:
                c.sendall(b"std")
                assert support.recv_exact(c, 3) == b"std"
        finally:
            assert not r.stop()


# ---------------------------------------------------------- cooperative socket

def test_cooperative_tls_socket_makefile_unwrap_and_timeouts(server_context, client_context):
    results = {}

    class Handler(pyfast.BaseRequestHandler):
        def handle(self):
            r = self.request
            f = r.makefile("rwb")
            results["line"] = f.readline()
            f.write(b"pong\n")
            f.flush()
            f.close()
            r.settimeout(0.2)
            try:
                r.recv(1)
            except TimeoutError:
                results["timeout"] = True
            r.settimeout(5)
            raw = r.unwrap()
            results["raw"] = raw.recv(5)
            raw.sendall(b"plain")

    with running(cooperative.CooperativeTCPServer, Handler, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            c.sendall(b"ping\n")
            assert support.recv_until(c, b"\n") == b"pong\n"
            time.sleep(0.4)
            raw = c.unwrap()
            raw.sendall(b"clear")
            assert support.recv_exact(raw, 5) == b"plain"
            raw.close()
    assert results == {"line": b"ping\n", "timeout": True, "raw": b"clear"}


@pytest.mark.parametrize("model", THREAD_MODELS)
def test_16mb_write_to_a_slow_reader(model, server_context, client_context):
    """A 16 MB reply to a client that reads slowly arrives whole, and (on
    the cooperative server) the hub keeps serving others meanwhile."""
    payload = os.urandom(1 << 20) * 16
    digest = hashlib.sha256(payload).hexdigest()

    class Handler(pyfast.BaseRequestHandler):
        def handle(self):
            cmd = self.request.recv(10)
            if cmd == b"big":
                self.request.sendall(payload)
            else:
                self.request.sendall(cmd)

    with running(MODELS[model], Handler, server_context, hubs=1) as server:
        with tls_connect(server.server_address, client_context, timeout=30) as slow:
            slow.sendall(b"big")
            got = bytearray(slow.recv(4096))
            time.sleep(0.3)  # the server's send buffer is full by now
            with tls_connect(server.server_address, client_context) as other:
                other.sendall(b"other")
                assert support.recv_exact(other, 5) == b"other"
            while len(got) < len(payload):
                chunk = slow.recv(1 << 16)
                assert chunk
                got += chunk
                if len(got) < (1 << 20):
                    time.sleep(0.001)
        assert hashlib.sha256(got).hexdigest() == digest


# ---------------------------------------------------------------- HTTPS

@pytest.mark.parametrize("cls", ["threading", "cooperative"])
def test_https_with_urllib_and_curl(cls, server_context, client_context, ca, tmp_path):
    import urllib.request

    from pyfast.http.server import ThreadingHTTPServer
    server_class = (ThreadingHTTPServer if cls == "threading"
                    else cooperative.CooperativeHTTPServer)
    handler = support.hello_http_handler()
    with running(server_class, handler, server_context) as server:
        port = server.server_address[1]
        url = f"https://localhost:{port}/x"
        # keep-alive: two requests on one connection, each answered whole
        opener = urllib.request.urlopen
        with opener(url, context=client_context, timeout=10) as resp:
            assert resp.read() == b"hello /x"
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "--cacert", str(ca_file),
             "--resolve", f"localhost:{port}:127.0.0.1", url, url],
            capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"hello /xhello /x"


def test_https_keepalive_has_no_delayed_ack_stall(server_context, client_context):
    """Header block and body written apart (http.server's way) over TLS:
    100 keep-alive requests do not each wait ~40 ms for a delayed ACK."""
    import http.client

    from pyfast.http.server import ThreadingHTTPServer
    for server_class in (ThreadingHTTPServer, cooperative.CooperativeHTTPServer):
        with running(server_class, support.hello_http_handler(), server_context) as server:
            conn = http.client.HTTPSConnection("localhost", server.server_address[1],
                                               context=client_context, timeout=10)
            conn.request("GET", "/w")
            conn.getresponse().read()
            t0 = time.monotonic()
            for i in range(100):
                conn.request("GET", f"/{i}")
                assert conn.getresponse().read() == f"hello /{i}".encode()
            elapsed = time.monotonic() - t0
            conn.close()
            # 100 stalls of 40 ms would take 4 s.
            assert elapsed < 2.0, (server_class, elapsed)


def _response_records(address, client_context, requests):
    """For each GET of `requests` on one TLS connection: the number of TLS
    records its response came in (read off the wire under an SSLObject)."""
    raw = support.connect(address)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    pending = b""   # ciphertext read but not yet a whole record

    def pump():
        """Read ciphertext; return how many whole records it completed."""
        nonlocal pending
        data = raw.recv(65536)
        assert data, "the server closed"
        pending += data
        whole = 0
        while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
            size = 5 + int.from_bytes(pending[3:5], "big")
            incoming.write(pending[:size])
            pending = pending[size:]
            whole += 1
        return whole

    with raw:
        support.bio_handshake(raw, obj, outgoing, pump)
        counts = []
        for path in requests:
            obj.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            raw.sendall(outgoing.read())
            body, records = b"", 0
            while not body.endswith(b"hello " + path.encode()):
                records += pump()
                while True:
                    try:
                        body += obj.read(65536)
                    except ssl.SSLWantReadError:
                        break
            counts.append(records)
        return counts


@pytest.mark.parametrize("cls", ["threading", "cooperative"])
def test_https_sends_header_block_and_body_as_one_tls_record(cls, ca, client_context):
    """http.server's handlers write the header block and the body apart;
    over TLS each response still leaves as one record (as the plaintext
    CoalescingSocket sends one segment), not one record per write."""
    from pyfast.http.server import ThreadingHTTPServer
    server_class = ThreadingHTTPServer if cls == "threading" else cooperative.CooperativeHTTPServer
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    ctx.num_tickets = 0     # no session ticket records after the handshake
    with running(server_class, support.hello_http_handler(), ctx) as server:
        assert _response_records(server.server_address, client_context, ["/a", "/b", "/c"]) == [1, 1, 1]


def test_xmlrpc_and_wsgiref_over_tls(server_context, client_context):
    import xmlrpc.client

    from pyfast.wsgiref.simple_server import WSGIServer, WSGIRequestHandler
    from pyfast.xmlrpc.server import SimpleXMLRPCServer

    server = SimpleXMLRPCServer((support.HOST, 0), logRequests=False)
    server.ssl_context = server_context
    server.register_function(lambda a, b: a + b, "add")
    r = support.Running(server, 0.05)
    try:
        proxy = xmlrpc.client.ServerProxy(
            f"https://localhost:{server.server_address[1]}/", context=client_context)
        assert proxy.add(2, 3) == 5
    finally:
        assert not r.stop()

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):
            pass

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi ", environ["wsgi.url_scheme"].encode()]

    server = WSGIServer((support.HOST, 0), Quiet)
    server.set_app(app)
    server.ssl_context = server_context
    r = support.Running(server, 0.05)
    try:
        import urllib.request
        with urllib.request.urlopen(f"https://localhost:{server.server_address[1]}/",
                                    context=client_context, timeout=10) as resp:
            assert resp.read().startswith(b"wsgi ")
    finally:
        assert not r.stop()


def test_python_m_pyfast_http_certfile_keyfile(ca, client_context, tmp_path):
    import urllib.request
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    (tmp_path / "f.txt").write_bytes(b"static over tls")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyfast.http", "0", "--bind", "127.0.0.1",
         "--directory", str(tmp_path), "--certfile", str(certfile), "--keyfile", str(keyfile)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert "HTTPS" in line and "https://" in line, line
        port = int(line.split(" port ")[1].split()[0])
        with urllib.request.urlopen(f"https://localhost:{port}/f.txt",
                                    context=client_context, timeout=10) as resp:
            assert resp.read() == b"static over tls"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("model", THREAD_MODELS)
def test_first_reply_on_a_new_connection_does_not_wait_for_delayed_ack(
        model, server_context, client_context):
    """TLS 1.3 session tickets leave after the handshake in a segment of
    their own; the first reply must not then wait for the client's
    delayed ACK (Nagle's algorithm): 30 new connections, one request each."""
    with running(MODELS[model], EchoHandler, server_context) as server:
        t0 = time.monotonic()
        for i in range(30):
            with tls_connect(server.server_address, client_context) as c:
                c.sendall(b"ping")
                assert support.recv_exact(c, 4) == b"ping"
        elapsed = time.monotonic() - t0
    # 30 stalls of ~40 ms would take 1.2 s.
    assert elapsed < 1.0, elapsed


class AddressHandler(pyfast.StreamRequestHandler):
    """Answers one line with the client address and the request's class."""

    def handle(self):
        self.rfile.readline()
        self.wfile.write(f"{self.client_address[0]}:{self.client_address[1]}|"
                         f"{type(self.request).__name__}\n".encode())


@pytest.mark.parametrize("model", MODELS)
def test_proxy_header_then_tls_on_one_connection(model, server_context, client_context):
    """HAProxy in TCP mode in front of a TLS server: the PROXY header comes
    first, in plaintext, then the ClientHello.  The setup stage reads the
    header (client_address becomes the real client's), then handshakes."""
    with running(MODELS[model], AddressHandler, server_context, proxy_protocol=True) as server:
        raw = socket.create_connection(server.server_address, timeout=support.IO_TIMEOUT)
        raw.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40123 443\r\n")
        with client_context.wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(b"hi\n")
            reply = c.makefile("rb").readline()
    address, kind = reply.decode().strip().split("|")
    assert address == "192.0.2.7:40123"
    assert kind in ("SSLSocket", "TLSSocket")
