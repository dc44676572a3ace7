"""Message handlers under faults: backpressure checked between the messages
of a batch (issue 10, defect 3) and the per-message deadline that bounds a
slowloris client (issue 10, defect 2).  Loopback only, bounded in time and
size; no absolute speed."""
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time

import psutil
import pytest

import pyfast
from support import reset_close
from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)
from test_message import Echo, Server, recv_exactly, recv_until_eof, stats, wait_for

pytestmark = pytest.mark.timeout(60)

HIGH_WATER = 64 * 1024          # MessageHandler's default high_water


# ---- backpressure between the messages of a batch ----------------------------

RSS_SERVER = r"""
import json, sys
import pyfast

REPLY = int(sys.argv[1])

class Big(pyfast.MessageHandler):
    def handle_message(self, message):
        if message == b"stats":
            self.send_message(json.dumps(self.server._message_loop.stats).encode())
        else:
            self.send(b"r" * REPLY)

srv = pyfast.TCPServer(("127.0.0.1", 0), Big)
print(srv.server_address[1], flush=True)
srv.serve_forever(0.05)
"""


def _stats_of(ctl):
    ctl.sendall(b"stats\n")
    line = b""
    while not line.endswith(b"\n"):
        chunk = ctl.recv(4096)
        assert chunk, "server closed the control connection"
        line += chunk
    return json.loads(line)


def rss_growth(nclients, reply):
    """Bytes the RSS of a MessageHandler server (a subprocess, replying
    `reply` bytes to each request) grows by while nclients clients each
    pipeline 200 requests in one segment and never read, measured once
    every connection is paused by backpressure."""
    proc = subprocess.Popen([sys.executable, "-c", RSS_SERVER, str(reply)],
                            stdout=subprocess.PIPE, text=True)
    clients = []
    try:
        port = int(proc.stdout.readline())
        ps = psutil.Process(proc.pid)
        ctl = socket.create_connection(("127.0.0.1", port), timeout=10)
        clients.append(ctl)
        # Warm up: one whole exchange, so the reply path's allocations exist.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as warm:
            warm.sendall(b"q\n")
            assert len(recv_exactly(warm, reply)) == reply
        base_paused = _stats_of(ctl)["paused"]
        time.sleep(0.2)
        before = ps.memory_info().rss
        for _ in range(nclients):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            c.settimeout(10)
            c.connect(("127.0.0.1", port))
            c.sendall(b"q\n" * 200)    # one segment, one read: a full batch
            clients.append(c)
        assert wait_for(lambda: _stats_of(ctl)["paused"] - base_paused >= nclients, 20)
        time.sleep(0.3)
        return ps.memory_info().rss - before
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(10)


def test_never_reading_pipelining_clients_cost_high_water_plus_one_reply_of_rss():
    """Clients that pipeline small requests with large replies and never
    read: the server's RSS grows by about (high_water + one reply) per
    client, not by a whole batch (64) of replies."""
    reply, nclients = 256 * 1024, 8
    growth = rss_growth(nclients, reply)
    bound = 2 * (HIGH_WATER + reply) * nclients + 16 * 1024 * 1024
    assert growth <= bound, (f"RSS grew by {growth / 2**20:.1f} MiB for {nclients} "
                             f"never-reading clients, bound {bound / 2**20:.1f} MiB")


def _numbered(framing, n):
    body = b"%d" % n
    if framing == "len32":
        return struct.pack(">I", len(body)) + body
    return body + b"\n"


def _read_replies(sock, framing, reply):
    """Every numbered reply until EOF: [(n, payload length)]."""
    data = recv_until_eof(sock)
    out, pos = [], 0
    hdr = 4 if framing == "len32" else 0
    while pos < len(data):
        if hdr:
            size = struct.unpack(">I", data[pos:pos + 4])[0]
            payload, pos = data[pos + 4:pos + 4 + size], pos + 4 + size
        else:
            end = data.index(b"\n", pos)
            payload, pos = data[pos:end], end + 1
        n, _, pad = payload.partition(b":")
        out.append((int(n), len(payload)))
        assert pad == b"p" * (len(payload) - len(n) - 1)
    assert all(size == reply for _, size in out)
    return [n for n, _ in out]


