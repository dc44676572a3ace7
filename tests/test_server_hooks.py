"""Server-side API, stdlib and pyfast: class-attribute defaults, constructor
(bind/activate, EADDRINUSE, allow_reuse_address, address_family), the request
pipeline hooks and their order, verify_request, handle_error, handle_request +
handle_timeout, service_actions, fileno, context manager."""

import errno
import queue
import socket
import sys
import threading
import time

import pytest

import support
from support import HOST, fd_count, is_closed_by_peer, recv_all, wait_until

pytestmark = pytest.mark.timeout(20)


class Echo:
    """Mixin body for a one-shot echo handler: recv once, sendall it back."""

    def handle(self):
        data = self.request.recv(1024)
        self.request.sendall(data)


def echo_handler(impl):
    return type("EchoHandler", (Echo, impl.BaseRequestHandler), {})


def roundtrip(client, address, msg=b"ping"):
    c = client(address)
    c.sendall(msg)
    return recv_all(c)


# --------------------------------------------------------- class attributes

def test_class_attribute_defaults_match_socketserver(impl):
    assert impl.TCPServer.address_family == socket.AF_INET
    assert impl.TCPServer.socket_type == socket.SOCK_STREAM
    assert impl.TCPServer.request_queue_size == 5
    assert not impl.TCPServer.allow_reuse_address
    # allow_reuse_port is in socketserver since Python 3.11; pyfast has it
    # on every version (off by default).
    if support.is_pyfast(impl) or sys.version_info >= (3, 11):
        assert not impl.TCPServer.allow_reuse_port
    assert impl.TCPServer.timeout is None
    assert impl.UDPServer.socket_type == socket.SOCK_DGRAM
    assert impl.UDPServer.max_packet_size == 8192
    assert impl.UnixStreamServer.address_family == socket.AF_UNIX
    assert impl.UnixDatagramServer.address_family == socket.AF_UNIX
    assert impl.ThreadingMixIn.daemon_threads is False
    assert impl.ThreadingMixIn.block_on_close is True
    assert impl.StreamRequestHandler.rbufsize == -1
    assert impl.StreamRequestHandler.wbufsize == 0
    assert impl.StreamRequestHandler.timeout is None
    assert impl.StreamRequestHandler.disable_nagle_algorithm is False


def test_class_hierarchy_matches_socketserver(impl):
    assert issubclass(impl.TCPServer, impl.BaseServer)
    assert issubclass(impl.UDPServer, impl.TCPServer)
    assert issubclass(impl.UnixStreamServer, impl.TCPServer)
    assert issubclass(impl.UnixDatagramServer, impl.UDPServer)
    assert issubclass(impl.ThreadingTCPServer, impl.ThreadingMixIn)
    assert issubclass(impl.ThreadingTCPServer, impl.TCPServer)
    assert issubclass(impl.ThreadingUDPServer, impl.ThreadingMixIn)
    assert issubclass(impl.ThreadingUDPServer, impl.UDPServer)
    assert issubclass(impl.ForkingTCPServer, impl.ForkingMixIn)
    assert issubclass(impl.ForkingTCPServer, impl.TCPServer)
    assert issubclass(impl.StreamRequestHandler, impl.BaseRequestHandler)
    assert issubclass(impl.DatagramRequestHandler, impl.BaseRequestHandler)


# -------------------------------------------------------------- constructor

def test_constructor_binds_and_activates(impl, client):
    calls = []

    class S(impl.TCPServer):
        def server_bind(self):
            calls.append("server_bind")
            super().server_bind()

        def server_activate(self):
            calls.append("server_activate")
            super().server_activate()

    with S((HOST, 0), echo_handler(impl)) as server:
        assert calls == ["server_bind", "server_activate"]
        host, port = server.server_address
        assert host == HOST and port != 0
        assert server.socket.getsockname() == (host, port)
        assert server.fileno() == server.socket.fileno()
        client((host, port))                  # listening: connect succeeds


def test_bind_and_activate_false_defers_binding(impl, serve, client):
    calls = []

    class S(impl.TCPServer):
        def server_bind(self):
            calls.append("server_bind")
            super().server_bind()

        def server_activate(self):
            calls.append("server_activate")
            super().server_activate()

    server = S((HOST, 0), echo_handler(impl), bind_and_activate=False)
    assert calls == []
    assert server.server_address == (HOST, 0)
    assert server.socket.getsockname()[1] == 0    # created, not bound
    server.allow_reuse_address = True             # configure before binding
    server.server_bind()
    server.server_activate()
    assert calls == ["server_bind", "server_activate"]
    assert server.server_address[1] != 0
    assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    r = serve(server)
    assert roundtrip(client, r.address) == b"ping"


