"""PROXY protocol (pyfast.proxy): client_address is the real client's for
threaded, plain, cooperative and HTTP servers; bad headers close only their
connection, logged, and no byte of them reaches a handler.

pyfast only: the standard library has no PROXY protocol.  Headers are
built here byte for byte from HAProxy's spec (doc/proxy-protocol.txt);
tests/test_proxy_haproxy.py runs the same servers behind a real HAProxy.
"""
import ipaddress
import logging
import socket
import struct
import threading
import time

import pytest

import support

pytestmark = pytest.mark.timeout(60)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src=("192.0.2.7", 56324), dst=("198.51.100.1", 443)):
    """A v1 header for a TCP4/TCP6 connection from src to dst."""
    proto = "TCP6" if ":" in src[0] else "TCP4"
    return f"PROXY {proto} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


def v2(src=("192.0.2.7", 56324), dst=("198.51.100.1", 443), command=1, tlvs=b""):
    """A v2 PROXY (command 1) or LOCAL (0) header, TCP over the family of
    src, followed by tlvs (opaque bytes)."""
    if src is None:
        return V2_SIG + bytes([0x20 | command, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    fam = 0x11 if a.version == 4 else 0x21
    block = a.packed + b.packed + struct.pack("!HH", src[1], dst[1]) + tlvs
    return V2_SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(block)) + block


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


# --------------------------------------------------------------- servers

def _handler_class(socketserver, seen, kind=None):
    if kind is _message:
        class Lines(socketserver.MessageHandler):
            """The same replies from the C message loop."""

            def handle_message(self, line):
                seen.append((self.client_address, line + b"\n"))
                self.send_message(repr(self.client_address).encode() + b"|" + line)

        return Lines

    class Echo(socketserver.StreamRequestHandler):
        """Replies "<client_address>|<first line>" and records the call."""

        def handle(self):
            line = self.rfile.readline()
            seen.append((self.client_address, line))
            self.wfile.write(repr(self.client_address).encode() + b"|" + line)

    return Echo


def _threaded(socketserver):
    return socketserver.ThreadingTCPServer


def _plain(socketserver):
    return socketserver.TCPServer


def _cooperative(socketserver):
    from pyfast import cooperative
    return cooperative.CooperativeTCPServer


def _message(socketserver):
    return socketserver.TCPServer      # with a MessageHandler: the C message loop


KINDS = [pytest.param(_threaded, id="threaded"),
         pytest.param(_cooperative, id="cooperative"),
         pytest.param(_plain, id="plain"),
         pytest.param(_message, id="message")]


@pytest.fixture(params=KINDS)
def proxied(request, pyfast_impl, serve):
    """proxied(**attrs) -> (address, seen): a pyfast server of each kind with
    proxy_protocol on (attrs set on the instance), serving the Echo
    handler; seen lists (client_address, line) per handler call."""
    def start(**attrs):
        seen = []
        cls = request.param(pyfast_impl)
        server = cls((support.HOST, 0), _handler_class(pyfast_impl, seen, request.param))
        server.proxy_protocol = True
        for k, v in attrs.items():
            setattr(server, k, v)
        serve(server)
        return server.server_address, seen
    start.kind = request.param
    return start


def _ask(client, address, data, shut=True):
    sock = client(address)
    sock.sendall(data)
    if shut:
        sock.shutdown(socket.SHUT_WR)
    return support.recv_all(sock)


def _refused(client, address, data):
    """True if the server closes a connection that sent data (EOF or a
    reset, perhaps already while sending)."""
    sock = client(address)
    try:
        sock.sendall(data)
    except OSError:
        return True
    return support.is_closed_by_peer(sock)


def test_v1_header_and_data_and_fin_in_one_segment(proxied, client):
    address, seen = proxied()
    reply = _ask(client, address, v1() + b"hello\n")
    assert reply == b"('192.0.2.7', 56324)|hello\n"
    assert seen == [(("192.0.2.7", 56324), b"hello\n")]


def test_v2_ipv6_with_tlvs_skipped(proxied, client):
    address, seen = proxied()
    hdr = v2(("2001:db8::7", 4242), ("2001:db8::1", 80),
             tlvs=tlv(0x04, b"x" * 300) + tlv(0x05, b"unique-id"))
    reply = _ask(client, address, hdr + b"six\n")
    assert reply == b"('2001:db8::7', 4242, 0, 0)|six\n"


def test_header_split_across_reads_is_reassembled(proxied, client):
    address, seen = proxied()
    sock = client(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = v2(("203.0.113.5", 7), tlvs=tlv(0x04, b"y" * 40)) + b"late\n"
    for i in range(0, len(data), 7):
        sock.sendall(data[i:i + 7])
        time.sleep(0.01)
    sock.shutdown(socket.SHUT_WR)
    assert support.recv_all(sock) == b"('203.0.113.5', 7)|late\n"


@pytest.mark.parametrize("header", [pytest.param(v2(None, command=0), id="v2-local"),
                                    pytest.param(v2(command=0), id="v2-local-with-address"),
                                    pytest.param(b"PROXY UNKNOWN\r\n", id="v1-unknown")])
def test_local_and_unknown_keep_the_proxys_address(proxied, client, header):
    address, seen = proxied()
    sock = client(address)
    sock.sendall(header + b"check\n")
    sock.shutdown(socket.SHUT_WR)
    reply = support.recv_all(sock)
    assert reply == repr(sock.getsockname()).encode() + b"|check\n"


BAD = [
    pytest.param(b"GET / HTTP/1.0\r\n\r\n", "no PROXY protocol header", id="missing"),
    pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nhello\n", "bad port", id="malformed-v1"),
    pytest.param(b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n", "107 bytes", id="oversized-v1"),
    pytest.param(v2(tlvs=b"z" * 3000) + b"hello\n", "longer than the limit", id="oversized-v2"),
    pytest.param(V2_SIG + b"\x31\x11\x00\x0c" + bytes(12), "version", id="malformed-v2"),
]


@pytest.mark.parametrize("data, reason", BAD)
def test_bad_header_closes_that_connection_only_logged(proxied, client, caplog, data, reason):
    address, seen = proxied()
    with caplog.at_level(logging.WARNING, logger="pyfast.proxy"):
        # a plain TCPServer serves one connection at a time: good waits
        good = client(address) if proxied.kind is not _plain else None
        assert _refused(client, address, data)
        assert support.wait_until(lambda: reason in caplog.text), caplog.text
        good = good or client(address)
        good.sendall(v1(("192.0.2.1", 1)) + b"ok\n")
        good.shutdown(socket.SHUT_WR)
        assert support.recv_all(good) == b"('192.0.2.1', 1)|ok\n"
    assert seen == [(("192.0.2.1", 1), b"ok\n")]   # no byte of bad reached a handler


def test_untrusted_peer_closed_before_reading_trusted_served(proxied, client, caplog):
    address, seen = proxied(proxy_trusted=["10.0.0.0/8", "2001:db8::/32"])
    with caplog.at_level(logging.WARNING, logger="pyfast.proxy"):
        assert _refused(client, address, v1() + b"spoof\n")
        assert support.wait_until(lambda: "not in proxy_trusted" in caplog.text)
    assert seen == []
    address, seen = proxied(proxy_trusted=[ipaddress.ip_network("127.0.0.0/8")])
    assert _ask(client, address, v1() + b"fine\n") == b"('192.0.2.7', 56324)|fine\n"


def test_stalled_half_header_closed_after_proxy_timeout_others_served(proxied, client, caplog):
    address, seen = proxied(proxy_timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="pyfast.proxy"):
        stalled = [client(address) for _ in range(3)]
        for s in stalled:
            s.sendall(v1()[:20])
        t0 = time.monotonic()
        if proxied.kind is not _plain:  # a plain TCPServer serves one at a time
            assert _ask(client, address, v1(("192.0.2.2", 2)) + b"x\n") \
                == b"('192.0.2.2', 2)|x\n"
            assert time.monotonic() - t0 < 0.45, "a stalled client delayed another"
        for s in stalled:
            assert support.is_closed_by_peer(s)
        assert time.monotonic() - t0 < 4.0
        assert support.wait_until(lambda: "proxy_timeout" in caplog.text)
    assert all(addr != ("192.0.2.7", 56324) for addr, _ in seen)


def test_reset_mid_header_closes_that_connection(proxied, client, caplog):
    address, seen = proxied()
    with caplog.at_level(logging.WARNING, logger="pyfast.proxy"):
        sock = client(address)
        sock.sendall(v2()[:10])
        time.sleep(0.05)
        support.reset_close(sock)
        assert support.wait_until(lambda: "closed" in caplog.text)
    assert _ask(client, address, v1() + b"next\n") == b"('192.0.2.7', 56324)|next\n"
    assert [line for _, line in seen] == [b"next\n"]


def test_peer_that_never_reads_does_not_hold_the_header_step(proxied, client):
    # The header step only reads: a client that sends a header and a large
    # request without reading its reply costs its own handler, nothing else.
    address, seen = proxied()
    hog = client(address)
    hog.sendall(v1(("192.0.2.9", 9)) + b"a" * 100 + b"\n")
    assert _ask(client, address, v1(("192.0.2.3", 3)) + b"b\n") == b"('192.0.2.3', 3)|b\n"


def test_without_proxy_protocol_header_bytes_reach_the_handler(pyfast_impl, serve, client):
    seen = []
    server = pyfast_impl.ThreadingTCPServer((support.HOST, 0), _handler_class(pyfast_impl, seen))
    serve(server)
    reply = _ask(client, server.server_address, b"PROXY UNKNOWN\r\n")
    assert reply.endswith(b"|PROXY UNKNOWN\r\n")


# ------------------------------------------------------------------ HTTP

def _http_servers():
    from pyfast import cooperative
    from pyfast.http import server as http_server
    return {"threading": http_server.ThreadingHTTPServer,
            "cooperative": cooperative.CooperativeHTTPServer}


def http_server_logging(kind, logged):
    """A `kind` pyfast HTTP server with proxy_protocol on, serving
    support.hello_http_handler; its log lines (as log_message writes them,
    address first) are appended to logged."""
    import http.server

    class Hello(support.hello_http_handler(http.server.BaseHTTPRequestHandler)):
        def log_message(self, format, *args):
            logged.append("%s - - %s" % (self.address_string(), format % args))

    server = _http_servers()[kind]((support.HOST, 0), Hello)
    server.proxy_protocol = True
    return server


@pytest.mark.parametrize("kind", ["threading", "cooperative"])
def test_http_handler_and_its_log_lines_see_the_real_client(pyfast_impl, serve, client, kind):
    logged = []
    server = http_server_logging(kind, logged)
    serve(server)
    sock = client(server.server_address)
    sock.sendall(v2(("203.0.113.77", 5555)) + b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = support.recv_all(sock)
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.endswith(b"hello /b")
    assert support.wait_until(lambda: len(logged) == 2)
    assert all(line.startswith("203.0.113.77 - - ") for line in logged), logged


def test_many_stalled_clients_do_not_stall_accept(pyfast_impl, serve, client):
    seen = []
    server = pyfast_impl.ThreadingTCPServer((support.HOST, 0), _handler_class(pyfast_impl, seen))
    server.proxy_protocol = True
    server.proxy_timeout = 2.0
    serve(server)
    silent = [client(server.server_address) for _ in range(50)]
    t0 = time.monotonic()
    for i in range(5):
        reply = _ask(client, server.server_address, v1(("192.0.2.50", 100 + i)) + b"go\n")
        assert reply == f"('192.0.2.50', {100 + i})|go\n".encode()
    assert time.monotonic() - t0 < 1.5
    for s in silent:
        s.close()


def test_trusted_peer_matching():
    from pyfast import proxy

    class S:
        proxy_trusted = ["10.0.0.0/8", "::1", ipaddress.ip_network("192.0.2.0/24")]

    s = S()
    assert proxy.trusted_peer(s, ("10.1.2.3", 1))
    assert proxy.trusted_peer(s, ("192.0.2.200", 1))
    assert proxy.trusted_peer(s, ("::ffff:10.9.9.9", 1, 0, 0))   # IPv4-mapped
    assert proxy.trusted_peer(s, ("::1", 1, 0, 0))
    assert not proxy.trusted_peer(s, ("127.0.0.1", 1))
    assert not proxy.trusted_peer(s, ("fe80::1%lo", 1, 0, 1))
    assert proxy.trusted_peer(s, "")           # AF_UNIX peer
    s.proxy_trusted = None
    assert proxy.trusted_peer(s, ("127.0.0.1", 1))


def test_header_parser_api():
    from pyfast.proxy import HeaderParser, ProxyProtocolError
    p = HeaderParser()
    assert p.feed(b"PROXY TCP4 1.2.3.4 ") is None and not p.done
    assert p.feed(b"5.6.7.8 10 20\r\nrest") == 15
    assert (p.done, p.version, p.local, p.length) == (True, 1, False, 34)
    assert (p.source, p.destination) == (("1.2.3.4", 10), ("5.6.7.8", 20))
    p = HeaderParser()
    assert p.feed(v2(None, command=0)) == 16 and p.local and p.source is None
    with pytest.raises(ProxyProtocolError) as exc:
        HeaderParser().feed(b"\x16\x03\x01")
    assert exc.value.kind == "missing"
    with pytest.raises(ProxyProtocolError) as exc:
        HeaderParser(200).feed(v2(tlvs=b"t" * 300))
    assert exc.value.kind == "oversized"
    with pytest.raises(ValueError):
        HeaderParser(50)


def test_forking_server_reads_the_header_in_the_child(pyfast_impl, serve, client):
    seen = []
    server = pyfast_impl.ForkingTCPServer((support.HOST, 0), _handler_class(pyfast_impl, seen))
    server.proxy_protocol = True
    serve(server)
    assert _ask(client, server.server_address, v2(("198.51.100.4", 44)) + b"fork\n") \
        == b"('198.51.100.4', 44)|fork\n"
    assert _refused(client, server.server_address, b"no header\n")
