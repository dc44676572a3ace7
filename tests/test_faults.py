"""Faults, stdlib and pyfast: dropped and reset connections leak no file
descriptors, a reset or half-sent message ends only its own session, handler
exceptions never stop the server, a client that stops reading stalls only its
own handler."""

import queue
import socket
import threading
import time

import pytest

import support
from support import HOST, fd_count, recv_all, recv_until, reset_close, wait_until

pytestmark = pytest.mark.timeout(40)


def chat(sock, line):
    sock.sendall(line)
    return recv_until(sock)


def line_echo(impl, ended=None):
    class LineEcho(impl.StreamRequestHandler):
        def handle(self):
            try:
                for line in self.rfile:
                    self.wfile.write(line)
            except ConnectionError:
                pass

        def finish(self):
            try:
                super().finish()
            finally:
                if ended is not None:
                    ended.put(self.client_address)
    return LineEcho


@pytest.mark.parametrize("server", ["TCPServer", "ThreadingTCPServer"])
def test_dropped_and_reset_connections_leave_no_fds(impl, serve, server):
    class S(getattr(impl, server)):
        request_queue_size = 128              # no SYN drops while we hammer it

    ended = queue.Queue()
    r = serve(S((HOST, 0), line_echo(impl, ended)))
    warm = support.connect(r.address)
    assert chat(warm, b"warm-up\n") == b"warm-up\n"
    warm.close()
    ended.get(timeout=5)                      # the warm-up session is over
    time.sleep(0.05)
    before = fd_count()

    for i in range(1000):
        s = socket.socket()
        s.settimeout(support.IO_TIMEOUT)
        s.connect(r.address)
        kind = i % 4
        if kind == 0:
            s.close()                         # connect + FIN
        elif kind == 1:
            reset_close(s)                    # connect + RST
        elif kind == 2:
            s.sendall(b"half a li")           # mid-message, then RST
            reset_close(s)
        else:
            s.sendall(b"half a li")           # mid-message, then FIN
            s.close()

    # Every accepted connection gets a handler, reset or not (as the stdlib
    # does); wait until all 1000 have ended, then for the fds to settle.
    finished = 0
    deadline = time.monotonic() + 15
    while finished < 1000 and time.monotonic() < deadline:
        try:
            ended.get(timeout=max(0.01, deadline - time.monotonic()))
            finished += 1
        except queue.Empty:
            break
    assert finished == 1000, f"only {finished} of 1000 handlers ran to the end"
    assert wait_until(lambda: fd_count() <= before, timeout=5), \
        f"{fd_count() - before} file descriptors left behind"
    c = support.connect(r.address)
    try:
        assert chat(c, b"still serving\n") == b"still serving\n"
    finally:
        c.close()


def test_reset_mid_message_ends_only_that_session(impl, serve, client):
    ended = queue.Queue()
    r = serve(impl.ThreadingTCPServer((HOST, 0), line_echo(impl, ended)))
    a = client(r.address)
    assert chat(a, b"a1\n") == b"a1\n"
    b = client(r.address)
    assert chat(b, b"b1\n") == b"b1\n"
    b_address = b.getsockname()
    b.sendall(b"half a li")
    time.sleep(0.05)
    reset_close(b)
    assert tuple(ended.get(timeout=5)) == b_address   # b's handler ended ...
    assert chat(a, b"a2\n") == b"a2\n"                # ... a's goes on
    c = client(r.address)
    assert chat(c, b"c1\n") == b"c1\n"                # and new clients are served
    assert ended.empty()


def test_disconnect_mid_message_delivers_the_partial_line(impl, serve, client):
    lines = queue.Queue()

    class Collect(impl.StreamRequestHandler):
        def handle(self):
            lines.put([line for line in self.rfile])

    r = serve(impl.TCPServer((HOST, 0), Collect))
    c = client(r.address)
    c.sendall(b"whole\nhalf a li")
    c.close()
    assert lines.get(timeout=5) == [b"whole\n", b"half a li"]
    c = client(r.address)                     # next session is served
    c.sendall(b"next\n")
    c.shutdown(socket.SHUT_WR)
    assert lines.get(timeout=5) == [b"next\n"]


@pytest.mark.parametrize("server", ["TCPServer", "ThreadingTCPServer"])
def test_handler_exceptions_do_not_stop_the_server(impl, capfd, serve, client, server):
    class Sometimes(impl.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline()
            if line.startswith(b"fail"):
                raise RuntimeError("handler failed on purpose: " + line.decode())
            self.wfile.write(line)

    r = serve(getattr(impl, server)((HOST, 0), Sometimes))
    for i in range(20):
        c = client(r.address)
        if i % 2:
            c.sendall(b"fail %d\n" % i)
            assert recv_all(c) == b""         # closed after handle_error
        else:
            assert chat(c, b"ok %d\n" % i) == b"ok %d\n" % i
        c.close()
    err = capfd.readouterr().err
    assert err.count("Exception occurred during processing of request from") == 10
    assert err.count("RuntimeError: handler failed on purpose") == 10


def test_client_that_stops_reading_stalls_only_its_own_handler(impl, serve, client):
    outcome = queue.Queue()

    class Firehose(impl.StreamRequestHandler):
        def handle(self):
            cmd = self.rfile.readline()
            if cmd == b"flood\n":
                chunk = b"x" * 65536
                try:
                    for _ in range(256):      # 16 MiB: far beyond socket buffers
                        self.wfile.write(chunk)
                except OSError as exc:        # the stalled client was reset
                    outcome.put(exc)
                    return
                outcome.put(None)
            else:
                self.wfile.write(cmd)

    r = serve(impl.ThreadingTCPServer((HOST, 0), Firehose))
    before = fd_count()
    slow = support.connect(r.address)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"flood\n")
    time.sleep(0.2)                           # the flood handler is now blocked
    for i in range(5):
        c = client(r.address)
        assert chat(c, b"other %d\n" % i) == b"other %d\n" % i
        c.close()
    assert outcome.empty()
    reset_close(slow)
    assert isinstance(outcome.get(timeout=5), OSError)
    assert wait_until(lambda: fd_count() <= before, timeout=5)