def test_binding_a_port_in_use_raises_eaddrinuse(impl):
    holder = socket.socket()
    try:
        holder.bind((HOST, 0))
        holder.listen()
        before = fd_count()
        with pytest.raises(OSError) as info:
            impl.TCPServer(holder.getsockname(), echo_handler(impl))
        assert info.value.errno == errno.EADDRINUSE
        del info
        assert fd_count() == before           # the failed server closed its socket
    finally:
        holder.close()


@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "noreuse"])
def test_allow_reuse_address_rebinds_over_time_wait(impl, serve, client, reuse):
    class Bye(impl.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"bye")      # server closes first -> TIME_WAIT

    class S(impl.TCPServer):
        allow_reuse_address = reuse

    first = S((HOST, 0), Bye)
    assert bool(first.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)) is reuse
    address = first.server_address
    r = serve(first)
    c = client(address)
    assert recv_all(c) == b"bye"
    c.close()
    assert not r.stop()
    if reuse:
        S(address, Bye).server_close()
    else:
        with pytest.raises(OSError) as info:
            S(address, Bye)
        assert info.value.errno == errno.EADDRINUSE


def test_address_family_attribute_selects_ipv6(impl, serve, client):
    class V6(impl.TCPServer):
        address_family = socket.AF_INET6

    r = serve(V6(("::1", 0), echo_handler(impl)))
    assert r.server.socket.family == socket.AF_INET6
    c = client(r.address[:2], family=socket.AF_INET6)
    c.sendall(b"six")
    assert recv_all(c) == b"six"


def test_context_manager_closes_the_server_socket(impl):
    with impl.TCPServer((HOST, 0), echo_handler(impl)) as server:
        address = server.server_address
        assert server.socket.fileno() >= 0
    assert server.socket.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        support.connect(address).close()


def test_server_close_releases_the_port(impl):
    server = impl.TCPServer((HOST, 0), echo_handler(impl))
    address = server.server_address
    server.server_close()
    with pytest.raises(ConnectionRefusedError):
        support.connect(address).close()


# -------------------------------------------------------------------- hooks

def recording_server(impl, base, log, verify=True):
    """A server class logging every pipeline hook with the calling thread."""

    def rec(name, *extra):
        log.put((name, threading.current_thread()) + extra)

    class Handler(impl.BaseRequestHandler):
        def handle(self):
            rec("handle", self.request)
            self.request.sendall(b"handled")

    class S(base):
        def get_request(self):
            rec("get_request")
            return super().get_request()

        def verify_request(self, request, client_address):
            rec("verify_request", request, client_address)
            return verify

        def process_request(self, request, client_address):
            rec("process_request", request)
            super().process_request(request, client_address)

        def finish_request(self, request, client_address):
            rec("finish_request", request)
            super().finish_request(request, client_address)

        def shutdown_request(self, request):
            rec("shutdown_request", request)
            super().shutdown_request(request)

        def close_request(self, request):
            rec("close_request", request)
            super().close_request(request)

    return S((HOST, 0), Handler)


def drain(log, until, timeout=5.0):
    events = []
    while not events or events[-1][0] != until:
        events.append(log.get(timeout=timeout))
    return events


def test_hooks_run_in_socketserver_order_on_tcp_server(impl, serve, client):
    log = queue.Queue()
    r = serve(recording_server(impl, impl.TCPServer, log))
    c = client(r.address)
    assert recv_all(c) == b"handled"
    events = drain(log, "close_request")
    assert [e[0] for e in events] == [
        "get_request", "verify_request", "process_request", "finish_request",
        "handle", "shutdown_request", "close_request"]
    # The synchronous server handles the request in serve_forever's thread.
    assert {e[1] for e in events} == {r.thread}
    request = events[1][2]
    assert tuple(events[1][3]) == c.getsockname()      # verify_request's address
    assert all(e[2] is request for e in events[1:])  # one request object throughout


