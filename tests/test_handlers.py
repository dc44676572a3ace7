"""Request handlers, run against the stdlib and pyfast: BaseRequestHandler
recv/sendall, StreamRequestHandler rfile/wfile semantics, handler lifecycle,
StreamRequestHandler's timeout and disable_nagle_algorithm."""

import queue
import socket
import threading
import time

import pytest

from support import HOST, is_closed_by_peer, recv_all, recv_exact, recv_until

pytestmark = pytest.mark.timeout(20)


def take(q, timeout=5.0):
    """Next item a handler reported; re-raise what the handler raised."""
    kind, value = q.get(timeout=timeout)
    if kind == "raised":
        raise AssertionError(f"handler raised {value!r}") from value
    return value


def reporting(q, body):
    """Wrap a handler body so its result or exception goes to queue q."""
    def handle(self):
        try:
            q.put(("ok", body(self)))
        except BaseException as exc:
            q.put(("raised", exc))
            raise
    return handle


# ------------------------------------------------------- BaseRequestHandler

def test_base_handler_echoes_with_recv_and_sendall(impl, serve, client):
    class Echo(impl.BaseRequestHandler):
        def handle(self):
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)

    r = serve(impl.TCPServer((HOST, 0), Echo))
    c = client(r.address)
    for msg in (b"hello", b"x", b"a longer message\n" * 10):
        c.sendall(msg)
        assert recv_exact(c, len(msg)) == msg
    big = bytes(range(256)) * 4096           # 1 MiB, bigger than socket buffers
    sender = threading.Thread(target=c.sendall, args=(big,))
    sender.start()
    assert recv_exact(c, len(big)) == big
    sender.join(5)
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == b""                 # handler saw EOF and returned


def test_handler_sees_server_client_address_and_request(impl, serve, client):
    seen = queue.Queue()

    class H(impl.BaseRequestHandler):
        handle = reporting(seen, lambda self: (
            self.server, self.client_address, self.request.getpeername()))

    server = impl.TCPServer((HOST, 0), H)
    r = serve(server)
    c = client(r.address)
    got_server, client_address, peer = take(seen)
    assert got_server is server
    assert tuple(client_address) == c.getsockname()
    assert tuple(peer) == c.getsockname()


def test_handler_setup_handle_finish_run_in_order(impl, serve, client):
    calls = queue.Queue()

    class H(impl.BaseRequestHandler):
        def setup(self):
            calls.put("setup")

        def handle(self):
            calls.put("handle")

        def finish(self):
            calls.put("finish")

    r = serve(impl.TCPServer((HOST, 0), H))
    client(r.address)
    assert [calls.get(timeout=5) for _ in range(3)] == ["setup", "handle", "finish"]


def test_finish_runs_when_handle_raises(impl, capfd, serve, client):
    calls = queue.Queue()

    class H(impl.BaseRequestHandler):
        def setup(self):
            calls.put("setup")

        def handle(self):
            calls.put("handle")
            raise RuntimeError("handler failed on purpose")

        def finish(self):
            calls.put("finish")

    r = serve(impl.TCPServer((HOST, 0), H))
    c = client(r.address)
    assert [calls.get(timeout=5) for _ in range(3)] == ["setup", "handle", "finish"]
    # handle_error reports after finish(), then the request is shut down: wait
    # for that so the report is written before capfd goes away.
    assert is_closed_by_peer(c)
    assert "RuntimeError: handler failed on purpose" in capfd.readouterr().err


# ----------------------------------------------------- StreamRequestHandler

def test_stream_handler_readline_write_loop(impl, serve, client):
    class Upper(impl.StreamRequestHandler):
        def handle(self):
            while True:
                line = self.rfile.readline()
                if not line:
                    break
                self.wfile.write(line.upper())

    r = serve(impl.TCPServer((HOST, 0), Upper))
    c = client(r.address)
    for line in (b"one\n", b"two two\n", b"x" * 5000 + b"\n"):
        c.sendall(line)                       # next line only after the reply:
        assert recv_until(c) == line.upper()  # the handler's write must go out
    c.sendall(b"four\nfive\nsix\n")           # several lines in one segment
    expected = b"FOUR\nFIVE\nSIX\n"
    assert recv_exact(c, len(expected)) == expected


def test_wfile_write_is_sent_before_handler_blocks_reading(impl, serve, client):
    class Prompt(impl.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"name?\n")
            name = self.rfile.readline().strip()
            self.wfile.write(b"hello " + name + b"\n")
            self.rfile.readline()             # waits for the client again

    r = serve(impl.TCPServer((HOST, 0), Prompt))
    c = client(r.address)
    assert recv_until(c) == b"name?\n"        # client speaks only after prompt
    c.sendall(b"ada\n")
    assert recv_until(c) == b"hello ada\n"


