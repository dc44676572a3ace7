"""MessageHandler behaviour (pyfast.message): framing, ordering, faults,
backpressure, limits, shutdown.  Loopback only; no absolute speed."""
import collections
import logging
import os
import socket
import struct
import threading
import time

import pytest

import pyfast
from pyfast.message import FramingError

pytestmark = pytest.mark.timeout(30)


# ---- helpers ------------------------------------------------------------------

class Server:
    """A pyfast.TCPServer (or UnixStreamServer) serving handler on a thread."""

    def __init__(self, handler, server_class=None, address=("127.0.0.1", 0), **attrs):
        base = server_class or pyfast.TCPServer
        attrs = {"allow_reuse_address": True, "request_queue_size": 128, **attrs}
        cls = type("TestServer", (base,), attrs)
        self.server = cls(address, handler)
        self.errors = []
        orig = self.server.handle_error

        def handle_error(request, client_address):
            import sys
            self.errors.append(sys.exc_info()[1])
            orig(request, client_address)
        self.server.handle_error = handle_error
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def address(self):
        return self.server.server_address

    def connect(self, timeout=5.0):
        fam = self.server.address_family
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.address)
        return s

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def stats(srv):
    """The server's MessageLoop stats, summed over its loop threads (every
    count 0 until serve_forever() has started them: callers poll with
    wait_for, which may come first)."""
    total = collections.Counter()
    for loop in getattr(srv.server, "_message_loops", ()):
        total.update(loop.stats)
    return total


