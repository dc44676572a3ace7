"""The TLS scenarios of python -m pyfast.bench (tls-echo-1k, tls-connect,
https): every TLS row serves TLS and does its plaintext twin's work, a
short run measures every row and reports the targets, and the C reference
TLS server (tlsref.c) survives bad clients. No speed is asserted."""
import json
import socket
import ssl
import subprocess
import sys

import pytest
import support

from test_fairness import _http_exchange

from pyfast.bench.scenarios import SCENARIOS
from pyfast.bench.servers import Unavailable, serve

TLS = [name for name, sc in SCENARIOS.items() if sc.tls]


def _client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # the bench's self-signed certificate
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _tls_connect(port):
    return _client_context().wrap_socket(support.connect((support.HOST, port)))


def test_the_tls_scenarios_are_in_the_suite_with_their_rows():
    assert set(TLS) == {"tls-echo-1k", "tls-connect", "https"}
    for name in ("tls-echo-1k", "tls-connect"):
        assert {"pyfast", "pyfast-coop", "stdlib", "uvloop", "c"} <= set(SCENARIOS[name].servers)
    assert {"pyfast", "pyfast-coop", "stdlib"} <= set(SCENARIOS["https"].servers)


def test_a_server_without_tls_is_unavailable_in_a_tls_scenario_not_served_in_plaintext():
    with pytest.raises(Unavailable):
        serve("gevent", "tls-echo-1k")


_ECHO_CASES = [(name, impl) for name in ("tls-echo-1k",) for impl in SCENARIOS[name].servers]


@pytest.mark.parametrize(("scenario", "impl"), _ECHO_CASES, ids=[f"{s}-{i}" for s, i in _ECHO_CASES])
def test_tls_echo_servers_speak_tls_13_echo_and_wait_for_the_client_to_close(bench_server, scenario, impl):
    port = bench_server(impl, scenario)
    request = bytes(ord("a") + i % 26 for i in range(SCENARIOS[scenario].size))
    with _tls_connect(port) as sock:
        assert sock.version() == "TLSv1.3"
        for _ in range(2):
            sock.sendall(request)
            assert support.recv_exact(sock, len(request)) == request
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)      # the server waits for the client to close


@pytest.mark.parametrize("impl", SCENARIOS["https"].servers)
def test_https_servers_send_the_stdlib_reply_over_tls(bench_server, impl):
    reference = _http_exchange(bench_server("stdlib", "https"), _tls_connect)
    assert _http_exchange(bench_server(impl, "https"), _tls_connect) == reference


def _closed_after_at_most_an_alert(sock):
    """True if the peer closes (EOF or reset) after sending at most a TLS
    alert record (7 bytes) within the socket timeout."""
    got = b""
    while len(got) <= 7:
        try:
            chunk = sock.recv(64)
        except ConnectionResetError:
            return True
        if not chunk:
            return True
        got += chunk
    return False


def test_the_c_reference_tls_server_closes_a_bad_client_and_serves_the_next(bench_server):
    port = bench_server("c", "tls-connect")
    with support.connect((support.HOST, port)) as sock:   # plaintext to the TLS port
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert _closed_after_at_most_an_alert(sock)
    with support.connect((support.HOST, port)) as sock:   # reset mid-handshake
        sock.sendall(b"\x16\x03\x01\x02\x00\x01")
        support.reset_close(sock)
    with _tls_connect(port) as sock:
        sock.sendall(b"x" * 64)
        assert support.recv_exact(sock, 64) == b"x" * 64


def test_a_short_tls_run_measures_every_row_and_reports_the_targets(tmp_path):
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyfast.bench", "--scenarios", ",".join(TLS), "--rounds", "1",
         "--warmup", "0.2", "--duration", "0.5", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    rows = {(r["scenario"], r["server"]) for r in data["runs"]}
    assert rows == {(name, impl) for name in TLS for impl in SCENARIOS[name].servers}
    for r in data["runs"]:
        assert r["ok"], (r["scenario"], r["server"], r["reason"])
        assert r["driver"] == "tlsgen" and r["requests"] > 0 and r["errors"] == 0, r
        assert r["server_cpu_s"] > 0 and sum(n for _, n in r["hist"]) == r["requests"]
    text = " ".join(proc.stdout.split())
    assert "tls-connect pyfast: CPU per connection" in text and "the C TLS server's" in text
    assert "tls-echo-1k pyfast-coop: req/s" in text and "uvloop's" in text
    assert "https pyfast: req/s" in text


def test_the_pyfast_bench_tls_shortcut_runs_the_tls_scenarios(tmp_path):
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyfast.bench.tls", "--scenarios", "tls-connect", "--servers", "pyfast,c",
         "--rounds", "1", "--seconds", "0.5", "--warmup", "0.2", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [(r["scenario"], r["server"], r["ok"]) for r in runs] == [
        ("tls-connect", "pyfast", True), ("tls-connect", "c", True)]
