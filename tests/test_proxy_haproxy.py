"""pyfast servers behind a real HAProxy (Debian's package, started here on
loopback): with ``send-proxy`` and ``send-proxy-v2`` in front of threaded,
cooperative, message and HTTP servers the handler's client_address is the
client's (which connects from 127.0.0.5, so it cannot be mistaken for
HAProxy's own 127.0.0.1); and two pyfast instances (127.0.0.2, 127.0.0.3)
balanced with health checks: one killed mid-run fails no request beyond
those it had in flight, the health check takes it out and puts it back.

HAProxy is a requirement of these tests, not an option: without it they
fail (the noxfile installs it on CI).  Every process started here
(HAProxy, server instances) is stopped by its pid at teardown.
"""
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import support
from test_proxy import (_cooperative, _handler_class, _message, _threaded,
                        http_server_logging)
from test_tls import ca, client_context, server_context  # noqa: F401

pytestmark = pytest.mark.timeout(90)

CLIENT_HOST = "127.0.0.5"      # the clients' source address


def haproxy_binary():
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)), None)
    if path is None:
        pytest.fail("haproxy is not installed: Debian's `apt-get install haproxy` "
                    "(the noxfile installs it when it runs as root)")
    return path


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class HAProxy:
    """haproxy -db (foreground) with a config of one frontend and one
    backend; `servers` lines go into the backend as they are."""

    def __init__(self, tmp_path, servers, mode="tcp", backend_options=""):
        self.port = free_port()
        self.admin = str(tmp_path / "haproxy-admin.sock")
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(textwrap.dedent(f"""\
            global
                maxconn 512
                stats socket {self.admin} mode 600 level admin
            defaults
                mode {mode}
                timeout connect 2s
                timeout client 20s
                timeout server 20s
                retries 3
                option redispatch 1
            frontend fe
                bind 127.0.0.1:{self.port}
                default_backend be
            backend be
                balance roundrobin
            """) + textwrap.indent(backend_options + "\n" + "\n".join(servers), "    ") + "\n")
        self.log = open(tmp_path / "haproxy.log", "w+")
        self.proc = subprocess.Popen([haproxy_binary(), "-f", str(cfg), "-db"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.command("show info")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    self.log.seek(0)
                    pytest.fail("haproxy did not start:\n" + self.log.read())
                time.sleep(0.05)

    def command(self, cmd):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.admin)
            s.sendall(cmd.encode() + b"\n")
            return support.recv_all(s).decode()

    def status(self, server):
        """The backend server's status ("UP", "DOWN", "UP 1/2"...)."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        for row in rows:
            if row["pxname"] == "be" and row["svname"] == server:
                return row["status"]
        raise LookupError(server)

    def connect(self):
        sock = socket.socket()
        sock.settimeout(support.IO_TIMEOUT)
        sock.bind((CLIENT_HOST, 0))
        sock.connect(("127.0.0.1", self.port))
        return sock

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def haproxy(tmp_path):
    started = []

    def start(*args, **kwargs):
        h = HAProxy(tmp_path, *args, **kwargs)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


SEND = [pytest.param("send-proxy", id="v1"), pytest.param("send-proxy-v2", id="v2")]


@pytest.mark.parametrize("send", SEND)
@pytest.mark.parametrize("kind", [pytest.param(_threaded, id="threaded"),
                                  pytest.param(_cooperative, id="cooperative"),
                                  pytest.param(_message, id="message")])
def test_behind_haproxy_client_address_is_the_clients(pyfast_impl, serve, haproxy, kind, send):
    seen = []
    server = kind(pyfast_impl)((support.HOST, 0), _handler_class(pyfast_impl, seen, kind))
    server.proxy_protocol = True
    server.proxy_trusted = ["127.0.0.1"]        # HAProxy's address only
    serve(server)
    h = haproxy([f"server s1 {support.HOST}:{server.server_address[1]} {send}"])
    for i in range(3):
        sock = h.connect()
        me = sock.getsockname()
        sock.sendall(b"line %d\n" % i)
        reply = support.recv_until(sock, b"\n")
        assert reply == repr(me).encode() + b"|line %d\n" % i
        sock.close()
    assert [addr[0] for addr, _ in seen] == [CLIENT_HOST] * 3


def test_message_server_with_tls_behind_haproxy_tcp_passthrough(pyfast_impl, serve, haproxy,
                                                               server_context,  # noqa: F811
                                                               client_context):  # noqa: F811
    """HAProxy in `mode tcp` with send-proxy-v2 passes TLS through: its
    header, then the client's ClientHello, reach the message loop, which
    reads the one and handshakes on the rest; client_address is the
    client's (its TLS session ends at the server, not at HAProxy)."""
    seen = []
    server = _message(pyfast_impl)((support.HOST, 0), _handler_class(pyfast_impl, seen, _message))
    server.proxy_protocol = True
    server.proxy_trusted = ["127.0.0.1"]
    server.ssl_context = server_context
    serve(server)
    h = haproxy([f"server s1 {support.HOST}:{server.server_address[1]} send-proxy-v2"])
    for i in range(3):
        with client_context.wrap_socket(h.connect(), server_hostname="localhost") as sock:
            assert sock.version() == "TLSv1.3"
            me = sock.getsockname()
            sock.sendall(b"line %d\n" % i)
            assert support.recv_until(sock, b"\n") == repr(me).encode() + b"|line %d\n" % i
    assert [addr[0] for addr, _ in seen] == [CLIENT_HOST] * 3
    assert server._message_loop.stats["handshakes"] == 3


@pytest.mark.parametrize("send", SEND)
@pytest.mark.parametrize("kind", ["threading", "cooperative"])
def test_behind_haproxy_http_log_lines_show_the_client(pyfast_impl, serve, haproxy, kind, send):
    logged = []
    server = http_server_logging(kind, logged)
    serve(server)
    h = haproxy([f"server s1 {support.HOST}:{server.server_address[1]} {send}"],
                mode="http", backend_options="http-reuse never\noption http-server-close")
    sock = h.connect()
    sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    reply = support.recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello /x")
    assert support.wait_until(lambda: logged)
    assert logged[0].startswith(CLIENT_HOST + " - - ") and '"GET /x HTTP/1.1" 200' in logged[0]


# ------------------------------------------------- two instances, balanced

INSTANCE = r"""
import sys
from pyfast.http.server import ThreadingHTTPServer
from http.server import BaseHTTPRequestHandler

class Who(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = ("%s %s %s" % (sys.argv[1], self.client_address[0],
                              self.client_address[1])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    proxy_protocol = True
    proxy_trusted = ["127.0.0.1"]

with Server((sys.argv[1], int(sys.argv[2])), Who) as s:
    print("ready", flush=True)
    s.serve_forever()
"""


class Instance:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", INSTANCE, self.host, str(self.port)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Clients:
    """n threads asking GET / through HAProxy, one connection a request,
    until stop(); counts replies per instance and failures, and checks
    that every reply names the client's own address and port."""

    def __init__(self, h, n):
        self.h = h
        self.lock = threading.Lock()
        self.by_instance = {}
        self.failures = []
        self.wrong = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                with self.h.connect() as sock:
                    me = sock.getsockname()
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    reply = support.recv_all(sock)
                status, _, body = reply.partition(b"\r\n\r\n")
                if not status.startswith(b"HTTP/1.0 200"):
                    raise OSError(f"reply {reply[:60]!r}")
                name, host, port = body.decode().split()
                with self.lock:
                    self.by_instance[name] = self.by_instance.get(name, 0) + 1
                    if (host, int(port)) != me:
                        self.wrong.append((me, body))
            except OSError as exc:
                with self.lock:
                    self.failures.append(repr(exc))

    def counts(self):
        with self.lock:
            return dict(self.by_instance), len(self.failures)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(10)


def test_two_instances_behind_haproxy_one_killed_and_restarted(haproxy):
    port = free_port("127.0.0.2")
    a, b = Instance("127.0.0.2", port), Instance("127.0.0.3", port)
    clients = None
    try:
        a.start()
        b.start()
        # httpchk: the check is a GET (after its LOCAL header), not a bare
        # connect that HAProxy ends with a reset.
        h = haproxy([f"server a 127.0.0.2:{port} send-proxy-v2 check inter 100 fall 2 rise 2",
                     f"server b 127.0.0.3:{port} send-proxy-v2 check inter 100 fall 2 rise 2"],
                    backend_options="option httpchk GET /")
        assert support.wait_until(lambda: h.status("a") == h.status("b") == "UP", 10)
        n = 4
        clients = Clients(h, n)
        assert support.wait_until(lambda: min(clients.counts()[0].values(), default=0) >= 20, 20)
        assert set(clients.counts()[0]) == {"127.0.0.2", "127.0.0.3"}
        b.kill()                                    # mid-run
        assert support.wait_until(lambda: h.status("b").startswith("DOWN"), 10)
        served, failed_at_kill = clients.counts()
        # Served by a alone meanwhile; none failed beyond b's in-flight ones.
        assert support.wait_until(lambda: clients.counts()[0]["127.0.0.2"]
                                  >= served["127.0.0.2"] + 50, 20)
        b.start()                                   # back: the check puts it back
        assert support.wait_until(lambda: h.status("b") == "UP", 10)
        served_b = clients.counts()[0]["127.0.0.3"]
        assert support.wait_until(lambda: clients.counts()[0]["127.0.0.3"] >= served_b + 20, 20)
        clients.stop()
        served, failed = clients.counts()
        assert failed <= n, clients.failures        # at most one in flight per client
        assert clients.wrong == []                  # every reply saw its client's address
    finally:
        if clients is not None:
            clients.stop()
        a.kill()
        b.kill()