def test_hooks_run_in_socketserver_order_on_threading_server(impl, serve, client):
    log = queue.Queue()
    r = serve(recording_server(impl, impl.ThreadingTCPServer, log))
    c = client(r.address)
    assert recv_all(c) == b"handled"
    events = drain(log, "close_request")
    assert [e[0] for e in events] == [
        "get_request", "verify_request", "process_request", "finish_request",
        "handle", "shutdown_request", "close_request"]
    by_name = {e[0]: e[1] for e in events}
    # The handler runs off the serve_forever thread; the request is shut
    # down by the thread that handled it.
    assert by_name["handle"] is not r.thread
    assert by_name["finish_request"] is by_name["handle"] is by_name["shutdown_request"]


@pytest.mark.parametrize("server", ["TCPServer", "ThreadingTCPServer"])
def test_verify_request_false_closes_the_client_without_a_handler(impl, serve, client, server):
    log = queue.Queue()
    r = serve(recording_server(impl, getattr(impl, server), log, verify=False))
    c = client(r.address)
    assert is_closed_by_peer(c)
    events = drain(log, "close_request")
    assert [e[0] for e in events] == [
        "get_request", "verify_request", "shutdown_request", "close_request"]
    time.sleep(0.1)
    assert log.empty()                        # no handler ran


def test_get_request_override_supplies_request_and_address(impl, serve, client):
    seen = queue.Queue()

    class Handler(impl.BaseRequestHandler):
        def handle(self):
            seen.put(self.client_address)
            self.request.sendall(b"%d" % self.server.accepted)

    class S(impl.TCPServer):
        accepted = 0

        def get_request(self):
            request, address = super().get_request()
            self.accepted += 1
            return request, ("relabelled", address[1])

    r = serve(S((HOST, 0), Handler))
    for n in (1, 2):
        c = client(r.address)
        assert recv_all(c) == b"%d" % n
        assert seen.get(timeout=5) == ("relabelled", c.getsockname()[1])


def test_process_request_override_runs_before_the_handler(impl, serve, client):
    class Handler(impl.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"handler\n")

    class S(impl.ThreadingTCPServer):
        def process_request(self, request, client_address):
            request.sendall(b"banner\n")
            super().process_request(request, client_address)

    r = serve(S((HOST, 0), Handler))
    assert recv_all(client(r.address)) == b"banner\nhandler\n"


def test_finish_request_override_can_replace_the_handler(impl, serve, client):
    class Never(impl.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"default handler ran")

    class Other(impl.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"other handler for " + self.server.tag)

    class S(impl.TCPServer):
        tag = b"S"

        def finish_request(self, request, client_address):
            Other(request, client_address, self)

    r = serve(S((HOST, 0), Never))
    assert recv_all(client(r.address)) == b"other handler for S"


def test_shutdown_request_override_runs_after_the_handler(impl, serve, client):
    class Handler(impl.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"body;")

    class S(impl.TCPServer):
        def shutdown_request(self, request):
            request.sendall(b"trailer")
            super().shutdown_request(request)

    r = serve(S((HOST, 0), Handler))
    assert recv_all(client(r.address)) == b"body;trailer"


def test_close_request_override_controls_closing(impl, serve, client):
    kept = queue.Queue()

    class Handler(impl.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"first;")

    class S(impl.TCPServer):
        def shutdown_request(self, request):
            self.close_request(request)       # no SHUT_WR: only close_request

        def close_request(self, request):
            kept.put(request)                 # keep it open instead

    r = serve(S((HOST, 0), Handler))
    c = client(r.address)
    request = kept.get(timeout=5)
    request.sendall(b"still open")           # the server did not close it
    request.close()
    assert recv_all(c) == b"first;still open"


# ------------------------------------------------------------- handle_error

def test_handle_error_prints_socketserver_report_and_server_keeps_serving(impl, capfd, serve, client):
    class Flaky(impl.BaseRequestHandler):
        def handle(self):
            data = self.request.recv(1024)
            if data == b"fail":
                raise ValueError("handler failed on purpose")
            self.request.sendall(data)

    r = serve(impl.TCPServer((HOST, 0), Flaky))
    bad = client(r.address)
    bad.sendall(b"fail")
    assert is_closed_by_peer(bad)             # the request was shut down
    assert roundtrip(client, r.address, b"fine") == b"fine"
    err = capfd.readouterr().err
    assert "-" * 40 + "\n" + \
        f"Exception occurred during processing of request from {bad.getsockname()!r}\n" + \
        "Traceback (most recent call last):\n" in err
    assert "ValueError: handler failed on purpose\n" + "-" * 40 + "\n" in err


