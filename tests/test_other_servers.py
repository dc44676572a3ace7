"""UDPServer, ThreadingUDPServer, DatagramRequestHandler, UnixStreamServer,
UnixDatagramServer and ForkingTCPServer, stdlib and pyfast."""

import os
import queue
import socket
import sys
import threading
import time

import pytest

import support
from support import HOST, recv_all

pytestmark = pytest.mark.timeout(20)


def udp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(support.IO_TIMEOUT)
    s.bind((HOST, 0))
    return s


def udp_echo_handler(impl):
    """A BaseRequestHandler that sends each datagram back to its sender."""
    class Echo(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data, self.client_address)
    return Echo


def test_udp_handler_gets_data_and_socket(impl, serve):
    seen = queue.Queue()

    class Upper(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            seen.put((data, self.client_address, sock.type))
            sock.sendto(data.upper(), self.client_address)

    r = serve(impl.UDPServer((HOST, 0), Upper))
    with udp_client() as c:
        for msg in (b"one", b"two", b"three"):
            c.sendto(msg, r.address)
            data, addr = c.recvfrom(1024)
            assert (data, addr) == (msg.upper(), tuple(r.address))
            assert seen.get(timeout=5) == (msg, c.getsockname(), socket.SOCK_DGRAM)


def test_udp_datagram_is_truncated_to_max_packet_size(impl, serve):
    sizes = queue.Queue()

    class Size(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sizes.put(len(data))
            sock.sendto(b"%d" % len(data), self.client_address)

    class S(impl.UDPServer):
        max_packet_size = 1000

    r = serve(S((HOST, 0), Size))
    with udp_client() as c:
        c.sendto(b"x" * 5000, r.address)
        assert c.recvfrom(100)[0] == b"1000"


def test_datagram_request_handler_rfile_wfile(impl, serve):
    class Lines(impl.DatagramRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(b"<" + line.strip() + b">")

    r = serve(impl.UDPServer((HOST, 0), Lines))
    with udp_client() as c:
        c.sendto(b"a\nbb\nccc", r.address)
        assert c.recvfrom(1024)[0] == b"<a><bb><ccc>"   # one reply datagram, at finish()


def test_threading_udp_server_answers_every_client(impl, serve):
    Echo = udp_echo_handler(impl)

    r = serve(impl.ThreadingUDPServer((HOST, 0), Echo))
    clients = [udp_client() for _ in range(10)]
    try:
        for i, c in enumerate(clients):
            c.sendto(b"client %d" % i, r.address)
        for i, c in enumerate(clients):
            assert c.recvfrom(1024)[0] == b"client %d" % i
    finally:
        for c in clients:
            c.close()


def test_udp_handler_exception_goes_to_handle_error_and_serving_goes_on(impl, serve):
    errors = queue.Queue()

    class Picky(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            if data == b"bad":
                raise ValueError("bad datagram")
            sock.sendto(b"ok " + data, self.client_address)

    class S(impl.UDPServer):
        def handle_error(self, request, client_address):
            errors.put((request[0], client_address))

    r = serve(S((HOST, 0), Picky))
    with udp_client() as c:
        for msg in (b"a", b"bad", b"b"):
            c.sendto(msg, r.address)
        assert c.recvfrom(100)[0] == b"ok a"
        assert c.recvfrom(100)[0] == b"ok b"
        assert errors.get(timeout=5) == (b"bad", c.getsockname())


@pytest.mark.parametrize("step", ["get_request", "verify_request", "process_request",
                                  "finish_request", "shutdown_request", "close_request"])
def test_udp_overridden_request_step_is_called(impl, serve, step):
    """A request step overridden in a UDPServer subclass runs for every
    datagram (pyfast's batch loop in C must not bypass it)."""
    calls = queue.Queue()

    Echo = udp_echo_handler(impl)

    def recorded(self, *args):
        calls.put(step)
        return getattr(impl.UDPServer, step)(self, *args)

    S = type("S", (impl.UDPServer,), {step: recorded})
    r = serve(S((HOST, 0), Echo))
    with udp_client() as c:
        for msg in (b"one", b"two", b"three"):
            c.sendto(msg, r.address)
        for msg in (b"one", b"two", b"three"):
            assert c.recvfrom(100)[0] == msg
    assert [calls.get(timeout=5) for _ in range(3)] == [step] * 3


def test_udp_service_actions_runs_after_each_datagram(impl, serve):
    events = queue.Queue()

    class Record(impl.BaseRequestHandler):
        def handle(self):
            events.put(self.request[0])

    class S(impl.UDPServer):
        def service_actions(self):
            events.put("service_actions")

    server = S((HOST, 0), Record)
    with udp_client() as c:
        for msg in (b"one", b"two", b"three"):
            c.sendto(msg, server.server_address)
        time.sleep(0.1)                       # all queued before serving starts
        serve(server)
        got = [events.get(timeout=5) for _ in range(6)]
    assert got == [b"one", "service_actions", b"two", "service_actions",
                   b"three", "service_actions"]


def test_udp_verify_request_can_drop_datagrams(impl, serve):
    Echo = udp_echo_handler(impl)

    class S(impl.UDPServer):
        def verify_request(self, request, client_address):
            return request[0] != b"drop"

    r = serve(S((HOST, 0), Echo))
    with udp_client() as c:
        for msg in (b"one", b"drop", b"two"):
            c.sendto(msg, r.address)
        assert c.recvfrom(100)[0] == b"one"
        assert c.recvfrom(100)[0] == b"two"


def test_udp_server_tells_many_senders_apart(impl, serve):
    """Interleaved datagrams from 20 clients: each handler sees its own
    sender's address and each reply reaches that sender."""
    class Who(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data + b" %d" % self.client_address[1], self.client_address)

    r = serve(impl.UDPServer((HOST, 0), Who))
    clients = [udp_client() for _ in range(20)]
    try:
        for rnd in range(3):
            for i, c in enumerate(clients):
                c.sendto(b"%d/%d" % (rnd, i), r.address)
            for i, c in enumerate(clients):
                port = c.getsockname()[1]
                assert c.recvfrom(100)[0] == b"%d/%d %d" % (rnd, i, port)
    finally:
        for c in clients:
            c.close()


def test_udp_failed_send_goes_to_handle_error(impl, serve):
    """A sendto that the kernel refuses (port 0: EINVAL) raises in the
    handler, so handle_error gets it; serving goes on."""
    errors = queue.Queue()

    class Bad(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            if data == b"bad":
                sock.sendto(b"nowhere", (HOST, 0))
            sock.sendto(b"ok " + data, self.client_address)

    class S(impl.UDPServer):
        def handle_error(self, request, client_address):
            errors.put(sys.exc_info()[0])

    r = serve(S((HOST, 0), Bad))
    with udp_client() as c:
        for msg in (b"a", b"bad", b"b"):
            c.sendto(msg, r.address)
        assert c.recvfrom(100)[0] == b"ok a"
        assert c.recvfrom(100)[0] == b"ok b"
    assert errors.get(timeout=5) is OSError


def test_udp_replies_keep_their_order_whatever_the_call(impl, serve):
    """Replies by sendto, sendto with flags and sendmsg, and from another
    thread, arrive in the order the handler made them; sendto returns the
    length."""
    lengths = queue.Queue()

    class Many(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            to = self.client_address
            lengths.put(sock.sendto(data + b"/1", to))
            lengths.put(sock.sendto(data + b"/2", 0, to))
            lengths.put(sock.sendto(bytearray(data + b"/3"), to))
            lengths.put(sock.sendmsg([data, b"/4"], [], 0, to))
            t = threading.Thread(target=lambda: lengths.put(sock.sendto(data + b"/5", to)))
            t.start()
            t.join()
            lengths.put(sock.sendto(data + b"/6", to))

    r = serve(impl.UDPServer((HOST, 0), Many))
    with udp_client() as c:
        for i in range(20):
            c.sendto(b"m%02d" % i, r.address)
        got = [c.recvfrom(100)[0] for _ in range(20 * 6)]
    assert got == [b"m%02d/%d" % (i, k) for i in range(20) for k in range(1, 7)]
    assert [lengths.get(timeout=5) for _ in range(20 * 6)] == [5] * (20 * 6)


def _sendto_outcome(sock, *args):
    try:
        return ("ok", sock.sendto(*args))
    except Exception as exc:
        return (type(exc), str(exc))


def test_udp_server_socket_sendto_is_socket_sendto(impl):
    """server.socket.sendto gives socket.socket.sendto's results and errors
    for every form of call (pyfast sends numeric IPv4 in C)."""
    server = impl.UDPServer((HOST, 0), impl.BaseRequestHandler)
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert isinstance(server.socket, socket.socket)
        with udp_client() as peer:
            to = peer.getsockname()
            cases = [
                (b"numeric", to),
                (bytearray(b"bytearray"), to),
                (memoryview(b"view"), to),
                (b"flags", 0, to),
                (b"by name", ("localhost", to[1])),
                (b"", to),
                (b"x", (HOST, 70000)),
                (b"x", (HOST, -1)),
                (b"x", (HOST, "port")),
                (b"x", ("no.such.host.invalid", 9)),
                (b"x", (HOST,)),
                (b"x", "not a tuple"),
                ("text", to),
                (b"x" * 70000, to),
                (b"x", to, "extra"),
            ]
            for args in cases:
                got = _sendto_outcome(server.socket, *args)
                want = _sendto_outcome(plain, *args)
                if want[0] is socket.gaierror:     # resolver wording may vary
                    assert got[0] is socket.gaierror, args
                else:
                    assert got == want, args
    finally:
        plain.close()
        server.server_close()


def test_udp_server_socket_sendto_delivers_in_order(impl):
    server = impl.UDPServer((HOST, 0), impl.BaseRequestHandler)
    try:
        with udp_client() as peer:
            to = peer.getsockname()
            sent = [b"numeric", bytearray(b"bytearray"), memoryview(b"view")]
            for data in sent:
                assert server.socket.sendto(data, to) == len(data)
            assert server.socket.sendto(b"flags", 0, to) == 5
            assert server.socket.sendto(b"by name", ("localhost", to[1])) == 7
            got = [peer.recvfrom(100) for _ in range(5)]
            assert got == [(bytes(d), server.server_address)
                           for d in sent + [b"flags", b"by name"]]
    finally:
        server.server_close()


# Audit hooks cannot be removed: this one is added once and records only
# while _audited[0] == "on".
_audited = []
_audit_hook_added = []


def _audit_hook(event, args):
    if event == "socket.sendto" and _audited and _audited[0] == "on":
        _audited.append(args)


def test_udp_server_socket_sendto_raises_the_audit_event(impl):
    if not _audit_hook_added:
        sys.addaudithook(_audit_hook)
        _audit_hook_added.append(True)
    server = impl.UDPServer((HOST, 0), impl.BaseRequestHandler)
    try:
        with udp_client() as peer:
            to = peer.getsockname()
            _audited[:] = ["on"]
            server.socket.sendto(b"audited", to)
            _audited[0] = "off"
            assert _audited[1:] == [(server.socket, to)]
            assert peer.recvfrom(100)[0] == b"audited"
    finally:
        _audited.clear()
        server.server_close()


def test_udp_server_socket_on_ipv6(impl):
    class S6(impl.UDPServer):
        address_family = socket.AF_INET6

    server = S6(("::1", 0), impl.BaseRequestHandler)
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as peer:
            peer.settimeout(support.IO_TIMEOUT)
            peer.bind(("::1", 0))
            assert server.socket.sendto(b"six", peer.getsockname()) == 3
            assert peer.recvfrom(100)[0] == b"six"
            with pytest.raises(socket.gaierror):
                server.socket.sendto(b"x", ("127.0.0.1", peer.getsockname()[1]))
    finally:
        server.server_close()


def test_unix_stream_server_echoes(impl, serve, client, tmp_path):
    seen = queue.Queue()

    class Echo(impl.StreamRequestHandler):
        def handle(self):
            seen.put(self.client_address)
            for line in self.rfile:
                self.wfile.write(line)

    path = str(tmp_path / "stream.sock")
    r = serve(impl.UnixStreamServer(path, Echo))
    assert r.address == path
    c = client(path, family=socket.AF_UNIX)
    c.sendall(b"over unix\n")
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == b"over unix\n"
    assert seen.get(timeout=5) == ""          # unnamed client socket: address ''


def test_unix_datagram_server_replies_to_bound_client(impl, serve, tmp_path):
    class Upper(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data.upper(), self.client_address)

    path = str(tmp_path / "dgram.sock")
    r = serve(impl.UnixDatagramServer(path, Upper))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.settimeout(support.IO_TIMEOUT)
        c.bind(str(tmp_path / "client.sock"))
        c.sendto(b"unix datagram", r.address)
        assert c.recvfrom(1024) == (b"UNIX DATAGRAM", r.address)


def test_forking_tcp_server_handles_requests_in_child_processes(impl, serve, client):
    parent = os.getpid()

    class Pid(impl.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline()
            self.wfile.write(b"%d %s" % (os.getpid(), line))

    r = serve(impl.ForkingTCPServer((HOST, 0), Pid))
    pids = set()
    for i in range(3):
        c = client(r.address)
        c.sendall(b"req %d\n" % i)
        pid, rest = recv_all(c).split(b" ", 1)
        assert rest == b"req %d\n" % i
        pids.add(int(pid))
    assert parent not in pids and len(pids) == 3
