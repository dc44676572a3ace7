"""Bad input on a TLS port (pyfast.tls): each closes that connection only,
logged on "pyfast.tls", never the server; descriptors and memory return to
their level.  Threaded, cooperative and message servers (FAULT_MODELS);
loopback only."""
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import psutil
import pytest

import support
from test_tls import (EchoHandler, MODELS, THREAD_MODELS, ca, client_context,  # noqa: F401
                      running, server_context, tls_connect)

import pyfast
from pyfast.message import EchoMessageHandler

pytestmark = pytest.mark.timeout(180)


class MessageEcho(EchoMessageHandler):
    """The message model's echo: each chunk read is sent back (raw
    framing), so a client sees what EchoHandler would send it."""
    framing = "raw"


#: The models whose handshakes run off the serving thread: the threaded and
#: cooperative servers (EchoHandler) and a message server (MessageEcho).
FAULT_MODELS = THREAD_MODELS + ["message"]


def serving(model, context, **attrs):
    """test_tls.running for one of FAULT_MODELS, serving an echo."""
    if model == "message":
        return running(pyfast.TCPServer, MessageEcho, context, **attrs)
    return running(MODELS[model], EchoHandler, context, **attrs)


def client_hello(context=None):
    """The bytes of a real ClientHello (an SSLObject over memory BIOs)."""
    if context is None:
        context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def still_serves(address, context):
    with tls_connect(address, context) as c:
        c.sendall(b"alive")
        return support.recv_exact(c, 5) == b"alive"


def closed_by_server(s):
    """Read until the server closes (EOF or reset); what came before it
    (an alert, perhaps)."""
    try:
        return support.recv_all(s)
    except ConnectionResetError:
        return b""


def refused(caplog, text):
    return support.wait_until(lambda: any(
        r.name == "pyfast.tls" and text in r.getMessage() for r in caplog.records))


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_plaintext_http_to_the_tls_port(model, server_context, client_context, caplog):
    """An HTTP request in the clear: that connection is closed and logged,
    never echoed."""
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    with serving(model, server_context) as server:
        with support.connect(server.server_address) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = closed_by_server(s)
        assert b"HTTP" not in data        # an alert at most, never an echo
        assert refused(caplog, "refused")
        assert still_serves(server.server_address, client_context)


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_truncated_client_hello_then_fin(model, server_context, client_context, caplog):
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    hello = client_hello()
    with serving(model, server_context) as server:
        with support.connect(server.server_address) as s:
            s.sendall(hello[:len(hello) // 2])
            s.shutdown(socket.SHUT_WR)
            closed_by_server(s)
        assert refused(caplog, "TLS handshake with")
        assert still_serves(server.server_address, client_context)


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_reset_mid_handshake(model, server_context, client_context, caplog):
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    hello = client_hello()
    with serving(model, server_context) as server:
        s = support.connect(server.server_address)
        s.sendall(hello[:40])
        time.sleep(0.1)
        support.reset_close(s)
        assert refused(caplog, "TLS handshake with")
        assert still_serves(server.server_address, client_context)


def no_shared_version(ca):
    """(client context with TLS 1.2 at most, server context with TLS 1.3
    at least, a client context that can talk to that server)."""
    old = ssl.create_default_context()
    ca.configure_trust(old)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    strict = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(strict)
    strict.minimum_version = ssl.TLSVersion.TLSv1_3
    good = ssl.create_default_context()
    ca.configure_trust(good)
    return old, strict, good


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_no_shared_protocol_version(model, server_context, ca, caplog):
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    old, strict, good = no_shared_version(ca)
    with serving(model, strict) as server:
        with pytest.raises(ssl.SSLError):
            tls_connect(server.server_address, old)
        assert refused(caplog, "refused")
        assert still_serves(server.server_address, good)


def served_then_raw(address, context):
    """A TLS connection to an echo at address, served once ("x" then
    "\\n" back), then its TCP socket without the TLS layer."""
    c = tls_connect(address, context)
    c.sendall(b"x\n")
    assert support.recv_exact(c, 2) == b"x\n"
    raw = socket.socket(fileno=c.detach())
    raw.settimeout(support.IO_TIMEOUT)
    return raw


def send_bad_record(raw, end):
    """end "fin": a record header announcing more than comes, then FIN;
    "garbage": a whole application-data record that does not decrypt."""
    if end == "fin":
        raw.sendall(b"\x17\x03\x03\x04\x00" + b"\x00" * 10)
        raw.shutdown(socket.SHUT_WR)
    else:
        raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))


