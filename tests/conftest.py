"""Fixtures: the two implementations, servers in background threads, clients.

`impl` is the stdlib `socketserver` module or `pyfast`. When pyfast (or one of
its classes) is missing, the pyfast-parametrised tests FAIL in their call
phase with the AttributeError/ImportError; nothing is ever skipped for a
missing feature.
"""

import signal
import socket

import pytest

import support

# A suite started in the background by a non-interactive shell (`cmd &`, or
# under nohup) inherits SIGINT (and SIGQUIT) ignored, and so would every
# server a test starts and then interrupts with SIGINT: an ignored signal
# stays ignored across exec, and Python then installs no KeyboardInterrupt
# handler.  Handle it here as an interactive start does, so that the
# servers started from the suite get SIGINT's default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

IMPLS = [
    pytest.param("socketserver", id="stdlib"),
    pytest.param("pyfast", id="pyfast"),
]


@pytest.fixture(params=IMPLS)
def impl(request):
    """The socketserver implementation under test (stdlib or pyfast)."""
    return support.import_impl(request.param)


@pytest.fixture(params=[pytest.param("pyfast", id="pyfast")])
def pyfast_impl(request):
    """pyfast only, for behaviours the stdlib does not promise."""
    return support.import_impl(request.param)


@pytest.fixture
def serve(request):
    """serve(server, poll_interval=0.1) -> support.Running (0.1 keeps the
    stdlib's polled shutdown quick in teardown).

    Starts server.serve_forever() in a background thread. Teardown closes the
    clients made with the `client` fixture first (so handlers blocked in
    recv see EOF), then shutdown() + server_close(), each bounded; a server
    that does not stop fails the test's teardown.
    """
    running = []

    def start(server, poll_interval=0.1):
        r = support.Running(server, poll_interval)
        running.append(r)
        return r

    yield start
    _close_clients(request)
    problems = []
    for r in running:
        problems += r.stop()
    if problems:
        pytest.fail("server teardown: " + "; ".join(problems))


_CLIENTS_KEY = pytest.StashKey[list]()


def _close_clients(request):
    for sock in request.node.stash.get(_CLIENTS_KEY, []):
        try:
            sock.close()
        except OSError:
            pass
    request.node.stash[_CLIENTS_KEY] = []


@pytest.fixture
def client(request):
    """client(address, timeout=5) -> a connected socket with a timeout.

    Closed at teardown (before the servers stop).
    """
    request.node.stash.setdefault(_CLIENTS_KEY, [])

    def make(address, timeout=support.IO_TIMEOUT, family=socket.AF_INET):
        sock = support.connect(address, timeout, family)
        request.node.stash[_CLIENTS_KEY].append(sock)
        return sock

    yield make
    _close_clients(request)
