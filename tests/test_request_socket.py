"""`self.request` behaves as a socket in a TCP handler (stdlib and pyfast):
addresses, timeouts, select() on fileno, socket options, recv_into/send,
half-close with shutdown, makefile, close, and detach handing the fd over."""

import queue
import select
import socket
import time

import pytest

from support import HOST, recv_all, recv_exact, recv_until

pytestmark = pytest.mark.timeout(20)


def start(impl, serve, body):
    """A TCPServer whose handler runs body(handler); returns (running, results).

    results yields ("ok", value) or ("raised", exception) per connection.
    """
    results = queue.Queue()

    class Probe(impl.BaseRequestHandler):
        def handle(self):
            try:
                results.put(("ok", body(self)))
            except BaseException as exc:
                results.put(("raised", exc))
                raise

    return serve(impl.TCPServer((HOST, 0), Probe)), results


def take(results, timeout=5.0):
    kind, value = results.get(timeout=timeout)
    if kind == "raised":
        raise AssertionError(f"handler raised {value!r}") from value
    return value


def test_request_addresses_match_the_connection(impl, serve, client):
    r, results = start(impl, serve, lambda h: (
        h.request.getpeername(), h.request.getsockname(),
        h.request.family, h.request.type))
    c = client(r.address)
    peer, local, family, type_ = take(results)
    assert tuple(peer) == c.getsockname()
    assert tuple(local) == c.getpeername() == tuple(r.address)
    assert family == socket.AF_INET
    assert type_ == socket.SOCK_STREAM


def test_request_settimeout_gettimeout_roundtrip(impl, serve, client):
    def body(h):
        seen = [h.request.gettimeout()]
        h.request.settimeout(1.5)
        seen.append(h.request.gettimeout())
        h.request.settimeout(None)
        seen.append(h.request.gettimeout())
        h.request.setblocking(False)
        seen.append(h.request.gettimeout())
        h.request.setblocking(True)
        seen.append(h.request.gettimeout())
        return seen

    r, results = start(impl, serve, body)
    client(r.address)
    # The accepted socket is blocking (no timeout) unless
    # socket.setdefaulttimeout() was set.
    assert take(results) == [None, 1.5, None, 0.0, None]


def test_request_settimeout_makes_recv_raise_timeout(impl, serve, client):
    def body(h):
        h.request.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            h.request.recv(10)
        return time.monotonic() - started

    r, results = start(impl, serve, body)
    client(r.address)
    assert 0.1 < take(results) < 3.0


def test_request_nonblocking_recv_raises_blockingioerror(impl, serve, client):
    def body(h):
        h.request.setblocking(False)
        with pytest.raises(BlockingIOError):
            h.request.recv(10)
        h.request.setblocking(True)
        return h.request.recv(10)

    r, results = start(impl, serve, body)
    c = client(r.address)
    time.sleep(0.2)
    c.sendall(b"later")
    assert take(results) == b"later"


def test_request_fileno_works_with_select(impl, serve, client):
    def body(h):
        fd = h.request.fileno()
        assert isinstance(fd, int) and fd >= 0
        before = select.select([h.request], [], [], 0.1)[0]
        h.request.sendall(b"go\n")
        after = select.select([h.request], [], [], 5.0)[0]
        also_by_fd = select.select([fd], [], [], 5.0)[0]
        return before == [], after == [h.request], also_by_fd == [fd], h.request.recv(10)

    r, results = start(impl, serve, body)
    c = client(r.address)
    assert recv_until(c) == b"go\n"
    c.sendall(b"data")
    assert take(results) == (True, True, True, b"data")


def test_request_setsockopt_is_visible_to_getsockopt(impl, serve, client):
    def body(h):
        h.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        on = h.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        h.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        off = h.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        h.request.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        keepalive = h.request.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        return on, off, keepalive

    r, results = start(impl, serve, body)
    client(r.address)
    on, off, keepalive = take(results)
    assert on != 0 and off == 0 and keepalive != 0


def test_request_recv_into_and_send(impl, serve, client):
    def body(h):
        buf = bytearray(8)
        n = h.request.recv_into(buf)
        view = memoryview(bytearray(4))
        m = h.request.recv_into(view, 2)
        sent = h.request.send(bytes(buf[:n]) + bytes(view[:m]))
        return n, bytes(buf[:n]), m, sent

    r, results = start(impl, serve, body)
    c = client(r.address)
    c.sendall(b"12345678")
    time.sleep(0.1)
    c.sendall(b"ab")
    n, data, m, sent = take(results)
    assert (n, data, m, sent) == (8, b"12345678", 2, 10)
    assert recv_exact(c, 10) == b"12345678ab"


def test_request_shutdown_write_half_closes(impl, serve, client):
    def body(h):
        h.request.sendall(b"bye")
        h.request.shutdown(socket.SHUT_WR)
        return recv_all(h.request)            # the read half still works

    r, results = start(impl, serve, body)
    c = client(r.address)
    assert recv_all(c) == b"bye"              # EOF after the server's shutdown
    c.sendall(b"after half-close")
    c.shutdown(socket.SHUT_WR)
    assert take(results) == b"after half-close"


def test_request_makefile_reads_and_writes(impl, serve, client):
    def body(h):
        with h.request.makefile("rb") as rf, h.request.makefile("wb") as wf:
            line = rf.readline()
            wf.write(b"echo: " + line)
            wf.flush()
        return line

    r, results = start(impl, serve, body)
    c = client(r.address)
    c.sendall(b"via makefile\n")
    assert recv_until(c) == b"echo: via makefile\n"
    assert take(results) == b"via makefile\n"


def test_request_close_in_handler_ends_the_connection(impl, serve, client):
    def body(h):
        h.request.sendall(b"closing")
        h.request.close()
        return h.request.fileno()

    r, results = start(impl, serve, body)
    c = client(r.address)
    assert recv_all(c) == b"closing"
    assert take(results) == -1


def test_request_detach_hands_the_fd_to_a_new_socket(impl, serve, client):
    """After detach() the server must not close (or reuse) the fd it gave away."""
    def body(h):
        fd = h.request.detach()
        return fd, h.request.fileno(), socket.socket(fileno=fd)

    r, results = start(impl, serve, body)
    c = client(r.address)
    fd, old_fileno, adopted = take(results)
    try:
        assert old_fileno == -1
        assert adopted.fileno() == fd
        time.sleep(0.2)                       # the handler has returned by now
        adopted.settimeout(5)
        adopted.sendall(b"from the adopted socket")
        assert recv_exact(c, 23) == b"from the adopted socket"
        c.sendall(b"reply")
        assert recv_exact(adopted, 5) == b"reply"
    finally:
        adopted.close()
    assert recv_all(c) == b""


def test_request_works_as_context_manager(impl, serve, client):
    def body(h):
        with h.request as s:
            s.sendall(b"ctx")
        return h.request.fileno()

    r, results = start(impl, serve, body)
    c = client(r.address)
    assert recv_all(c) == b"ctx"
    assert take(results) == -1
