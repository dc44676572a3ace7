"""Seed 004's web server (ourwebserver.py: BaseHTTPRequestHandler +
HTTPServer) on the stdlib's http.server and on pyfast.http.server.

pyfast.http.server is still to come: until it exists, the pyfast params FAIL
with "pyfast.http.server is not importable" (never skip)."""

import http.client
import signal

import pytest

import support
from support import load_seed, recv_all

pytestmark = pytest.mark.timeout(30)


def http_server_module(impl):
    """http.server for this impl; fails clearly if pyfast.http.server is missing."""
    module = support.http_server_of(impl)
    module.HTTPServer, module.BaseHTTPRequestHandler   # AttributeError names it
    return module


def load_webserver(impl):
    http_server = http_server_module(impl)
    seed = load_seed("ourwebserver", impl, extra_modules={"http.server": http_server})
    # pyfast.http.server serves on pyfast's core, as http.server does on socketserver.
    assert issubclass(seed.HTTPServer, impl.TCPServer)
    return seed


def test_seed_web_server_serves_the_home_page(impl, serve):
    seed = load_webserver(impl)
    ws = seed.HTTPServer(("localhost", 0), seed.WebServer)        # as main()
    port = serve(ws).address[1]
    for _ in range(2):
        conn = http.client.HTTPConnection("localhost", port, timeout=support.IO_TIMEOUT)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.getheader("Content-type") == "text/html"
            assert resp.read() == seed.dynhtml.encode()
        finally:
            conn.close()


def test_seed_web_server_answers_unknown_paths_without_status_line(impl, serve, client):
    seed = load_webserver(impl)
    port = serve(seed.HTTPServer(("localhost", 0), seed.WebServer)).address[1]
    c = client(("localhost", port))
    c.sendall(b"GET /test HTTP/1.1\r\nHost: localhost\r\n\r\n")
    # The seed writes the bare message (no send_response); HTTP/1.0 server
    # default protocol: the connection then closes.
    assert recv_all(c) == b"/test not found"


def test_seed_web_server_main_stops_on_ctrl_c(impl):
    http_server_module(impl)
    proc = support.start_seed_process(impl.__name__, "ourwebserver")
    try:
        port = support.listening_port(proc)
        conn = http.client.HTTPConnection("localhost", port, timeout=support.IO_TIMEOUT)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr
    assert stdout.splitlines() == ["welcome to our web server",
                                   "press ctrl c to stop server",
                                   " ctrl c pressed, shutting down"], stdout
    assert '"GET / HTTP/1.1" 200 -' in stderr  # the request log, on stderr
