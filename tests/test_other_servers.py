"""UDPServer, ThreadingUDPServer, DatagramRequestHandler, UnixStreamServer,
UnixDatagramServer and ForkingTCPServer, stdlib and pyfast."""

import os
import queue
import socket

import pytest

import support
from support import HOST, recv_all

pytestmark = pytest.mark.timeout(20)


def udp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(support.IO_TIMEOUT)
    s.bind((HOST, 0))
    return s


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
    class Echo(impl.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data, self.client_address)

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
