"""TLS on message servers (pyfast.message with server.ssl_context): the C
loop decrypts before framing and encrypts queued replies (csrc/pf_tls.c
over the libssl CPython's _ssl loaded).  Behaviour, the handler's view of
its connection, and the bad inputs of issue 15: each closes that
connection only, logged on "pyfast.tls", never the server.  Loopback only;
certificates made at test time by trustme (fixtures of test_tls)."""
import hashlib
import logging
import os
import socket
import ssl
import threading
import time

import pytest

import support
from test_tls import (_copy_context, ca, client_context, running, server_context,  # noqa: F401
                      tls_connect)
from test_cooperative import many_fds  # noqa: F401
from test_frame_c import run_c_tests, toolchain  # noqa: F401
from test_tls_faults import closed_by_server, refused, send_bad_record, served_then_raw

import pyfast
from pyfast.message import MessageHandler, TLSInfo

pytestmark = pytest.mark.timeout(120)


class LineEcho(MessageHandler):
    def handle_message(self, msg):
        self.send_message(msg)


class Len32Echo(LineEcho):
    framing = "len32"
    max_size = 1 << 20


def serve(handler, context, **attrs):
    """A running message TCPServer (test_tls.running) on context."""
    return running(pyfast.TCPServer, handler, context, **attrs)


def stats(server):
    return server._message_loop.stats


def still_serves(address, context):
    with tls_connect(address, context) as c:
        c.sendall(b"alive\n")
        return support.recv_until(c, b"\n") == b"alive\n"


# ------------------------------------------------------------------ behaviour

def test_pf_tls_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    """tests/c/test_tls.c: loading OpenSSL from the process, the SSL_CTX
    check, bad input on a connection (no certificates needed)."""
    run_c_tests(toolchain, tmp_path, "test_tls", ["pf_tls.c", "pf_common.c"], timeout=60)


@pytest.mark.parametrize("loop_threads", [1, 2])
def test_line_echo_over_tls(server_context, client_context, loop_threads):
    with serve(LineEcho, server_context, loop_threads=loop_threads) as server:
        clients = [tls_connect(server.server_address, client_context) for _ in range(4)]
        try:
            for c in clients:
                assert c.version() == "TLSv1.3"
                lines = [b"a\n", b"bb" * 20000 + b"\n", b"ccc\n"]
                c.sendall(b"".join(lines))
                for line in lines:
                    assert support.recv_until(c, b"\n") == line
        finally:
            for c in clients:
                c.close()
        assert support.wait_until(lambda: sum(
            loop.stats["handshakes"] for loop in server._message_loops) == 4)