def recv_exactly(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_until_eof(s):
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


class Echo(pyfast.MessageHandler):
    def handle_message(self, message):
        self.send_message(message)


# ---- basic service and framing ------------------------------------------------

def test_line_echo():
    with Server(Echo) as srv, srv.connect() as c:
        c.sendall(b"hello\nworld\n")
        assert recv_exactly(c, 12) == b"hello\nworld\n"


def test_line_echo_on_unix_socket(tmp_path):
    path = str(tmp_path / "sock")
    with Server(Echo, pyfast.UnixStreamServer, address=path) as srv, srv.connect() as c:
        c.sendall(b"over unix\n")
        assert recv_exactly(c, 10) == b"over unix\n"


def test_line_delimiter_split_across_segments():
    class CRLF(Echo):
        delimiter = b"\r\n"

    with Server(CRLF) as srv, srv.connect() as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (b"abc\r", b"\ndef", b"\r", b"\n"):
            c.sendall(piece)
            time.sleep(0.02)
        assert recv_exactly(c, 10) == b"abc\r\ndef\r\n"


def test_keep_delimiter_delivers_it():
    got = []

    class Keep(pyfast.MessageHandler):
        keep_delimiter = True

        def handle_message(self, message):
            got.append(message)
            self.send_message(message)  # carries its own delimiter

    with Server(Keep) as srv, srv.connect() as c:
        c.sendall(b"a\nbb\n")
        assert recv_exactly(c, 5) == b"a\nbb\n"
    assert got == [b"a\n", b"bb\n"]


@pytest.mark.parametrize("framing,fmt", [("len16", ">H"), ("len32", ">I")])
def test_length_prefix_across_segments(framing, fmt):
    got = []

    class Len(Echo):
        pass
    Len.framing = framing

    def handle(self, message):
        got.append(message)
        self.send_message(message)
    Len.handle_message = handle

    with Server(Len) as srv, srv.connect() as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        payload = b"x" * 300 + b"end"
        wire = struct.pack(fmt, len(payload)) + payload + struct.pack(fmt, 0)
        # the header itself split, then the payload in pieces
        for i in range(0, len(wire), 7):
            c.sendall(wire[i:i + 7])
            if i < 30:
                time.sleep(0.01)
        hdr = struct.calcsize(fmt)
        assert recv_exactly(c, len(wire)) == wire
        assert got == [payload, b""]
        assert hdr in (2, 4)


def test_fixed_size_messages():
    got = []

    class Fixed(pyfast.MessageHandler):
        framing = "fixed"
        message_size = 4

        def handle_message(self, message):
            got.append(message)

    with Server(Fixed) as srv, srv.connect() as c:
        c.sendall(b"abcdefg")
        c.sendall(b"h12")
        assert wait_for(lambda: len(got) == 2)
        time.sleep(0.05)
    assert got == [b"abcd", b"efgh"]


def test_raw_chunks():
    got = []

    class Raw(pyfast.MessageHandler):
        framing = "raw"
        max_size = 1000

        def handle_message(self, message):
            got.append(message)
            self.send(message)

    with Server(Raw) as srv, srv.connect() as c:
        data = bytes(range(256)) * 20
        c.sendall(data)
        assert recv_exactly(c, len(data)) == data
    assert b"".join(got) == data
    assert all(0 < len(m) <= 1000 for m in got)


def test_bad_framing_options_are_refused():
    class Bad(pyfast.MessageHandler):
        framing = "fixed"  # message_size 0

    srv = pyfast.TCPServer(("127.0.0.1", 0), Bad)
    try:
        with pytest.raises(ValueError):
            srv.serve_forever()
    finally:
        srv.server_close()


# ---- ordering and parallelism --------------------------------------------------

@pytest.mark.parametrize("loop_threads", [1, 3])
def test_messages_of_a_connection_in_order_never_concurrent(loop_threads):
    # (per connection: with loop_threads > 1, different connections'
    # handlers may interleave, as on a pool)
    active = {}
    state = {"overlap": False}
    seen = {}
    lock = threading.Lock()

    class Recorder(pyfast.MessageHandler):
        def handle_message(self, message):
            with lock:
                active[self.client_address] = active.get(self.client_address, 0) + 1
                if active[self.client_address] > 1:
                    state["overlap"] = True
            seen.setdefault(self.client_address, []).append(int(message))
            time.sleep(0)  # let other threads run inside a handler
            self.send_message(message)
            with lock:
                active[self.client_address] -= 1

    with Server(Recorder, loop_threads=loop_threads) as srv:
        conns = [srv.connect() for _ in range(5)]
        n = 2000
        for c in conns:
            c.sendall(b"".join(b"%d\n" % i for i in range(n)))
        for c in conns:
            expected = b"".join(b"%d\n" % i for i in range(n))
            assert recv_exactly(c, len(expected)) == expected
            c.close()
    assert not state["overlap"]
    assert len(seen) == 5
    for nums in seen.values():
        assert nums == list(range(n))


@pytest.mark.parametrize("loop_threads", [1, 3])
def test_many_connections_served_in_parallel(loop_threads):
    with Server(Echo, loop_threads=loop_threads) as srv:
        conns = [srv.connect() for _ in range(200)]
        for i, c in enumerate(conns):
            c.sendall(b"conn %d\n" % i)
        for i, c in enumerate(conns):
            want = b"conn %d\n" % i
            assert recv_exactly(c, len(want)) == want
        for c in conns:
            c.close()


# ---- hooks, send from another thread, close ------------------------------------

def test_setup_finish_and_client_address():
    events = []

    class Hooks(pyfast.MessageHandler):
        def setup(self):
            events.append(("setup", self.client_address, self.server is srv.server))
            self.send(b"welcome\n")

        def handle_message(self, message):
            events.append(("msg", message))

        def finish(self):
            events.append(("finish", self.close_reason))

    with Server(Hooks) as srv:
        c = srv.connect()
        c_addr = c.getsockname()
        assert recv_exactly(c, 8) == b"welcome\n"
        c.sendall(b"x\n")
        c.close()
        assert wait_for(lambda: events and events[-1][0] == "finish")
    assert events[0] == ("setup", c_addr, True)
    assert events[1:] == [("msg", b"x"), ("finish", None)]


def test_send_from_another_thread():
    class Later(pyfast.MessageHandler):
        def handle_message(self, message):
            def work():
                time.sleep(0.05)
                self.send_message(b"done " + message)
            threading.Thread(target=work).start()

    with Server(Later) as srv, srv.connect() as c:
        c.sendall(b"job1\n")
        assert recv_exactly(c, 10) == b"done job1\n"


def test_close_after_queued_data_is_written():
    class Bye(pyfast.MessageHandler):
        def handle_message(self, message):
            self.send(b"x" * 1_000_000)
            self.send_message(b"bye")
            self.close()
            self.send(b"never")  # ignored after close()

    with Server(Bye) as srv, srv.connect() as c:
        c.sendall(b"go\n")
        time.sleep(0.1)  # let the output queue up before reading it
        data = recv_until_eof(c)
        assert data == b"x" * 1_000_000 + b"bye\n"


def test_replies_other_threads_sent_before_shutdown_are_written():
    """A reply another thread sent is still in the loop's inbox when the
    loop shuts down: it is queued before the drain, written, then FIN."""
    from pyfast import _message
    posted = threading.Event()
    loops = []

    class Late(pyfast.MessageHandler):
        def handle_message(self, message):
            def work():
                self.send_message(b"late " + message)
                posted.set()
            threading.Thread(target=work).start()
            assert posted.wait(5)
            loops[0].stop()   # leaves after this batch, the reply still posted

    server = pyfast.TCPServer(("127.0.0.1", 0), Late)
    loop = _message.MessageLoop(server, Late)
    loops.append(loop)
    t = threading.Thread(target=loop.run, args=(0.05,), daemon=True)
    t.start()
    try:
        with socket.create_connection(server.server_address, timeout=5) as c:
            c.sendall(b"go\n")
            assert recv_until_eof(c) == b"late go\n"
        t.join(5)
        assert not t.is_alive()
    finally:
        loop.stop()
        t.join(5)
        loop.close()
        server.server_close()


def test_close_from_another_thread():
    class Closer(pyfast.MessageHandler):
        def handle_message(self, message):
            threading.Thread(target=self.close).start()

    with Server(Closer) as srv, srv.connect() as c:
        c.sendall(b"x\n")
        assert recv_until_eof(c) == b""


# ---- bad input and faults ------------------------------------------------------

def test_overlong_line_closes_only_that_connection(caplog):
    class Short(Echo):
        max_line = 100

    with caplog.at_level(logging.WARNING, logger="pyfast.message"):
        with Server(Short) as srv:
            other = srv.connect()
            bad = srv.connect()
            bad.sendall(b"ok\n" + b"y" * 500 + b"\n")
            assert recv_until_eof(bad) == b"ok\n"
            other.sendall(b"still here\n")
            assert recv_exactly(other, 11) == b"still here\n"
            other.close()
            bad.close()
    assert any("max_line" in r.getMessage() for r in caplog.records)


def test_oversized_length_header_closes_only_that_connection(caplog):
    reasons = []

    class Len(Echo):
        framing = "len32"
        max_size = 1000

        def finish(self):
            reasons.append(self.close_reason)

    with caplog.at_level(logging.WARNING, logger="pyfast.message"):
        with Server(Len) as srv:
            other = srv.connect()
            bad = srv.connect()
            bad.sendall(struct.pack(">I", 2) + b"ok" + struct.pack(">I", 10**6))
            assert recv_until_eof(bad) == struct.pack(">I", 2) + b"ok"
            other.sendall(struct.pack(">I", 1) + b"z")
            assert recv_exactly(other, 5) == struct.pack(">I", 1) + b"z"
            other.close()
            bad.close()
            assert wait_for(lambda: len(reasons) == 2)
    assert any(isinstance(r, FramingError) for r in reasons)
    assert any("max_size" in r.getMessage() for r in caplog.records)


def test_handle_message_raising_goes_to_handle_error_and_closes_only_that_connection():
    class Fragile(pyfast.MessageHandler):
        def handle_message(self, message):
            if message == b"boom":
                raise RuntimeError("boom")
            self.send_message(message)

    with Server(Fragile) as srv:
        good = srv.connect()
        bad = srv.connect()
        bad.sendall(b"before\nboom\nafter\n")
        assert recv_until_eof(bad) == b"before\n"
        good.sendall(b"fine\n")
        assert recv_exactly(good, 5) == b"fine\n"
        third = srv.connect()
        third.sendall(b"new\n")
        assert recv_exactly(third, 4) == b"new\n"
        for s in (good, bad, third):
            s.close()
    assert len(srv.errors) == 1 and isinstance(srv.errors[0], RuntimeError)


# ---- backpressure, limits, timeouts --------------------------------------------

def test_client_that_never_reads_costs_bounded_memory():
    handlers = []

    class Big(pyfast.MessageHandler):
        high_water = 256 * 1024
        low_water = 64 * 1024

        def setup(self):
            handlers.append(self)

        def handle_message(self, message):
            self.send(b"r" * 4096)  # 4 KiB reply per short request

    with Server(Big) as srv:
        lazy = srv.connect()
        lazy.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 3
        # Keep sending until the server stops reading us (our send blocks).
        while time.monotonic() < deadline:
            try:
                sent += lazy.send(b"q\n" * 4096)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent > 0
        loop = srv.server._message_loop
        assert loop.stats["paused"] >= 1
        # queued output is bounded by high water + one batch of replies
        assert handlers[0].queued <= 256 * 1024 + 64 * 4096 + 4096
        # another client still gets answers
        with srv.connect() as other:
            other.sendall(b"ping\n")
            assert len(recv_exactly(other, 4096)) == 4096
        lazy.close()


def test_max_connections_keeps_extra_clients_in_the_backlog():
    with Server(Echo, max_connections=2) as srv:
        a = srv.connect()
        b = srv.connect()
        for s in (a, b):
            s.sendall(b"hi\n")
            assert recv_exactly(s, 3) == b"hi\n"
        c = srv.connect()  # completes in the kernel's backlog
        c.sendall(b"third\n")
        c.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.recv(10)
        assert stats(srv)["connections"] == 2
        a.close()
        c.settimeout(5)
        assert recv_exactly(c, 6) == b"third\n"
        b.close()
        c.close()


def test_loop_threads_share_the_connections():
    threads = {}

    class Where(Echo):
        def handle_message(self, message):
            threads.setdefault(self.client_address, set()).add(threading.get_ident())
            super().handle_message(message)

    with Server(Where, loop_threads=3) as srv:
        conns = [srv.connect() for _ in range(9)]
        for rnd in range(20):
            for i, c in enumerate(conns):
                c.sendall(b"%d %d\n" % (i, rnd))
            for i, c in enumerate(conns):
                want = b"%d %d\n" % (i, rnd)
                assert recv_exactly(c, len(want)) == want
        # each connection stays on one loop; the loops share them evenly
        assert all(len(t) == 1 for t in threads.values())
        assert len(set().union(*threads.values())) == 3
        assert [loop.stats["connections"] for loop in srv.server._message_loops] == [3, 3, 3]
        for c in conns:
            c.close()


def test_loop_threads_send_to_a_connection_of_another_loop():
    members = []

    class Chat(pyfast.MessageHandler):
        def setup(self):
            members.append(self)

        def handle_message(self, message):
            for m in list(members):
                m.send_message(message)  # some live on other loop threads

        def finish(self):
            members.remove(self)

    with Server(Chat, loop_threads=2) as srv:
        conns = [srv.connect() for _ in range(4)]
        assert wait_for(lambda: len(members) == 4)
        conns[0].sendall(b"hello all\n")
        for c in conns:
            assert recv_exactly(c, 10) == b"hello all\n"
        for c in conns:
            c.close()


def test_max_connections_is_shared_out_among_loop_threads():
    with Server(Echo, max_connections=4, loop_threads=3) as srv:
        first = [srv.connect() for _ in range(4)]
        for s in first:
            s.sendall(b"hi\n")
            assert recv_exactly(s, 3) == b"hi\n"
        extra = srv.connect()  # waits in the backlog
        extra.sendall(b"fifth\n")
        extra.settimeout(0.3)
        with pytest.raises(socket.timeout):
            extra.recv(10)
        assert stats(srv)["connections"] == 4
        first[1].close()  # on a loop other than the acceptor
        extra.settimeout(5)
        assert recv_exactly(extra, 6) == b"fifth\n"
        assert stats(srv)["connections"] == 4
        for s in first + [extra]:
            s.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_bad_loop_threads_is_refused(bad):
    srv = pyfast.TCPServer(("127.0.0.1", 0), Echo)
    srv.loop_threads = bad
    with pytest.raises(ValueError, match="loop_threads"):
        srv.serve_forever()
    srv.server_close()


def test_idle_timeout_closes_an_idle_connection():
    reasons = []

    class Idle(Echo):
        idle_timeout = 0.2

        def finish(self):
            reasons.append(self.close_reason)

    with Server(Idle) as srv:
        busy = srv.connect()
        idle = srv.connect()
        t0 = time.monotonic()
        idle.sendall(b"once\n")
        assert recv_exactly(idle, 5) == b"once\n"
        for _ in range(8):  # busy keeps talking past the timeout
            busy.sendall(b"x\n")
            assert recv_exactly(busy, 2) == b"x\n"
            time.sleep(0.05)
        assert recv_until_eof(idle) == b""
        assert time.monotonic() - t0 < 2
        busy.sendall(b"y\n")
        assert recv_exactly(busy, 2) == b"y\n"
        busy.close()
        idle.close()
    assert isinstance(reasons[0], TimeoutError)


# ---- shutdown ----------------------------------------------------------------------

def _fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop_threads", [1, 3])
def test_shutdown_with_1000_idle_connections_is_quick_and_leaks_no_fd(loop_threads):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    before = _fd_count()
    finished = []

    class Count(Echo):
        def finish(self):
            finished.append(1)

    srv = Server(Count, request_queue_size=1024, loop_threads=loop_threads)
    clients = [srv.connect() for _ in range(1000)]
    assert wait_for(lambda: stats(srv)["connections"] == 1000, 10)
    t0 = time.monotonic()
    srv.server.shutdown()
    elapsed = time.monotonic() - t0
    srv.thread.join(5)
    srv.server.server_close()
    assert elapsed < 0.25
    assert len(finished) == 1000
    for c in clients:
        c.close()
    assert _fd_count() <= before


@pytest.mark.parametrize("loop_threads", [1, 3])
def test_graceful_shutdown_writes_queued_replies(loop_threads):
    class Slow(pyfast.MessageHandler):
        def handle_message(self, message):
            self.send(b"z" * 100_000)

    srv = Server(Slow, loop_threads=loop_threads)
    c = srv.connect()
    c.sendall(b"go\n")
    assert wait_for(lambda: stats(srv)["accepted"] == 1)
    time.sleep(0.05)
    srv.stop()
    assert recv_until_eof(c) == b"z" * 100_000
    c.close()


def test_oversized_framed_send_from_another_thread_raises_there_and_server_serves_on():
    errors = []

    class Len16(pyfast.MessageHandler):
        framing = "len16"

        def handle_message(self, message):
            def worker():
                try:
                    self.send_message(b"x" * 70_000)   # does not fit a u16 header
                except ValueError as exc:
                    errors.append(exc)
                self.send_message(b"ok")
            threading.Thread(target=worker).start()

    with Server(Len16) as srv:
        for _ in range(2):
            c = srv.connect()
            c.sendall(struct.pack(">H", 2) + b"hi")
            assert recv_exactly(c, 4) == struct.pack(">H", 2) + b"ok"
            c.close()
        assert srv.thread.is_alive()
    assert len(errors) == 2 and "u16" in str(errors[0])


@pytest.mark.parametrize("loop_threads", [1, 3])
def test_graceful_shutdown_waits_for_a_slow_reader_to_take_queued_replies(loop_threads):
    """Output beyond the socket buffers is still written by shutdown, as
    the client reads it, within drain_timeout."""
    size = 8 * 1024 * 1024

    class Big(pyfast.MessageHandler):
        def handle_message(self, message):
            self.send(b"b" * size)

    srv = Server(Big, drain_timeout=10.0, loop_threads=loop_threads)
    c = srv.connect(timeout=10)
    c.sendall(b"go\n")
    assert wait_for(lambda: stats(srv)["accepted"] == 1)
    time.sleep(0.1)                     # the reply fills the socket buffers
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    time.sleep(0.2)                     # shutdown is now draining
    assert stopper.is_alive()
    got = recv_until_eof(c)
    stopper.join(10)
    assert not stopper.is_alive()
    assert got == b"b" * size
    c.close()


def test_shutdown_gives_up_on_a_client_that_never_reads_after_drain_timeout():
    class Big(pyfast.MessageHandler):
        def handle_message(self, message):
            self.send(b"b" * (8 * 1024 * 1024))

    srv = Server(Big, drain_timeout=0.3)
    c = srv.connect()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sendall(b"go\n")
    assert wait_for(lambda: stats(srv)["accepted"] == 1)
    time.sleep(0.1)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2.0     # 0.3 s drain, generous bound
    c.close()


def test_shutdown_before_serve_forever_starts_serving():
    srv = pyfast.TCPServer(("127.0.0.1", 0), Echo)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.shutdown()
    t.join(2)
    assert not t.is_alive()
    srv.server_close()


# ---- Cython subclass -----------------------------------------------------------------

def test_cython_cpdef_handler():
    # EchoMessageHandler overrides handle_message as a cpdef method.
    with Server(pyfast.EchoMessageHandler) as srv, srv.connect() as c:
        c.sendall(b"fast\npath\n")
        assert recv_exactly(c, 10) == b"fast\npath\n"

    class Len(pyfast.EchoMessageHandler):
        framing = "len16"

    with Server(Len) as srv, srv.connect() as c:
        c.sendall(b"\x00\x03abc")
        assert recv_exactly(c, 5) == b"\x00\x03abc"


def test_service_actions_run_about_every_poll_interval_while_messages_keep_coming():
    # serve_forever(0.05): a loop whose waits always return messages never
    # times out, and still calls service_actions() about every 0.05 s (the
    # loop's clock), not once per batch.
    calls = []
    with Server(Echo, service_actions=lambda self: calls.append(time.monotonic())) as srv, \
            srv.connect() as c:
        assert wait_for(lambda: calls)
        start, sent = time.monotonic(), 0
        del calls[:]
        while time.monotonic() - start < 1.0:
            c.sendall(b"ping\n")
            assert recv_exactly(c, 5) == b"ping\n"
            sent += 1
        ran = len(calls)
    # About 20 in 1 s; once per batch would be `sent` (hundreds at least).
    assert 5 <= ran <= max(60, sent // 4), (ran, sent)


def test_serving_messages_looks_up_no_module_attribute(monkeypatch):
    # The loop's per-message and per-cycle paths compare errnos with C
    # constants: a lookup on the errno module (and a negation) per send
    # cost about 400 instructions of the ~3600 a message costs.
    import errno
    from pyfast import _message

    looked_up = []

    class CountingErrno:
        def __getattr__(self, name):
            looked_up.append(name)
            return getattr(errno, name)

    monkeypatch.setattr(_message, "_errno", CountingErrno())
    with Server(Echo) as srv, srv.connect() as c:
        for _ in range(50):
            c.sendall(b"ping\n")
            assert recv_exactly(c, 5) == b"ping\n"
    assert looked_up == []


@pytest.mark.parametrize("loop_threads", [1, 2])
def test_ctrl_c_reaches_serve_forever(tmp_path, loop_threads):
    import signal
    import subprocess
    import sys
    script = tmp_path / "serve.py"
    script.write_text(
        "import pyfast, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "class Echo(pyfast.MessageHandler):\n"
        "    def handle_message(self, m):\n"
        "        self.send_message(m)\n"
        "srv = pyfast.TCPServer(('127.0.0.1', 0), Echo)\n"
        f"srv.loop_threads = {loop_threads}\n"
        "print(srv.server_address[1], flush=True)\n"
        "try:\n"
        "    srv.serve_forever()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "srv.server_close()\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=str(tmp_path))
    try:
        port = int(p.stdout.readline())
        conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        for c in conns:  # with 2 loop threads: one connection on each
            c.sendall(b"hi\n")
            assert recv_exactly(c, 3) == b"hi\n"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline().strip() == "interrupted"
        assert time.monotonic() - t0 < 1.0
        for c in conns:
            assert recv_until_eof(c) == b""
            c.close()
        assert p.wait(5) == 0
    finally:
        p.kill()
        p.wait()