@pytest.mark.parametrize("server", ["TCPServer", "ThreadingTCPServer"])
def test_handle_error_override_gets_request_address_and_exc_info(impl, serve, client, server):
    errors = queue.Queue()

    class Failing(impl.BaseRequestHandler):
        def handle(self):
            errors.put(("request", self.request))
            raise KeyError("boom")

    class S(getattr(impl, server)):
        def handle_error(self, request, client_address):
            errors.put(("error", request, client_address, sys.exc_info()[1],
                        request.fileno() >= 0))

    r = serve(S((HOST, 0), Failing))
    c = client(r.address)
    assert is_closed_by_peer(c)
    _, request = errors.get(timeout=5)
    kind, err_request, address, exc, still_open = errors.get(timeout=5)
    assert err_request is request
    assert tuple(address) == c.getsockname()
    assert isinstance(exc, KeyError) and exc.args == ("boom",)
    assert still_open                         # handle_error runs before shutdown_request


def test_handler_exception_in_setup_is_reported_too(impl, capfd, serve, client):
    class BadSetup(impl.StreamRequestHandler):
        def setup(self):
            raise OSError("setup failed on purpose")

        def handle(self):
            raise AssertionError("handle must not run")

    r = serve(impl.TCPServer((HOST, 0), BadSetup))
    c = client(r.address)
    assert is_closed_by_peer(c)
    # handle_error runs before shutdown_request, so the report is out by now.
    err = capfd.readouterr().err
    assert "Exception occurred during processing of request from" in err
    assert "OSError: setup failed on purpose" in err
    assert "handle must not run" not in err
    assert roundtrip(client, r.address) == b""   # still accepting


# ----------------------------------------- handle_request / handle_timeout

def test_handle_request_serves_exactly_one_request(impl, client):
    served = []

    class H(impl.BaseRequestHandler):
        def handle(self):
            served.append(self.client_address)
            self.request.sendall(b"one")

    with impl.TCPServer((HOST, 0), H) as server:
        first = client(server.server_address)
        second = client(server.server_address)    # queued in the backlog
        server.handle_request()
        assert recv_all(first) == b"one"
        assert len(served) == 1
        second.settimeout(0.2)
        with pytest.raises(TimeoutError):
            second.recv(1)                    # not served yet
        server.handle_request()
        second.settimeout(5)
        assert recv_all(second) == b"one"
        assert len(served) == 2


def test_handle_request_calls_handle_timeout_after_timeout(impl):
    calls = []

    class S(impl.TCPServer):
        timeout = 0.3

        def handle_timeout(self):
            calls.append(time.monotonic())

    with S((HOST, 0), echo_handler(impl)) as server:
        started = time.monotonic()
        server.handle_request()
        elapsed = time.monotonic() - started
    assert len(calls) == 1
    assert 0.25 < elapsed < 3.0


def test_serve_forever_does_not_call_handle_timeout(impl, serve):
    calls = []

    class S(impl.TCPServer):
        timeout = 0.05

        def handle_timeout(self):
            calls.append(1)

    serve(S((HOST, 0), echo_handler(impl)), poll_interval=0.05)
    time.sleep(0.3)
    assert calls == []


# ---------------------------------------------------------- service_actions

def test_service_actions_called_by_idle_serve_forever(impl, serve):
    calls = queue.Queue()

    class S(impl.TCPServer):
        def service_actions(self):
            calls.put(threading.current_thread())

    r = serve(S((HOST, 0), echo_handler(impl)), poll_interval=0.05)
    threads = [calls.get(timeout=2) for _ in range(4)]   # ~every poll_interval
    assert set(threads) == {r.thread}


def test_service_actions_called_after_each_request(impl, client):
    calls = []

    class S(impl.TCPServer):
        def service_actions(self):
            calls.append(time.monotonic())

    server = S((HOST, 0), echo_handler(impl))
    r = support.Running(server, poll_interval=3.0)
    try:
        wait_until(lambda: r.thread.is_alive())
        time.sleep(0.1)
        before = len(calls)
        for _ in range(4):
            assert roundtrip(client, r.address) == b"ping"
        assert wait_until(lambda: len(calls) - before >= 4, timeout=1.0)
    finally:
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        time.sleep(0.05)
        try:                                  # wake a stdlib select(3.0)
            support.connect(r.address, timeout=1).close()
        except OSError:
            pass
        stopper.join(5)
        assert r.returned.wait(5)
        server.server_close()