@pytest.mark.parametrize("end", ["fin", "garbage"])
@pytest.mark.parametrize("model", FAULT_MODELS)
def test_bad_record_after_the_handshake(model, end, server_context, client_context):
    """A record cut short by the FIN, or one that does not decrypt: that
    connection ends (EOF or an SSL error in the handler, which goes to
    handle_error; a message handler's close_reason), the server serves on."""
    with serving(model, server_context) as server:
        with served_then_raw(server.server_address, client_context) as raw:
            send_bad_record(raw, end)
            closed_by_server(raw)
        assert still_serves(server.server_address, client_context)


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_handshake_timeout_closes_a_silent_client_at_debug(model, server_context,
                                                           client_context, caplog):
    """A client that sends nothing, and one that trickles its ClientHello a
    byte at a time, are both closed at handshake_timeout, logged at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="pyfast.tls")
    with serving(model, server_context, handshake_timeout=0.3) as server:
        with support.connect(server.server_address, timeout=10) as s:
            t0 = time.monotonic()
            assert support.is_closed_by_peer(s)
            assert time.monotonic() - t0 < 5
        with support.connect(server.server_address, timeout=10) as s:
            t0 = time.monotonic()
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                for b in client_hello() * 10:
                    s.sendall(bytes([b]))
                    time.sleep(0.02)
            assert time.monotonic() - t0 < 5
        assert still_serves(server.server_address, client_context)
    assert support.wait_until(lambda: any(
        r.name == "pyfast.tls" and r.levelno == logging.DEBUG and "timed out" in r.getMessage()
        for r in caplog.records))


def renegotiation_attempt(address):
    """openssl s_client over TLS 1.2 to address: sends "hello", asks to
    renegotiate ("R"), then "after".  Returns what s_client printed."""
    host, port = address
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        for line in (b"hello\n", b"R\n"):   # s_client reads a command per read()
            proc.stdin.write(line)
            proc.stdin.flush()
            time.sleep(0.5)
        try:
            proc.stdin.write(b"after\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass   # s_client ended: the server refused and closed
        time.sleep(0.3)
    finally:
        out = proc.communicate(timeout=20)[0]
    return out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
@pytest.mark.parametrize("model", FAULT_MODELS)
def test_client_renegotiation_attempt(model, server_context, client_context):
    """openssl s_client over TLS 1.2 asks to renegotiate ("R"): OpenSSL 3
    refuses client renegotiation; that connection at most ends, the
    server serves on."""
    with serving(model, server_context) as server:
        out = renegotiation_attempt(server.server_address)
        assert b"hello" in out           # served before the attempt
        assert b"RENEGOTIATING" in out   # the attempt was made
        assert still_serves(server.server_address, client_context)


def _bad_handshakes(address, n, hello):
    """n connections that each fail their handshake another way."""
    for i in range(n):
        s = socket.create_connection(address, timeout=5)
        kind = i % 4
        try:
            if kind == 0:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                closed_by_server(s)
            elif kind == 1:
                s.sendall(hello[:len(hello) // 2])
                s.shutdown(socket.SHUT_WR)
                closed_by_server(s)
            elif kind == 2:
                s.sendall(hello[:30])
                support.reset_close(s)
                continue
            else:
                s.sendall(os.urandom(600))
                closed_by_server(s)
        except OSError:
            pass
        s.close()


def bad_handshakes_leave_no_trace(address, serves):
    """200 bad handshakes (warm-up: threads, caches), then 1,000: serves()
    is true after each round and the descriptors come back to their level.
    Returns how much this process's RSS grew over the 1,000."""
    hello = client_hello()
    proc = psutil.Process()
    _bad_handshakes(address, 200, hello)
    assert serves()
    fds = support.fd_count()
    rss = proc.memory_info().rss
    _bad_handshakes(address, 1000, hello)
    assert serves()
    assert support.wait_until(lambda: support.fd_count() <= fds, timeout=20), \
        (support.fd_count(), fds)
    return proc.memory_info().rss - rss


@pytest.mark.parametrize("model", FAULT_MODELS)
def test_1000_bad_handshakes_return_fds_and_memory(model, server_context, client_context,
                                                   caplog):
    caplog.set_level(logging.CRITICAL, logger="pyfast.tls")
    with serving(model, server_context) as server:
        address = server.server_address
        grown = bad_handshakes_leave_no_trace(address,
                                              lambda: still_serves(address, client_context))
        if model == "message":    # the C loop counts its refusals
            assert support.wait_until(
                lambda: server._message_loop.stats["connections"] == 0)
            assert server._message_loop.stats["tls_refused"] >= 1000
    # A leaked SSL object per connection (tens of KiB each) would exceed it.
    assert grown < 8 * 1024 * 1024, grown


def test_silent_clients_cost_no_worker_thread_on_a_threaded_server(server_context, client_context):
    """1,000 clients that connect and never send a ClientHello wait in the
    server's waiting room (one thread, one epoll), not on worker threads:
    the pool never grows past max_workers (no overflow thread, though each
    waits far longer than worker_overflow_after), normal clients are served
    meanwhile, and once the silent ones hang up every descriptor is back."""
    n_silent = int(os.environ.get("PYFAST_TEST_SILENT", 1000))
    max_workers = 8
    with running(MODELS["threading"], EchoHandler, server_context, handshake_timeout=60,
                 request_queue_size=2048, max_workers=max_workers, worker_overflow_after=0.2) as server:
        address = server.server_address
        assert still_serves(address, client_context)    # warm up, the waiting room too
        room = lambda: len(getattr(server, "_tls_room", None) or ())  # noqa: E731
        with support.connect(address):
            support.wait_until(lambda: room() == 1, timeout=3)   # not asserted: counted below
        support.wait_until(lambda: room() == 0, timeout=3)
        fds_before = support.fd_count()
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], server._pool.stats["workers"])
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        silent = []
        try:
            for _ in range(n_silent):
                silent.append(support.connect(address))
            time.sleep(1.0)    # 5x worker_overflow_after: a held worker would have overflowed
            for i in range(5):
                with tls_connect(address, client_context, timeout=10) as c:
                    c.sendall(b"hello %d" % i)
                    assert support.recv_exact(c, 7) == b"hello %d" % i
            stop.set()
            watcher.join()
            assert peak[0] <= max_workers, f"{peak[0]} worker threads for {max_workers} max_workers"
            assert support.wait_until(lambda: room() == n_silent, timeout=20), room()
        finally:
            stop.set()
            for s in silent:
                s.close()
        assert support.wait_until(lambda: room() == 0, timeout=20)
        assert support.wait_until(lambda: support.fd_count() <= fds_before, timeout=20), \
            (support.fd_count(), fds_before)
        assert still_serves(address, client_context)
