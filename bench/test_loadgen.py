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

    def start(udp=False):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if not udp:
            sock.listen(128)
        r, w = os.pipe()
        serve = _bench.serve_echo_udp if udp else _bench.serve_echo_tcp
        t = threading.Thread(target=serve, args=(sock, r))
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