def test_len32_messages_larger_than_a_record(server_context, client_context):
    """A 500 KB message spans ~31 TLS records: framed after decryption."""
    with serve(Len32Echo, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            for size in (0, 1, 16384, 500_000):
                data = os.urandom(size)
                c.sendall(len(data).to_bytes(4, "big") + data)
                assert support.recv_exact(c, 4 + size) == len(data).to_bytes(4, "big") + data


def test_many_pipelined_messages_in_one_flight(server_context, client_context):
    """10,000 lines sent at once: more decrypted input than one read has
    room for (the loop comes back for what OpenSSL holds), every reply in
    order."""
    n = 10_000
    with serve(LineEcho, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            payload = b"".join(b"%06d\n" % i for i in range(n))
            c.sendall(payload)
            assert support.recv_exact(c, len(payload)) == payload


def test_messages_then_fin_in_one_flight_are_all_answered(server_context, client_context):
    """Records and the FIN together (no close_notify): the messages are
    handled, their replies written, then the server closes (close_notify
    and FIN)."""
    with serve(LineEcho, server_context) as server:
        c = tls_connect(server.server_address, client_context)
        c.sendall(b"one\ntwo\nthree\n")
        with socket.socket(fileno=os.dup(c.fileno())) as raw:
            raw.shutdown(socket.SHUT_WR)   # the TCP FIN, no close_notify
        data = b""
        while True:
            chunk = c.recv(100)
            if not chunk:
                break
            data += chunk
        c.close()
        assert data == b"one\ntwo\nthree\n"


def test_unix_stream_server_over_tls(tmp_path, server_context, client_context):
    path = str(tmp_path / "s")
    server = pyfast.UnixStreamServer(path, LineEcho)
    server.ssl_context = server_context
    r = support.Running(server, 0.05)
    try:
        with tls_connect(path, client_context, family=socket.AF_UNIX) as c:
            c.sendall(b"over unix\n")
            assert support.recv_until(c) == b"over unix\n"
    finally:
        assert not r.stop()


def recording_close_reasons():
    """(a LineEcho handler class, the list its finish() appends each
    connection's close_reason to)."""
    closed = []

    class H(LineEcho):
        def finish(self):
            closed.append(self.close_reason)

    return H, closed


def test_reset_mid_message_closes_that_connection_only(server_context, client_context):
    handler, closed = recording_close_reasons()
    with serve(handler, server_context) as server:
        c = tls_connect(server.server_address, client_context)
        c.sendall(b"whole\npart of a li")
        assert support.recv_until(c) == b"whole\n"
        raw = socket.socket(fileno=c.detach())
        support.reset_close(raw)
        assert support.wait_until(lambda: closed)
        assert isinstance(closed[0], ConnectionResetError), closed
        assert still_serves(server.server_address, client_context)


class Info(MessageHandler):
    seen = []

    def setup(self):
        t = self.tls
        Info.seen.append((t, t.version(), t.cipher(), t.selected_alpn_protocol(),
                          t.getpeercert(), t.getpeercert(binary_form=True)))

    def handle_message(self, msg):
        self.send_message(msg)


def test_handler_reads_version_cipher_and_alpn_in_setup(server_context, ca):
    Info.seen = []
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(["x-pyfast", "http/1.1"])
    sctx = _copy_context(server_context, ca)
    sctx.set_alpn_protocols(["x-pyfast"])
    with serve(Info, sctx) as server:
        with tls_connect(server.server_address, ctx) as c:
            c.sendall(b"x\n")
            assert support.recv_until(c, b"\n") == b"x\n"
            client_cipher = c.cipher()
    [(info, version, cipher, alpn, cert, der)] = Info.seen
    assert isinstance(info, TLSInfo)
    assert version == "TLSv1.3"
    assert cipher == client_cipher
    assert alpn == "x-pyfast"
    assert cert is None and der is None      # no client certificate asked for


def test_plaintext_server_has_no_tls_info():
    seen = []

    class H(LineEcho):
        def setup(self):
            seen.append(self.tls)

    with serve(H, None) as server:
        with support.connect(server.server_address) as c:
            c.sendall(b"x\n")
            assert support.recv_until(c) == b"x\n"
    assert seen == [None]


def test_client_certificate_required(ca, client_context, caplog):
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    Info.seen = []
    sctx = _copy_context(None, ca, ssl.CERT_REQUIRED)
    with serve(Info, sctx) as server:
        # Without a certificate: refused at the handshake (TLS 1.3: the
        # client learns it at its first read); no handler made.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with tls_connect(server.server_address, client_context) as c:
                c.sendall(b"?\n")
                if not c.recv(100):
                    raise ConnectionError("closed")
        assert refused(caplog, "refused")
        assert Info.seen == []
        assert stats(server)["tls_refused"] == 1
        # With one the CA issued: served, and the handler reads it.
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        ca.issue_cert("client@example.org").configure_cert(ctx)
        with tls_connect(server.server_address, ctx) as c:
            c.sendall(b"?\n")
            assert support.recv_until(c, b"\n") == b"?\n"
    [(info, _, _, _, cert, der)] = Info.seen
    assert cert["subjectAltName"] == (("email", "client@example.org"),)
    assert ssl.DER_cert_to_PEM_cert(der).startswith("-----BEGIN CERTIFICATE-----")


def test_1000_silent_clients_while_normal_clients_are_served(server_context, client_context,
                                                              many_fds):
    n_silent = int(os.environ.get("PYFAST_TEST_SILENT", 1000))
    with serve(LineEcho, server_context, handshake_timeout=60,
               request_queue_size=2048) as server:
        address = server.server_address
        assert still_serves(address, client_context)   # warm up
        fds_before = support.fd_count()
        silent = []
        try:
            for _ in range(n_silent):
                silent.append(support.connect(address))
            assert support.wait_until(
                lambda: stats(server)["connections"] >= n_silent, timeout=30)
            t0 = time.monotonic()
            for i in range(5):
                with tls_connect(address, client_context, timeout=30) as c:
                    c.sendall(b"hello %d\n" % i)
                    assert support.recv_until(c) == b"hello %d\n" % i
            served_in = time.monotonic() - t0
        finally:
            for s in silent:
                s.close()
        assert served_in < 10     # generous: a stall would wait for handshake_timeout
        assert support.wait_until(lambda: support.fd_count() <= fds_before, timeout=30), \
            (support.fd_count(), fds_before)
        assert support.wait_until(lambda: stats(server)["connections"] == 0)


def test_idle_and_message_timeouts_keep_their_meaning(server_context, client_context):
    closed = []

    class Timed(LineEcho):
        idle_timeout = 0.3

        def finish(self):
            closed.append(self.close_reason)

    with serve(Timed, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            c.sendall(b"x\n")
            assert support.recv_until(c) == b"x\n"
            t0 = time.monotonic()
            assert c.recv(10) == b""     # idle: closed (close_notify)
            assert time.monotonic() - t0 < 5
    assert support.wait_until(lambda: closed)
    assert isinstance(closed[0], TimeoutError)


# ------------------------------------------------------------- backpressure, drain

class Big(MessageHandler):
    """Answers "N\\n" with N bytes (a repeating pattern)."""
    high_water = 64 * 1024
    low_water = 16 * 1024
    queued_after = []

    def handle_message(self, msg):
        n = int(msg)
        self.send((b"0123456789abcdef" * (n // 16 + 1))[:n])
        Big.queued_after.append(self.queued)


def _pattern(n):
    return (b"0123456789abcdef" * (n // 16 + 1))[:n]


def test_16mb_reply_to_a_slow_reader_counts_plaintext(server_context, client_context):
    """A 16 MB reply is queued as plaintext (queued == 16 MB, not its
    ciphertext) and encrypted 64 KiB at a time as the client reads."""
    Big.queued_after = []
    size = 16 * 1024 * 1024
    with serve(Big, server_context) as server:
        with tls_connect(server.server_address, client_context, timeout=30) as c:
            c.sendall(b"%d\n" % size)
            time.sleep(0.5)              # a slow reader: nothing read for a while
            h = hashlib.sha256()
            got = 0
            while got < size:
                chunk = c.recv(1 << 20)
                assert chunk
                h.update(chunk)
                got += len(chunk)
                if got < 1 << 20:
                    time.sleep(0.01)
            assert got == size
            assert h.digest() == hashlib.sha256(_pattern(size)).digest()
    # After the first SSL_write at most 64 KiB of it was taken from the queue.
    assert size - 64 * 1024 <= Big.queued_after[0] <= size


def test_backpressure_pauses_a_client_that_does_not_read(server_context, client_context):
    Big.queued_after = []
    with serve(Big, server_context) as server:
        with tls_connect(server.server_address, client_context) as c:
            n = 200     # 20 MB of replies asked, none read: more than the sockets hold
            c.sendall(b"100000\n" * n)
            assert support.wait_until(lambda: stats(server)["paused"] >= 1)
            time.sleep(0.3)
            # Handled before the pause: at most high_water + one reply queued.
            assert len(Big.queued_after) < n
            assert max(Big.queued_after) <= Big.high_water + 100000
            data = support.recv_exact(c, n * 100000)
            assert data == _pattern(100000) * n
    assert len(Big.queued_after) == n


def test_queued_replies_are_drained_on_shutdown(server_context, client_context):
    started = threading.Event()

    class Slow(Big):
        def handle_message(self, msg):
            super().handle_message(msg)
            started.set()

    server = pyfast.TCPServer((support.HOST, 0), Slow)
    server.ssl_context = server_context
    server.drain_timeout = 10
    r = support.Running(server, 0.05)
    try:
        c = tls_connect(server.server_address, client_context, timeout=20)
        c.sendall(b"1000000\n")
        assert started.wait(10)
        stopper = threading.Thread(target=server.shutdown)
        stopper.start()            # drains while the client reads
        data = support.recv_exact(c, 1000000)
        assert data == _pattern(1000000)
        assert c.recv(10) == b""   # then close_notify / FIN
        c.close()
        stopper.join(20)
    finally:
        assert not r.stop()


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("end", ["fin", "garbage"])
def test_bad_record_is_the_close_reason_logged_at_info(server_context, client_context,
                                                      caplog, end):
    """A record cut short by the FIN, or one that does not decrypt
    (test_tls_faults.test_bad_record_after_the_handshake for every model):
    the handler's close_reason is an ssl.SSLError, logged at INFO."""
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    handler, closed = recording_close_reasons()
    with serve(handler, server_context) as server:
        with served_then_raw(server.server_address, client_context) as raw:
            send_bad_record(raw, end)
            closed_by_server(raw)
        assert support.wait_until(lambda: closed)
        assert isinstance(closed[0], ssl.SSLError), closed
    assert any(r.name == "pyfast.tls" and r.levelno == logging.INFO
               and "closed TLS connection" in r.getMessage() for r in caplog.records)


# ------------------------------ a PROXY header, then TLS (TLS passthrough)

from test_proxy import v1, v2  # noqa: E402
from test_tls_faults import client_hello  # noqa: E402


class WhoEcho(MessageHandler):
    """Replies "<client_address>|<TLS version>|<line>"."""

    def handle_message(self, msg):
        self.send_message(f"{self.client_address}|{self.tls.version()}|".encode() + msg)


def proxied_tls_handshake(raw, header, context, split=0):
    """A TLS handshake over raw after header, as HAProxy in `mode tcp` with
    send-proxy does it: the header and the ClientHello in one send (split:
    0), or the header in two sends split bytes apart, the ClientHello
    after it in a third.  Returns the SSLObject and its two memory BIOs."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    if split:
        raw.sendall(header[:split])
        time.sleep(0.05)
        raw.sendall(header[split:])
        time.sleep(0.05)
        raw.sendall(outgoing.read())
    else:
        raw.sendall(header + outgoing.read())

    def feed():
        data = raw.recv(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        incoming.write(data)

    support.bio_handshake(raw, obj, outgoing, feed)
    return obj, incoming, outgoing


def ask_tls(raw, tls, line):
    obj, incoming, outgoing = tls
    obj.write(line)
    raw.sendall(outgoing.read())
    while True:
        try:
            data = obj.read(65536)
            if data.endswith(b"\n"):
                return data
        except ssl.SSLWantReadError:
            incoming.write(raw.recv(65536))


@pytest.mark.parametrize("header, split, expect", [
    (v1(("192.0.2.7", 40123)), 0, "('192.0.2.7', 40123)"),
    (v1(("192.0.2.7", 40123)), 17, "('192.0.2.7', 40123)"),
    (v2(("2001:db8::5", 7), ("2001:db8::1", 443)), 0, "('2001:db8::5', 7, 0, 0)"),
    (v2(("2001:db8::5", 7), ("2001:db8::1", 443)), 9, "('2001:db8::5', 7, 0, 0)"),
    (v2(None, command=0), 0, "peer"),   # LOCAL: the proxy's own address
], ids=["v1-one-segment", "v1-split", "v2-one-segment", "v2-split", "v2-local"])
def test_proxy_header_then_tls(server_context, client_context, header, split, expect):
    """The header (plaintext) and the ClientHello in one segment, or the
    header split across reads then the ClientHello: the handler sees the
    header's client as client_address, over TLS 1.3."""
    with serve(WhoEcho, server_context, proxy_protocol=True) as server:
        with support.connect(server.server_address) as raw:
            tls = proxied_tls_handshake(raw, header, client_context, split)
            peer = str(raw.getsockname())
            assert ask_tls(raw, tls, b"hi\n") == \
                f"{peer if expect == 'peer' else expect}|TLSv1.3|hi\n".encode()
        assert stats(server)["handshakes"] == 1
        assert stats(server)["proxy_refused"] == stats(server)["tls_refused"] == 0


def test_proxy_header_then_tls_the_handler_sees_the_client_certificate(server_context, ca):
    """A client certificate under CERT_REQUIRED, behind the header: self.tls
    has it, and the stdlib client (wrap_socket after the header, in its own
    segment) completes the handshake."""
    server_ctx = _copy_context(server_context, ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    ca.issue_cert("client@example.org").configure_cert(client_ctx)
    seen = []

    class Who(LineEcho):
        def setup(self):
            seen.append((self.client_address, self.tls.version(),
                         self.tls.getpeercert()["subjectAltName"]))

    with serve(Who, server_ctx, proxy_protocol=True) as server:
        raw = support.connect(server.server_address)
        raw.sendall(v1(("192.0.2.8", 8)))
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(b"x\n")
            assert support.recv_until(c, b"\n") == b"x\n"
    (address, version, names), = seen
    assert (address, version) == (("192.0.2.8", 8), "TLSv1.3")
    assert ("email", "client@example.org") in names


def test_proxy_header_then_tls_bad_input(server_context, client_context, caplog):
    """A bad header: refused for it ("pyfast.proxy", proxy_refused).  A good
    header then garbage, or a ClientHello cut short by a FIN or a reset:
    refused at the handshake ("pyfast.tls", tls_refused) with the header's client in the
    log.  No handler runs for either; a good client is served meanwhile."""
    caplog.set_level(logging.INFO, logger="pyfast.proxy")
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")   # last: the handler's level
    opened = []

    class Who(WhoEcho):
        def setup(self):
            opened.append(self.client_address)

    with serve(Who, server_context, proxy_protocol=True) as server:
        address = server.server_address
        good = support.connect(address)
        good_tls = proxied_tls_handshake(good, v1(("192.0.2.1", 1)), client_context)
        for data in (b"PROXY TCP4 nonsense\r\n" + client_hello(),
                     v1(("192.0.2.44", 44)) + b"GET / HTTP/1.0\r\n\r\n",
                     v1(("192.0.2.45", 45)) + client_hello()[:40]):
            with support.connect(address) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                closed_by_server(s)
        s = support.connect(address)     # reset mid-handshake
        s.sendall(v1(("192.0.2.47", 47)) + client_hello()[:30])
        time.sleep(0.05)
        support.reset_close(s)
        assert support.wait_until(lambda: stats(server)["proxy_refused"] == 1
                                  and stats(server)["tls_refused"] == 3)
        assert any(r.name == "pyfast.proxy" for r in caplog.records)
        assert refused(caplog, "('192.0.2.44', 44) refused")
        assert refused(caplog, "('192.0.2.45', 45) ended")
        assert refused(caplog, "('192.0.2.47', 47) ended")
        assert ask_tls(good, good_tls, b"ok\n") == b"('192.0.2.1', 1)|TLSv1.3|ok\n"
        good.close()
    assert opened == [("192.0.2.1", 1)]


def test_proxy_header_then_tls_untrusted_peer_refused_before_any_byte(server_context,
                                                                       client_context, caplog):
    caplog.set_level(logging.INFO, logger="pyfast.proxy")
    with serve(WhoEcho, server_context, proxy_protocol=True,
               proxy_trusted=["10.0.0.0/8"]) as server:
        with support.connect(server.server_address) as raw:
            raw.sendall(v1() + client_hello())
            assert closed_by_server(raw) == b""
        assert support.wait_until(lambda: "not in proxy_trusted" in caplog.text)
        assert stats(server)["proxy_refused"] == 1
        assert stats(server)["tls_refused"] == stats(server)["handshakes"] == 0


def test_proxy_header_then_tls_slow_header_and_slow_handshake_time_out(server_context, caplog):
    """Half a header: proxy_timeout; a header and no ClientHello:
    handshake_timeout.  Each refused for its own reason."""
    caplog.set_level(logging.INFO, logger="pyfast.proxy")
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")   # last: the handler's level
    with serve(WhoEcho, server_context, proxy_protocol=True, proxy_timeout=0.3,
               handshake_timeout=0.3) as server:
        with support.connect(server.server_address) as half, \
                support.connect(server.server_address) as silent:
            half.sendall(v1()[:10])
            silent.sendall(v1(("192.0.2.46", 46)))
            assert closed_by_server(half) == b""
            assert closed_by_server(silent) == b""
        assert support.wait_until(lambda: "proxy_timeout" in caplog.text)
        assert refused(caplog, "('192.0.2.46', 46) ended: timed out")
        assert stats(server)["proxy_refused"] == stats(server)["tls_refused"] == 1


@pytest.mark.parametrize("loop_threads", [1, 2])
def test_proxy_header_then_tls_many_connections_return_fds(server_context, client_context,
                                                           loop_threads):
    """300 connections in a row, good and refused by turns (on one loop, or
    handed by the accepting loop to another): the server's descriptors
    come back to their level."""
    with serve(WhoEcho, server_context, proxy_protocol=True,
               loop_threads=loop_threads) as server:
        address = server.server_address
        hello = client_hello()

        def round_(n):
            for i in range(n):
                with support.connect(address) as raw:
                    if i % 3 == 0:
                        tls = proxied_tls_handshake(raw, v2(("192.0.2.9", i)), client_context)
                        assert ask_tls(raw, tls, b"a\n").startswith(b"('192.0.2.9'")
                    elif i % 3 == 1:
                        raw.sendall(v1() + hello[:50])
                        raw.shutdown(socket.SHUT_WR)
                        closed_by_server(raw)
                    else:
                        raw.sendall(b"GARBAGE " * 20)
                        closed_by_server(raw)

        round_(30)
        fds = support.fd_count()
        round_(300)
        assert support.wait_until(lambda: support.fd_count() <= fds, timeout=20), \
            (support.fd_count(), fds)

        def total(key):
            return sum(loop.stats[key] for loop in server._message_loops)

        assert support.wait_until(lambda: total("connections") == 0)
        assert (total("handshakes"), total("tls_refused"), total("proxy_refused")) \
            == (110, 110, 110)


# ------------------------------------------------------- contexts it refuses

def _serve_forever_raises(context, exc, match, **attrs):
    server = pyfast.TCPServer((support.HOST, 0), LineEcho)
    server.ssl_context = context
    for k, v in attrs.items():
        setattr(server, k, v)
    try:
        with pytest.raises(exc, match=match):
            server.serve_forever(0.05)
    finally:
        server.server_close()


def test_context_with_an_sni_callback_is_refused_at_start(server_context, ca):
    ctx = _copy_context(server_context, ca)
    ctx.sni_callback = lambda sslobj, name, c: None
    _serve_forever_raises(ctx, ValueError, "sni_callback")


def test_a_client_context_is_not_served(ca):
    """A client-side context has no certificate: every handshake fails,
    logged, never a crash."""
    ctx = ssl.create_default_context()
    with serve(LineEcho, ctx) as server:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_connect(server.server_address, ssl._create_unverified_context())
