"""systemd socket activation (pyfast.activation), with Debian's real
systemd-socket-activate started by the test, and handing a bound socket in.

systemd-socket-activate listens, waits for the first client, then executes
the server in its own process with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
(sd_listen_fds semantics): so the pid the test started is the server's.
"""

import os
import shutil
import signal
import socket
import sys
import time

import pytest

import support
from test_prefork import TESTS, ask, launch, pids_answering  # noqa: F401 - fixture

ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def activated(launch, *argv):
    """systemd-socket-activate ARGV..., as a Launched process."""
    return launch(*argv, program=ACTIVATE)


def first_reply(port, request=b"hi", timeout=15):
    """ask() until the activated server answers (the first connection
    starts it); (pid, reply)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ask(port, request)
        except (ConnectionRefusedError, ConnectionResetError, EOFError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_launcher_serves_the_socket_systemd_passes_with_workers(launch):
    port = free_port()
    server = activated(launch, "-l", f"127.0.0.1:{port}", "--fdname=web",
                    sys.executable, "-m", "pyfast", "serve", "prefork_app:Pid",
                    "--bind", "127.0.0.1:1", "--workers", "2", "-v")
    pid, env = first_reply(port, b"env")
    # Served by a worker of the process systemd-socket-activate became, on
    # the passed socket (not --bind's address); the variables were unset
    # (sd_listen_fds(unset_environment=1)) before the workers forked.
    workers = server.wait_workers(2)
    assert pid in workers
    assert env == b"LISTEN_FDS=None LISTEN_PID=None LISTEN_FDNAMES=None"
    assert f"on 127.0.0.1:{port} " in server.output()
    assert pids_answering(port, 2) == workers
    # A reload keeps serving the inherited socket.
    server.signal(signal.SIGHUP)
    assert support.wait_until(lambda: not (server.workers() & workers)
                              and len(server.workers()) == 2, timeout=10), server.output()
    assert ask(port)[1] == b"hi"
    server.signal(signal.SIGTERM)
    assert server.wait(10) == 0, server.output()


@pytest.mark.parametrize("name, which", [("b", 1), ("a", 0)])
def test_activation_name_picks_the_named_socket(launch, name, which):
    ports = [free_port(), free_port()]
    server = activated(launch, "-l", f"127.0.0.1:{ports[0]}", "-l", f"127.0.0.1:{ports[1]}",
                    "--fdname=a:b", sys.executable, str(TESTS / "prefork_app.py"),
                    f"named={name}", "2")
    # The first connection (on either socket) starts the server.
    assert first_reply(ports[which])[1] == b"hi"
    assert server.port == ports[which], server.output()


def test_udp_server_takes_a_passed_datagram_socket(launch):
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        server = activated(launch, "--datagram", "-l", f"127.0.0.1:{port}",
                        sys.executable, str(TESTS / "prefork_app.py"), "udp", "2")
        # The first datagram starts the server, which then reads it (sent
        # again until then: one sent before the socket exists is lost).
        deadline = time.monotonic() + 15
        while True:
            sock.sendto(b"first", ("127.0.0.1", port))
            try:
                data, _ = sock.recvfrom(100)
                break
            except (TimeoutError, ConnectionRefusedError):
                assert time.monotonic() < deadline, server.output()
        assert data.endswith(b" first")
        assert server.port == port, server.output()
        assert int(data.split()[0]) in server.wait_workers(2)


# ------------------------------------------------------- sd_listen_fds rules

@pytest.fixture
def fresh(monkeypatch):
    from pyfast import activation
    monkeypatch.setattr(activation, "_inherited", {})
    return activation


def test_sockets_meant_for_another_pid_are_ignored_and_unset(fresh, monkeypatch):
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_FDNAMES", "web")
    assert fresh.listen_fds() == []
    assert not {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} & set(os.environ)


def test_no_variables_no_sockets_and_a_server_binds(fresh, pyfast_impl):
    assert fresh.listen_fds() == []
    with pyfast_impl.TCPServer(("127.0.0.1", 0), pyfast_impl.BaseRequestHandler) as server:
        assert server.server_address[1] != 0


# ------------------------------------------------ handing a bound socket in

def test_a_bound_socket_handed_in_with_bind_and_activate_false(impl, serve, client):
    """The documented way (docs/workers.md), socketserver's own: works with
    the stdlib and pyfast alike."""
    listening = socket.create_server(("127.0.0.1", 0))
    fd = listening.detach()

    class Echo(impl.BaseRequestHandler):
        def handle(self):
            self.request.sendall(self.request.recv(100))

    server = impl.ThreadingTCPServer(None, Echo, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)
    server.server_address = server.socket.getsockname()
    serve(server)
    sock = client(server.server_address)
    sock.sendall(b"handed in")
    assert support.recv_exact(sock, 9) == b"handed in"
