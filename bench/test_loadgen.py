"""The C load generator and reference servers behave (no timing asserted)."""
import os
import socket
import threading

import pytest

from pyfast import _bench


@pytest.fixture
def c_server():
    """Start the C reference server of a transport in a thread; yields its address."""
    started = []

    def start(udp=False, mode="echo"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if not udp:
            sock.listen(128)
        r, w = os.pipe()
        if udp:
            t = threading.Thread(target=_bench.serve_echo_udp, args=(sock, r))
        else:
            t = threading.Thread(target=_bench.serve_echo_tcp, args=(sock, r, mode))
        t.start()
        started.append((sock, r, w, t))
        return sock.getsockname()

    yield start
    for sock, r, w, t in started:
        os.write(w, b"x")
        t.join(5)
        sock.close()
        os.close(r)
        os.close(w)


@pytest.mark.parametrize(("mode", "kw"), [
    ("echo", dict(conns=4, size=1024)),
    ("echo", dict(conns=4, size=1000, depth=4)),
    ("line", dict(conns=4, size=64)),
    ("connect", dict(conns=2, size=64)),
    ("udp", dict(conns=4, size=64)),
    ("echo", dict(conns=200, active=5, size=64)),
])
def test_loadgen_completes_requests_without_errors(c_server, mode, kw):
    addr = c_server(udp=mode == "udp")
    res = _bench.run_loadgen(addr, mode, warmup=0.05, duration=0.3, **kw)
    assert res["requests"] > 0
    assert res["errors"] == 0
    assert res["min_us"] <= res["p50_us"] <= res["p99_us"] <= res["max_us"]
    assert sum(n for _, n in res["hist"]) == res["requests"]


def test_loadgen_stalled_conns_fill_the_pipe_and_count_in_nothing(c_server):
    addr = c_server()
    base = _bench.run_loadgen(addr, "line", conns=4, size=64, warmup=0.05, duration=0.3)
    res = _bench.run_loadgen(addr, "line", conns=4, size=64, stalled=3, warmup=0.05, duration=0.3)
    assert res["requests"] > 0 and res["errors"] == 0
    assert sum(n for _, n in res["hist"]) == res["requests"]
    # The stalled conns' bytes are in no figure: sent and received bytes are
    # the measured conns' requests and replies (64 B each), as without them.
    # (up to one request per conn is in flight at either end of the window)
    assert abs(res["bytes_sent"] - res["bytes_recv"]) <= 4 * 64
    assert abs(res["bytes_recv"] - res["requests"] * 64) <= 4 * 64
    assert abs(base["bytes_sent"] - base["bytes_recv"]) <= 4 * 64
    assert res["connects"] == 4 + 3


@pytest.mark.parametrize("mode", ["connect", "udp"])
def test_loadgen_refuses_stalled_conns_where_they_mean_nothing(mode):
    with pytest.raises(ValueError, match="stalled"):
        _bench.run_loadgen(("127.0.0.1", 9), mode, conns=1, stalled=1, warmup=0, duration=0.1)


def test_loadgen_counts_errors_on_a_dead_port_and_stops():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    addr = sock.getsockname()
    sock.close()
    res = _bench.run_loadgen(addr, "echo", conns=5, warmup=0.05, duration=0.3)
    assert res["requests"] == 0
    assert res["errors"] > 0
    assert res["gen_cpu"] < 0.5   # backs off, does not spin


def test_loadgen_reconnects_after_server_closes():
    """A server that closes every connection after one reply: errors, no crash."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.sendall(conn.recv(64))
                except OSError:
                    pass

    t = threading.Thread(target=serve)
    t.start()
    try:
        res = _bench.run_loadgen(srv.getsockname(), "line", conns=2, size=64, warmup=0.0, duration=0.5,
                                 backoff=0.01)
    finally:
        stop.set()
        t.join()
        srv.close()
    assert res["requests"] > 0
    assert res["errors"] > 0
    assert res["connects"] > 2


def test_http_mode_parses_content_length(tmp_path):
    import http.server

    class Hello(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"hello" * 100
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello) as srv:
        t = threading.Thread(target=srv.serve_forever)
        t.start()
        try:
            ok = _bench.run_loadgen(srv.server_address, "http", conns=2, warmup=0.05, duration=0.3)
            bad = _bench.run_loadgen(srv.server_address, "http", conns=2, warmup=0.05, duration=0.3,
                                     http_path="/missing")
        finally:
            srv.shutdown()
            t.join()
    assert ok["requests"] > 0 and ok["errors"] == 0
    assert bad["requests"] == 0 and bad["errors"] > 0


@pytest.mark.parametrize(("server_mode", "closer"), [("echo", "client"), ("once", "server")])
def test_connect_mode_closes_as_told(c_server, server_mode, closer):
    """Client closes first against a server that echoes until EOF; server
    closes first against one that closes after its reply: no errors."""
    addr = c_server(mode=server_mode)
    res = _bench.run_loadgen(addr, "connect", conns=2, size=64, closer=closer, warmup=0.05, duration=0.3)
    assert res["requests"] > 0 and res["errors"] == 0
    assert res["connects"] >= res["requests"]


def test_connect_mode_counts_a_server_that_never_closes_as_errors(c_server):
    """closer="server" waits for the server's EOF; a server that waits for
    the client instead costs an error per connection after the timeout."""
    addr = c_server(mode="echo")
    res = _bench.run_loadgen(addr, "connect", conns=2, size=64, closer="server", connect_timeout=0.1,
                             warmup=0.0, duration=0.5)
    assert res["requests"] == 0
    assert res["errors"] + res["warmup_errors"] >= 2
    assert res["gen_cpu"] < 0.5


def test_connect_mode_sends_the_prefix_first_on_every_connection(bench_server):
    """prefix (the proxy scenario's PROXY header): a server that requires
    the header serves every connection with it and refuses every one
    without it."""
    from pyfast.bench.scenarios import PROXY_V2_HEADER
    addr = ("127.0.0.1", bench_server("pyfast-proxy", "proxy"))
    res = _bench.run_loadgen(addr, "connect", conns=2, size=64, prefix=PROXY_V2_HEADER,
                             warmup=0.05, duration=0.3)
    assert res["requests"] > 0 and res["errors"] == 0
    assert res["bytes_sent"] % 64 == 0                   # the prefix is not counted
    res = _bench.run_loadgen(addr, "connect", conns=2, size=64, warmup=0.05, duration=0.3)
    assert res["requests"] == 0 and res["errors"] > 0


def test_loadgen_rejects_an_unknown_closer():
    with pytest.raises(ValueError, match="closer"):
        _bench.run_loadgen(("127.0.0.1", 9), "connect", conns=1, closer="both", warmup=0, duration=0.1)


def _recv_all(sock):
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
    return buf


def test_reference_line_mode_echoes_whole_lines_only(c_server):
    addr = c_server(mode="line")
    with socket.create_connection(addr, timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"ab")
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(5)
        sock.sendall(b"c\nde")
        assert sock.recv(100) == b"abc\n"
        sock.sendall(b"f\ng\n" + b"tail")   # then data and FIN together
        sock.shutdown(socket.SHUT_WR)
        assert _recv_all(sock) == b"def\ng\n"


def test_reference_line_mode_closes_a_connection_whose_line_never_ends(c_server):
    addr = c_server(mode="line")
    with socket.create_connection(addr, timeout=5) as sock:
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(64):   # 2 MiB without a newline
                sock.sendall(b"x" * 32768)
            sock.recv(1)
    with socket.create_connection(addr, timeout=5) as sock:   # the server still serves others
        sock.sendall(b"ok\n")
        assert sock.recv(100) == b"ok\n"


def test_reference_once_mode_replies_then_closes_first(c_server):
    addr = c_server(mode="once")
    with socket.create_connection(addr, timeout=5) as sock:
        sock.sendall(b"hello")
        assert _recv_all(sock) == b"hello"   # the reply, then EOF while the client is still open


def test_reference_server_rejects_an_unknown_mode():
    with socket.create_server(("127.0.0.1", 0)) as sock, pytest.raises(ValueError, match="mode"):
        _bench.serve_echo_tcp(sock, -1, "twice")


@pytest.mark.parametrize("mode", ["echo", "line"])
def test_reference_server_holds_an_unread_echo_and_writes_it_all(c_server, mode):
    # The client sends 8 MiB before reading: the server's echo fills the
    # socket, it keeps the rest pending (reading nothing meanwhile) and
    # writes it on EPOLLOUT; every byte comes back, in order.
    addr = c_server(mode=mode)
    line = (b"x" * 1023 + b"\n") if mode == "line" else bytes(range(256)) * 4
    data = line * 8192
    with socket.create_connection(addr, timeout=10) as sock:
        sender = threading.Thread(target=sock.sendall, args=(data,))
        sender.start()
        got = bytearray()
        while len(got) < len(data):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        sender.join(10)
        assert bytes(got) == data