@pytest.mark.parametrize("framing", ["line", "len32"])
@pytest.mark.parametrize("path", ["arena", "buffered", "thread", "fin"])
def test_backpressure_stops_a_batch_between_messages_and_loses_none(framing, path):
    """Pipelined requests with large replies, the client not reading: the
    loop stops handing out that connection's messages once its queued
    output passes high_water (at most one reply over it), and every
    message is later handled once, in order.  path: the batch framed from a
    fresh read (arena), from the connection's own buffer (a partial message
    was already buffered), replies sent from another thread, or the
    requests and the client's FIN in one segment."""
    reply, count = 48 * 1024, 300
    handled, handlers = [], []

    class Big(pyfast.MessageHandler):
        def setup(self):
            handlers.append(self)

        def handle_message(self, message):
            handled.append(int(message))
            body = message + b":" + b"p" * (reply - len(message) - 1)
            if path == "thread":   # the reply reaches the loop from another thread
                t = threading.Thread(target=self.send_message, args=(body,))
                t.start()
                t.join()
            else:
                self.send_message(body)

    Big.framing = framing
    with Server(Big) as srv:
        c = srv.connect(timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        stream = b"".join(_numbered(framing, i) for i in range(count))
        if path == "buffered":
            c.sendall(stream[:1])
            assert wait_for(lambda: stats(srv)["accepted"] == 1)
            time.sleep(0.1)
            c.sendall(stream[1:])
        elif path == "fin":
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            c.sendall(stream)
            c.shutdown(socket.SHUT_WR)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        else:
            c.sendall(stream)
        assert wait_for(lambda: stats(srv)["paused"] >= 1, 10)
        time.sleep(0.2)
        queued = handlers[0].queued
        assert queued <= HIGH_WATER + reply + 64, (
            f"{queued} bytes queued after {len(handled)} messages: more than "
            f"high_water + one reply")
        assert len(handled) < count
        if path != "fin":
            c.shutdown(socket.SHUT_WR)
        got = _read_replies(c, framing, reply)
        c.close()
    assert got == list(range(count))
    assert handled == list(range(count))


# ---- per-message deadline ---------------------------------------------------------

class Deadline(Echo):
    message_timeout = 1.0
    reasons = None

    def finish(self):
        if self.reasons is not None:
            self.reasons.append(self.close_reason)


def _trickle(sock, data, interval, stop=None):
    """Send data one byte at a time, interval seconds apart; the time the
    server closed the connection (or None if it never did)."""
    for b in data:
        if stop is not None and stop():
            return None
        try:
            sock.send(bytes([b]))
        except OSError:
            return time.monotonic()
        time.sleep(interval)
    return None


def test_message_timeout_closes_a_trickling_client_and_serves_the_others(caplog):
    reasons = []

    class Handler(Deadline):
        pass
    Handler.reasons = reasons

    caplog.set_level(logging.INFO, logger="pyfast.message")
    with Server(Handler) as srv:
        slow = srv.connect(timeout=10)
        normal = srv.connect()
        t0 = time.monotonic()
        closed_at = []
        done = threading.Event()

        def trickler():
            closed_at.append(_trickle(slow, b"x" * 50, 0.2, done.is_set))

        eof_at = []

        def reader():
            if recv_until_eof(slow) == b"":
                eof_at.append(time.monotonic())

        threads = [threading.Thread(target=trickler), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        served = 0
        while time.monotonic() - t0 < 3.0:
            normal.sendall(b"ping\n")
            assert recv_exactly(normal, 5) == b"ping\n"
            served += 1
            time.sleep(0.05)
        done.set()
        for t in threads:
            t.join()
        normal.sendall(b"last\n")
        assert recv_exactly(normal, 5) == b"last\n"
        assert stats(srv)["message_timeouts"] == 1
        normal.close()
        slow.close()
    assert served >= 20
    assert eof_at, "the trickling client was never closed"
    assert 0.9 <= eof_at[0] - t0 <= 2.5, eof_at[0] - t0
    assert isinstance(reasons[0], TimeoutError) and "message_timeout" in str(reasons[0])
    assert any("message_timeout" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records), caplog.text


def test_message_timeout_spares_messages_each_completed_within_it():
    reasons = []

    class Handler(Deadline):
        pass
    Handler.reasons = reasons

    with Server(Handler) as srv:
        c = srv.connect(timeout=10)
        t0 = time.monotonic()
        for line in (b"abcd\n", b"efgh\n", b"ijkl\n", b"mnop\n"):
            # each line complete 0.48 s after its first byte; 0.6 s per line
            assert _trickle(c, line, 0.12) is None
            assert recv_exactly(c, 5) == line
        assert time.monotonic() - t0 > 2 * Handler.message_timeout
        c.sendall(b"more\n")
        assert recv_exactly(c, 5) == b"more\n"
        c.close()
        assert wait_for(lambda: len(reasons) == 1)
        assert stats(srv)["message_timeouts"] == 0
    assert reasons == [None]


def test_message_timeout_does_not_close_an_idle_connection():
    """No message started: message_timeout does not apply (idle_timeout does)."""
    with Server(Deadline) as srv:
        c = srv.connect()
        c.sendall(b"one\n")
        assert recv_exactly(c, 4) == b"one\n"
        time.sleep(Deadline.message_timeout * 1.8)
        c.sendall(b"two\n")
        assert recv_exactly(c, 4) == b"two\n"
        c.close()


def test_idle_timeout_still_reset_by_every_byte_without_message_timeout():
    """idle_timeout keeps its meaning (nothing received for that long):
    a trickling client is not idle."""
    class Idle(Echo):
        idle_timeout = 0.5

    with Server(Idle) as srv:
        c = srv.connect()
        assert _trickle(c, b"slow line\n", 0.2) is None   # 2 s > idle_timeout
        assert recv_exactly(c, 10) == b"slow line\n"
        c.close()


def test_message_timeout_closes_a_trickler_that_never_reads_its_replies():
    """Replies queued for a trickling client that does not read are given
    one more message_timeout, then the connection is dropped."""
    class Big(Deadline):
        message_timeout = 0.5
        high_water = 64 * 1024 * 1024   # not paused: the message clock runs

        def handle_message(self, message):
            self.send(b"r" * (4 * 1024 * 1024))

    with Server(Big) as srv:
        c = srv.connect(timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t0 = time.monotonic()
        c.sendall(b"go\nincompl")
        assert wait_for(lambda: stats(srv)["accepted"] == 1)
        assert wait_for(lambda: stats(srv)["connections"] == 0, 5)
        elapsed = time.monotonic() - t0
        c.close()
        assert stats(srv)["message_timeouts"] == 1
    assert 2 * Big.message_timeout - 0.1 <= elapsed <= 3.0, elapsed


@pytest.mark.parametrize("end", ["fin", "rst"])
def test_partial_message_then_fin_or_reset_closes_by_that_not_by_message_timeout(end):
    """A message cut short by the client's FIN or RST ends the connection
    then (EOF: clean; RST: OSError), and later no message deadline fires."""
    reasons = []

    class Handler(Deadline):
        message_timeout = 0.3
    Handler.reasons = reasons

    with Server(Handler) as srv:
        c = srv.connect()
        c.sendall(b"whole\npart")
        assert recv_exactly(c, 6) == b"whole\n"
        if end == "fin":
            c.shutdown(socket.SHUT_WR)
            assert recv_until_eof(c) == b""
            c.close()
        else:
            reset_close(c)
        assert wait_for(lambda: len(reasons) == 1)
        time.sleep(2 * Handler.message_timeout)
        with srv.connect() as other:
            other.sendall(b"ok\n")
            assert recv_exactly(other, 3) == b"ok\n"
        assert stats(srv)["message_timeouts"] == 0
    if end == "fin":
        assert reasons[0] is None
    else:
        assert isinstance(reasons[0], ConnectionResetError), reasons


def test_reset_while_messages_wait_for_backpressure_closes_that_connection_only():
    """A client whose pipelined messages wait behind backpressure resets:
    its connection closes (finish() once), the waiting messages are not
    handled, the server serves on."""
    reasons, handled = [], []

    class Big(pyfast.MessageHandler):
        def handle_message(self, message):
            handled.append(message)
            self.send_message(b"p" * (48 * 1024))

        def finish(self):
            reasons.append(self.close_reason)

    with Server(Big) as srv:
        c = srv.connect()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.sendall(b"q\n" * 300)
        assert wait_for(lambda: stats(srv)["paused"] >= 1, 10)
        n = len(handled)
        reset_close(c)
        assert wait_for(lambda: len(reasons) == 1)
        time.sleep(0.1)
        assert len(handled) == n < 300
        with srv.connect() as other:
            other.sendall(b"x\n")
            assert len(recv_exactly(other, 48 * 1024 + 1)) == 48 * 1024 + 1
    assert len(reasons) == 2 and isinstance(reasons[0], ConnectionResetError), reasons


@pytest.mark.parametrize("bad", [-1, 0, "1", float("nan")])
def test_bad_message_timeout_is_refused(bad):
    class Bad(Echo):
        message_timeout = bad

    srv = type("S", (pyfast.TCPServer,), {"allow_reuse_address": True})(("127.0.0.1", 0), Bad)
    try:
        with pytest.raises((ValueError, TypeError), match="message_timeout"):
            srv.serve_forever()
    finally:
        srv.server_close()


# ---- the C loop itself --------------------------------------------------------------

def test_msgloop_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    """tests/c/test_msgloop.c: pf_msgloop_take and the message clock, built
    with the sanitizers where they work (see test_frame_c.toolchain)."""
    run_c_tests(toolchain, tmp_path, "test_msgloop",
                ["pf_msgloop.c", "pf_loop.c", "pf_msgq.c", "pf_frame.c", "pf_buf.c",
                 "pf_listen.c", "pf_common.c", "pf_proxy.c", "pf_board.c", "pf_tls.c"],
                time_scale=2, timeout=60)


if __name__ == "__main__":
    # python tests/test_message_faults.py [CLIENTS [REPLY_BYTES [RUNS]]]:
    # the server's RSS growth for never-reading pipelining clients.
    args = [int(a) for a in sys.argv[1:]] + [10, 1 << 20, 3][len(sys.argv) - 1:]
    runs = [rss_growth(args[0], args[1]) / 2**20 for _ in range(args[2])]
    print(f"{args[0]} clients, {args[1]} B replies: RSS +"
          + ", ".join(f"{r:.1f}" for r in runs) + f" MiB (median {sorted(runs)[len(runs) // 2]:.1f})")
