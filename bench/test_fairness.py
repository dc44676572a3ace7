"""Every server of a scenario does the same work in the same order.

For each (scenario, server) the benchmark runs, one client talks to the
benchmark's own server process as the load generator would, and checks what
the server sends back and which side closes first. A row that reads or
frames differently, or closes when the others wait for the client (or the
reverse), fails here instead of skewing a ratio.
"""
import socket
import time

import pytest
import support

from pyfast.bench.scenarios import SCENARIOS


def _cases(kinds):
    """One case per (kind, close order, server): scenarios sharing them
    start the same server process."""
    seen, out = set(), []
    for sc in SCENARIOS.values():
        if sc.kind not in kinds:
            continue
        for impl in sc.servers:
            key = (sc.kind, sc.closes or "client", impl)
            if key not in seen:
                seen.add(key)
                out.append(pytest.param(sc.name, impl, id=f"{sc.name}-{impl}"))
    return out


def _request(size):
    return bytes(ord("a") + i % 26 for i in range(size))


def _no_reply_within(sock, seconds):
    """True if nothing (no data, no EOF) arrives within `seconds`."""
    sock.settimeout(seconds)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(support.IO_TIMEOUT)
    return False


@pytest.mark.parametrize(("scenario", "impl"), _cases({"echo", "once", "c10k", "proxy"}))
def test_echo_servers_reply_alike_and_close_as_their_scenario_says(bench_server, scenario, impl):
    sc = SCENARIOS[scenario]
    port = bench_server(impl, scenario)
    request = _request(sc.size)
    with support.connect((support.HOST, port)) as sock:
        prefix = sc.loadgen_kwargs(impl).get("prefix")   # the proxy scenario's header
        if prefix:
            sock.sendall(prefix)
        sock.sendall(request)
        assert support.recv_exact(sock, len(request)) == request
        if sc.closes == "server":
            assert support.recv_all(sock) == b"", "the server must close first, after the reply"
        else:
            assert _no_reply_within(sock, 0.3), "the server must wait for the client to close"
            sock.sendall(request)    # and keep echoing until then
            assert support.recv_exact(sock, len(request)) == request
            sock.shutdown(socket.SHUT_WR)
            assert support.recv_all(sock) == b"", "the server must close once the client has"


@pytest.mark.parametrize(("scenario", "impl"), _cases({"line", "message"}))
def test_line_servers_echo_whole_lines_only(bench_server, scenario, impl):
    """A line split over two segments comes back whole, after its end; two
    lines in one segment come back both; data and FIN in one segment still
    get their echo before the server closes."""
    port = bench_server(impl, scenario)
    with support.connect((support.HOST, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"first half, ")
        assert _no_reply_within(sock, 0.2), "a partial line must wait for its end"
        sock.sendall(b"second half\n")
        assert support.recv_until(sock) == b"first half, second half\n"
        sock.sendall(b"one\ntwo\n")
        assert support.recv_exact(sock, 8) == b"one\ntwo\n"
        sock.sendall(b"last\n")
        sock.shutdown(socket.SHUT_WR)
        assert support.recv_all(sock) == b"last\n"


@pytest.mark.parametrize(("scenario", "impl"), _cases({"udp"}))
def test_udp_servers_send_the_datagram_back(bench_server, scenario, impl):
    port = bench_server(impl, scenario)
    request = _request(SCENARIOS[scenario].size)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(support.IO_TIMEOUT)
        sock.sendto(request, (support.HOST, port))
        assert sock.recvfrom(65536) == (request, (support.HOST, port))


def _http_exchange(port, connect=lambda port: support.connect((support.HOST, port))):
    """(status line, header names, body) of GET /, and whether the
    connection then stays open for a second request; connect(port) makes
    the client socket (e.g. a TLS one)."""
    with connect(port) as sock:
        replies = []
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += support.recv_exact(sock, 1)
            lines = head.decode("latin-1").split("\r\n")[:-2]
            headers = dict(line.split(": ", 1) for line in lines[1:])
            body = support.recv_exact(sock, int(headers["Content-Length"]))
            replies.append((lines[0], sorted(h.lower() for h in headers), body))
        assert replies[0] == replies[1]
        return replies[0]


@pytest.mark.parametrize(("scenario", "impl"), _cases({"http"}))
def test_http_servers_send_the_stdlib_reply(bench_server, scenario, impl):
    reference = _http_exchange(bench_server("stdlib", scenario))
    assert _http_exchange(bench_server(impl, scenario)) == reference


def test_every_row_says_what_its_server_does():
    missing = [f"{sc.name}/{impl}" for sc in SCENARIOS.values() for impl in sc.servers if not sc.work(impl)]
    assert not missing, "describe these in scenarios.WORK"


def test_connect_scenarios_state_who_closes_first():
    connects = [sc for sc in SCENARIOS.values() if sc.mode == "connect"]
    assert {sc.closes for sc in connects} == {"server", "client"}
    for sc in connects:
        assert f"{sc.closes} closes first" in sc.description