def test_rfile_read_n_returns_exactly_n_bytes(impl, serve, client):
    got = queue.Queue()

    class Fixed(impl.StreamRequestHandler):
        handle = reporting(got, lambda self: (self.rfile.read(25), self.rfile.read(25)))

    r = serve(impl.TCPServer((HOST, 0), Fixed))
    c = client(r.address)
    payload = bytes(range(65, 65 + 50))
    for piece in (payload[:3], payload[3:20], payload[20:31], payload[31:]):
        c.sendall(piece)                      # dribbled: read(25) must wait
        time.sleep(0.02)
    first, second = take(got)
    assert first == payload[:25]
    assert second == payload[25:]


def test_rfile_read_n_returns_short_at_eof(impl, serve, client):
    got = queue.Queue()

    class Fixed(impl.StreamRequestHandler):
        def handle(self):
            data = self.rfile.read(25)
            got.put(data)
            self.wfile.write(b"got %d\n" % len(data))   # still writable

    r = serve(impl.TCPServer((HOST, 0), Fixed))
    c = client(r.address)
    c.sendall(b"0123456789")
    c.shutdown(socket.SHUT_WR)
    assert got.get(timeout=5) == b"0123456789"
    assert recv_all(c) == b"got 10\n"


def test_for_line_in_rfile_yields_each_line(impl, serve, client):
    got = queue.Queue()

    class Lines(impl.StreamRequestHandler):
        handle = reporting(got, lambda self: [line for line in self.rfile])

    r = serve(impl.TCPServer((HOST, 0), Lines))
    c = client(r.address)
    c.sendall(b"a\nbb\n")
    time.sleep(0.05)
    c.sendall(b"\nccc\ndd")                   # empty line, unterminated last line
    c.shutdown(socket.SHUT_WR)
    assert take(got) == [b"a\n", b"bb\n", b"\n", b"ccc\n", b"dd"]


def test_rfile_readline_with_limit(impl, serve, client):
    got = queue.Queue()

    class Limited(impl.StreamRequestHandler):
        handle = reporting(got, lambda self: (self.rfile.readline(4),
                                              self.rfile.readline(),
                                              self.rfile.read()))

    r = serve(impl.TCPServer((HOST, 0), Limited))
    c = client(r.address)
    c.sendall(b"abcdefg\nrest\nof it")
    c.shutdown(socket.SHUT_WR)
    assert take(got) == (b"abcd", b"efg\n", b"rest\nof it")


def test_many_small_wfile_writes_all_arrive_in_order(impl, serve, client):
    count = 20000

    class Chatty(impl.StreamRequestHandler):
        def handle(self):
            for i in range(count):
                self.wfile.write(b"%d\n" % i)

    r = serve(impl.TCPServer((HOST, 0), Chatty))
    c = client(r.address)
    data = recv_all(c)                        # EOF once the handler returned
    assert data == b"".join(b"%d\n" % i for i in range(count))


def test_wfile_write_accepts_bytes_like_objects(impl, serve, client):
    class Views(impl.StreamRequestHandler):
        def handle(self):
            self.wfile.write(bytearray(b"ab"))
            self.wfile.write(memoryview(b"xcdx")[1:3])
            self.wfile.writelines([b"e", b"f\n"])

    r = serve(impl.TCPServer((HOST, 0), Views))
    assert recv_all(client(r.address)) == b"abcdef\n"


def test_stream_handler_timeout_raises_timeout_on_silent_client(impl, serve, client):
    got = queue.Queue()

    class Impatient(impl.StreamRequestHandler):
        timeout = 0.3

        def handle(self):
            got.put(self.request.gettimeout())
            started = time.monotonic()
            try:
                self.rfile.readline()
            except Exception as exc:
                got.put((exc, time.monotonic() - started))
            else:
                got.put((None, time.monotonic() - started))

    r = serve(impl.TCPServer((HOST, 0), Impatient))
    c = client(r.address)                     # connects, never sends
    assert got.get(timeout=5) == pytest.approx(0.3)
    exc, elapsed = got.get(timeout=5)
    assert isinstance(exc, TimeoutError), exc   # socket.timeout is TimeoutError
    assert 0.2 < elapsed < 3.0
    assert recv_all(c) == b""                 # the server then closed the session


def test_disable_nagle_algorithm_sets_tcp_nodelay(impl, serve, client):
    got = queue.Queue()

    class NoNagle(impl.StreamRequestHandler):
        disable_nagle_algorithm = True
        handle = reporting(got, lambda self: self.request.getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY))

    r = serve(impl.TCPServer((HOST, 0), NoNagle))
    client(r.address)
    assert take(got) != 0


def test_stream_handler_finish_flushes_and_closes_files(impl, serve, client):
    got = queue.Queue()

    class Buffered(impl.StreamRequestHandler):
        wbufsize = 65536                      # buffered wfile: finish() flushes

        def handle(self):
            self.wfile.write(b"buffered reply\n")

        def finish(self):
            super().finish()
            got.put((self.wfile.closed, self.rfile.closed))

    r = serve(impl.TCPServer((HOST, 0), Buffered))
    c = client(r.address)
    assert recv_all(c) == b"buffered reply\n"
    assert got.get(timeout=5) == (True, True)
