"""pyfast.http.headers.parse_headers gives what http.client.parse_headers
gives: same message (class, header list, payload, defects), same
exceptions, same bytes consumed, for any header block, whether it takes
its fast path (plain blocks on pyfast's C readers) or hands the block to
the stdlib's parser; and the HTTP servers give handlers the same
self.headers as the stdlib's.

The reference is the stdlib function itself (http.client.parse_headers as
it was before pyfast.http.server replaced it), reading an io.BytesIO.
"""

import email.errors
import email.message
import http.client
import http.server
import io
import random
import socket
import ssl
import threading

import pytest

import support
from pyfast import _core
from pyfast.http import headers as fast_headers
import pyfast.http.server as pf_http_server
from pyfast import cooperative

pytestmark = pytest.mark.timeout(120)

STDLIB_PARSE_HEADERS = fast_headers._original
assert STDLIB_PARSE_HEADERS.__module__ == "http.client"


# ---------------------------------------------------------------- helpers

def normalize(obj):
    """A comparable form of a parsed message (recursively) or an exception."""
    if isinstance(obj, BaseException):
        return ("raised", type(obj), obj.args)
    if isinstance(obj, email.message.Message):
        state = dict(vars(obj))
        state["defects"] = [(type(d), d.args) for d in state.get("defects", [])]
        payload = state.get("_payload")
        if isinstance(payload, list):
            state["_payload"] = [normalize(part) for part in payload]
        return ("message", type(obj), state)
    return ("other", obj)


def stdlib_result(block, rest=b"", _class=http.client.HTTPMessage):
    """(normalized result, bytes left unread) of the stdlib's parse_headers
    on block + rest."""
    fp = io.BytesIO(block + rest)
    try:
        result = STDLIB_PARSE_HEADERS(fp, _class)
    except Exception as exc:   # compared, type and args
        result = exc
    return normalize(result), fp.read()


class Feed:
    """A pyfast SocketReader over one end of a socketpair; the other end
    sends data (then EOF when eof is true) from a thread, in chunks of
    chunk bytes (all at once when None)."""

    def __init__(self, data, eof=True, chunk=None, bufsize=-1, reader_class=None):
        self.a, self.b = socket.socketpair()
        self.b.settimeout(support.IO_TIMEOUT)
        self.reader = (reader_class or _core.SocketReader)(self.b, bufsize)
        self.thread = threading.Thread(target=self._send, args=(data, eof, chunk), daemon=True)
        self.thread.start()

    def _send(self, data, eof, chunk):
        try:
            if chunk is None:
                self.a.sendall(data)
            else:
                for i in range(0, len(data), chunk):
                    self.a.sendall(data[i:i + chunk])
            if eof:
                self.a.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def rest(self):
        """What is left to read, up to EOF."""
        return self.reader.read()

    def close(self):
        self.thread.join(support.IO_TIMEOUT)
        self.reader.close()
        self.a.close()
        self.b.close()


_TLS_CONTEXTS = []


def tls_contexts():
    """(server, client) SSLContexts on a trustme CA, made once."""
    if not _TLS_CONTEXTS:
        import trustme
        ca = trustme.CA()
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("localhost").configure_cert(server)
        client = ssl.create_default_context()
        ca.configure_trust(client)
        _TLS_CONTEXTS[:] = [server, client]
    return _TLS_CONTEXTS


class TLSFeed(Feed):
    """Feed's data over TLS: the reader is the server side ssl.SSLSocket's
    makefile('rb'), as a threaded HTTPS handler's rfile; the sending end
    closes without close_notify (a ragged EOF reads as the end)."""

    def __init__(self, data, eof=True, chunk=None, bufsize=-1):
        server, self._client = tls_contexts()
        self.a, b = socket.socketpair()
        b.settimeout(support.IO_TIMEOUT)
        self.thread = threading.Thread(target=self._send, args=(data, eof, chunk), daemon=True)
        self.thread.start()
        self.b = server.wrap_socket(b, server_side=True)
        self.reader = self.b.makefile("rb", bufsize)

    def _send(self, data, eof, chunk):
        try:
            self.a = self._client.wrap_socket(self.a, server_hostname="localhost")
        except OSError:
            return
        super()._send(data, eof, chunk)


def fast_result(block, rest=b"", _class=http.client.HTTPMessage, feed_class=Feed, **feed_kw):
    feed = feed_class(block + rest, **feed_kw)
    try:
        try:
            result = fast_headers.parse_headers(feed.reader, _class)
        except Exception as exc:
            result = exc
        return normalize(result), feed.rest()
    finally:
        feed.close()


def assert_same(block, rest=b"RESTOFSTREAM", _class=http.client.HTTPMessage, **feed_kw):
    expected = stdlib_result(block, rest, _class)
    got = fast_result(block, rest, _class, **feed_kw)
    assert got == expected, f"block {block!r}"
    return got


@pytest.fixture
def spy_fallback(monkeypatch):
    """Counts the calls that go to the stdlib's parser."""
    calls = []

    def counting(fp, _class=http.client.HTTPMessage):
        calls.append(fp)
        return STDLIB_PARSE_HEADERS(fp, _class)

    monkeypatch.setattr(fast_headers, "_original", counting)
    return calls


# ----------------------------------------------------------------- corpus

NORMAL = [
    b"\r\n",
    b"\n",
    b"Host: localhost\r\n\r\n",
    b"Host: localhost\n\n",
    b"Host: localhost\r\n\n",
    b"Host: localhost\nAccept: */*\r\n\r\n",
    (b"Host: example.com:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) "
     b"Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
     b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
     b"Connection: keep-alive\r\nCookie: a=1; b=2\r\nUpgrade-Insecure-Requests: 1\r\n"
     b"Sec-Fetch-Dest: document\r\nIf-None-Match: \"abc\"\r\n\r\n"),
    b"Host: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n",
    b"X-Empty:\r\n\r\n",
    b"X-Empty: \r\n\r\n",
    b"X-Spaces:   \t  \r\n\r\n",
    b"X-Trailing: value   \t\r\n\r\n",
    b"X-Tab:\tvalue\r\n\r\n",
    b"X-NoSpace:value\r\n\r\n",
    b"X-Colons: a:b::c: \r\n\r\n",
    b"A: 1\r\nA: 2\r\na: 3\r\n\r\n",
    b"X-Latin1: caf\xe9 \xff\xa0\r\n\r\n",
    b"X-Utf8: \xe2\x82\xac \xc3\xa9\r\n\r\n",
    b"X-Ctl: a\x00b\x01c\x7fd\r\n\r\n",
    b"X-Seps: a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\r\n\r\n",
    b"!#$%&'*+-.^_`|~09azAZ: tokens\r\n\r\n",
    b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
]

ODD = [
    b"Host: x\r\n continued\r\n\r\n",          # continuation line
    b"Host: x\r\n\tcontinued\r\nB: y\r\n\r\n",
    b" leading: space\r\nHost: x\r\n\r\n",       # first line a continuation
    b"no colon here\r\nHost: x\r\n\r\n",         # not a header line
    b"Host: x\r\nnocolon\r\n\r\n",
    b"Host: x\rHidden: y\r\n\r\n",               # bare CR
    b"Host: x\r\r\n\r\n",
    b"\r\r\n\r\n",
    b"Bad Name: x\r\n\r\n",                      # space in name
    b"Bad\tName: x\r\n\r\n",
    b"Bad\x80Name: x\r\n\r\n",
    b"Bad(Name): x\r\n\r\n",                     # non-token, but a header for email
    b"Bad\"Name\": x\r\n\r\n",
    b": no name\r\nHost: x\r\n\r\n",             # empty name
    b"Host : x\r\n\r\n",
    b"From someone@example.com\r\nHost: x\r\n\r\n",   # unix-from
    b"Host: x\r\nFrom nobody\r\nB: y\r\n\r\n",
    b"Host: x\r\nFrom nobody\r\n\r\n",
    b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n",
    b"Content-Type: MULTIPART/Mixed; boundary=\"b\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: message/delivery-status\r\n\r\n",
    b"CONTENT-TYPE:\t Message/Partial\r\n\r\n",
    b"Content-Type: text/plain\r\nContent-Type: multipart/x; boundary=q\r\n\r\n",
    b"Content-Type: text/plain; note=message/x\r\n\r\n",   # fallback to be safe
    b"content-type: text/x-message/foo\r\n\r\n",
    b"Host: x\r\n\r\r\n\r\n",
    b"Host: x\r\n\x00\r\n\r\n",
    b"\x00: x\r\n\r\n",
    b"Host: x\r\n \r\n\r\n",
    b"Host: x\r\n\t\r\n\r\n",
]


@pytest.mark.parametrize("block", NORMAL + ODD)
def test_same_result_and_consumption_as_stdlib(block):
    assert_same(block)


@pytest.mark.parametrize("block", NORMAL[:6] + ODD[:8])
def test_same_result_when_block_arrives_in_small_pieces(block):
    assert_same(block, chunk=3)


@pytest.mark.parametrize("block", NORMAL + ODD)
def test_same_result_at_end_of_stream_without_blank_line(block):
    # The stream ends inside the block: every prefix of it.
    for cut in sorted({0, 1, len(block) // 2, len(block) - 2, len(block) - 1}):
        if 0 <= cut < len(block):
            assert_same(block[:cut], rest=b"")


@pytest.mark.parametrize("block", NORMAL + ODD)
def test_same_result_and_consumption_on_a_tls_reader(block):
    assert_same(block, feed_class=TLSFeed)
    for cut in sorted({0, len(block) // 2, len(block) - 1}):   # the stream ends inside it
        if 0 <= cut < len(block):
            assert_same(block[:cut], rest=b"", feed_class=TLSFeed)


def test_plain_blocks_take_the_fast_path_on_a_tls_reader(spy_fallback):
    """A TLS socket's rfile (no descriptor to read in C): read by
    http.client's own reader, parsed in C when plain."""
    for block in NORMAL:
        assert_same(block, feed_class=TLSFeed)
    assert spy_fallback == []


@pytest.mark.parametrize("block", ODD)
def test_odd_blocks_on_a_tls_reader_go_to_the_stdlib_parser_on_the_same_bytes(block, spy_fallback):
    assert_same(block, feed_class=TLSFeed)
    assert len(spy_fallback) == 1 and spy_fallback[0].getvalue() == block


def test_plain_blocks_take_the_fast_path(spy_fallback):
    for block in NORMAL:
        assert_same(block)
    assert spy_fallback == []


@pytest.mark.parametrize("block", ODD)
def test_odd_blocks_go_to_the_stdlib_parser_on_the_same_bytes(block, spy_fallback):
    assert_same(block)
    assert len(spy_fallback) == 1
    assert spy_fallback[0].getvalue() == block


def test_non_pyfast_files_go_to_the_original_untouched(spy_fallback):
    fp = io.BytesIO(b"Host: x\r\n\r\nrest")
    msg = fast_headers.parse_headers(fp)
    assert spy_fallback == [fp]
    assert msg["Host"] == "x" and fp.read() == b"rest"


# ----------------------------------------------------------------- limits

def test_line_at_the_limit_is_accepted_one_more_byte_is_too_long():
    limit = http.client._MAXLINE
    name = b"X-Long: "
    ok = name + b"v" * (limit - len(name) - 2) + b"\r\n"
    assert len(ok) == limit
    got = assert_same(ok + b"\r\n")
    assert got[0][0] == "message"
    too_long = name + b"v" * (limit - len(name) - 1) + b"\r\n"
    got = assert_same(too_long + b"\r\n")
    assert got[0][:2] == ("raised", http.client.LineTooLong)
    # Without a newline in sight: raised after _MAXLINE + 1 bytes.
    got = assert_same(b"Host: x\r\n" + b"y" * (limit + 100), chunk=8192)
    assert got[0][:2] == ("raised", http.client.LineTooLong)


def test_too_many_header_lines():
    limit = http.client._MAXHEADERS
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(limit - 1))
    got = assert_same(fields + b"\r\n")          # limit lines with the blank one
    assert got[0][0] == "message" and len(got[0][2]["_headers"]) == limit - 1
    got = assert_same(fields + b"X-Last: v\r\n\r\n")
    assert got[0] == ("raised", http.client.HTTPException,
                      ("got more than %d headers" % limit,))
    got = assert_same(fields + b"X-Last: v\r\nX-More: w\r\n\r\n")
    assert got[0][:2] == ("raised", http.client.HTTPException)


@pytest.mark.parametrize("maxline, maxheaders", [(0, 100), (1, 100), (2, 100), (10, 3),
                                                 (20, 0), (20, 1), (65536, 2)])
def test_limits_are_read_from_http_client_at_each_call(monkeypatch, maxline, maxheaders):
    monkeypatch.setattr(http.client, "_MAXLINE", maxline)
    monkeypatch.setattr(http.client, "_MAXHEADERS", maxheaders)
    for block in [b"\r\n", b"\n", b"A: b\r\n\r\n", b"Host: localhost\r\nX: 123456789\r\n\r\n",
                  b"A: 1\nB: 2\nC: 3\n\n", b"Host: x\r\n cont\r\n\r\n"]:
        assert_same(block)
        assert_same(block, rest=b"")
        assert_same(block[:-1], rest=b"")


def test_unusual_limit_values_go_to_the_stdlib_with_the_reader_itself(monkeypatch, spy_fallback):
    monkeypatch.setattr(http.client, "_MAXLINE", -1)
    assert_same(b"A: b\r\n\r\n")
    monkeypatch.setattr(http.client, "_MAXLINE", 65536.0)
    feed = Feed(b"A: b\r\n\r\n")
    try:
        with pytest.raises(TypeError):
            fast_headers.parse_headers(feed.reader)
    finally:
        feed.close()
    assert len(spy_fallback) == 2
    assert all(isinstance(fp, _core.SocketReader) for fp in spy_fallback)


# ------------------------------------------------------------ random blocks

_PIECES = [b"Host", b"X-A", b"content-type", b"Content-Type", b"From", b"from", b"a b",
           b"", b" ", b"\t", b":", b": ", b":\t", b"value", b"text/plain", b"multipart/",
           b"message/", b";", b"=", b"\r\n", b"\n", b"\r", b"\x85", b"\x0b", b"\x00",
           b"\xe9", b"(", b"\"", b"-", b"From "]


def random_block(rng):
    lines = []
    for _ in range(rng.randrange(0, 8)):
        kind = rng.random()
        if kind < 0.55:      # a plain field
            name = "".join(rng.choice("abcXYZ-_019!~") for _ in range(rng.randrange(1, 8)))
            value = bytes(rng.choice(b"abc /;=\t\xe9\x85\x0b\x00\x7f:")
                          for _ in range(rng.randrange(0, 12)))
            lines.append(name.encode() + b":" + rng.choice([b"", b" ", b"\t", b"  "]) + value
                         + rng.choice([b"\r\n", b"\n"]))
        elif kind < 0.7:     # random bytes from odd pieces
            lines.append(b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 6)))
                         + rng.choice([b"\r\n", b"\n"]))
        elif kind < 0.8:     # a content type
            lines.append(b"Content-Type: " + rng.choice([b"text/plain", b"multipart/mixed",
                                                         b"message/rfc822", b"x/y; a=message/b",
                                                         b"application/json"])
                         + rng.choice([b"", b"; boundary=zz"]) + b"\r\n")
        else:                # fully random bytes
            lines.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 10)))
                         + b"\r\n")
    block = b"".join(lines) + rng.choice([b"\r\n", b"\n", b""])
    return block


def test_random_blocks_give_the_same_result_on_a_tls_reader():
    rng = random.Random(20261130)
    for i in range(200):
        assert_same(random_block(rng), rest=rng.choice([b"", b"BODY"]), feed_class=TLSFeed)


def test_random_blocks_give_the_same_result():
    rng = random.Random(20240611)
    fast = 0
    for i in range(1500):
        block = random_block(rng)
        got = assert_same(block, rest=rng.choice([b"", b"BODY", b"\r\nmore\r\n"]))
        fast += got[0][0] == "message"
    assert fast > 300     # the corpus exercises the fast path, not only errors


# ------------------------------------------------------------ message classes

class Plain(http.client.HTTPMessage):
    """A MessageClass with its own helper: still built directly."""

    def host(self):
        return self.get("Host")


class LowerNames(http.client.HTTPMessage):
    """Overrides what the feed parser calls: the stdlib's parser builds it."""

    def set_raw(self, name, value):
        super().set_raw(name.lower(), value)


class OldStyle(email.message.Message):
    def __init__(self):
        super().__init__()


@pytest.mark.parametrize("cls", [http.client.HTTPMessage, email.message.Message, Plain,
                                 LowerNames, OldStyle])
def test_message_class_is_honoured(cls):
    for block in NORMAL[:8] + ODD[:4]:
        got = assert_same(block, _class=cls)
        assert got[0][1] is cls


def test_message_class_plainness():
    assert fast_headers._is_plain(http.client.HTTPMessage)
    assert fast_headers._is_plain(Plain)
    assert not fast_headers._is_plain(LowerNames)
    assert not fast_headers._is_plain(OldStyle)
    assert not fast_headers._is_plain(dict)


# ----------------------------------------------------------------- the hook

def test_installed_by_pyfast_http_server_and_can_be_turned_off(spy_fallback):
    assert pf_http_server is not None
    assert fast_headers.installed()
    assert http.client.parse_headers is fast_headers.parse_headers
    try:
        fast_headers.uninstall()
        assert not fast_headers.installed()
        assert http.client.parse_headers is fast_headers._original
        fast_headers.uninstall()
        # A reference taken before uninstall() now only calls the original.
        feed = Feed(b"Host: x\r\n\r\n")
        try:
            fast_headers.parse_headers(feed.reader)
        finally:
            feed.close()
        assert len(spy_fallback) == 1
    finally:
        fast_headers.install()
    assert fast_headers.installed()


def test_errors_while_reading_consume_complete_lines_as_readline_does():
    a, b = socket.socketpair()
    try:
        b.settimeout(0.2)
        reader = _core.SocketReader(b)
        a.sendall(b"Host: x\r\nPart")
        with pytest.raises(TimeoutError):
            fast_headers.parse_headers(reader)
        assert reader.read1(100) == b"Part"
        reader.close()
    finally:
        a.close()
        b.close()


def test_cooperative_reader_takes_the_fast_path(spy_fallback):
    seen = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((type(self.rfile), normalize(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = cooperative.CooperativeHTTPServer((support.HOST, 0), Record)
    running = support.Running(server, 0.1)
    try:
        with support.connect(server.server_address) as c:
            c.sendall(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
            assert support.recv_all(c).startswith(b"HTTP/1.0 204")
    finally:
        assert running.stop() == []
    (rfile_type, headers), = seen
    assert issubclass(rfile_type, _core.SocketReader) and rfile_type is not _core.SocketReader
    assert headers == stdlib_result(b"Host: a\r\n\r\n")[0]
    assert spy_fallback == []


# --------------------------------------------------------------- end to end

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /a HTTP/1.0\r\n\r\n",
    b"GET /b HTTP/1.0\nHost: x\nX-Odd:\tv  \n\n",
    b"GET /c HTTP/1.0\r\nHost: x\r\n folded\r\nX: y\r\n\r\n",
    b"GET /d HTTP/1.0\r\nbroken line\r\nHost: x\r\n\r\n",
    b"GET /e HTTP/1.0\r\nContent-Type: multipart/form-data; boundary=q\r\n\r\n",
    b"GET /f HTTP/1.0\r\nX-Bytes: \xe9\xff\x85\r\nBad Name: 1\r\n\r\n",
    # The two over the limits end where the server stops reading (so that
    # it closes without unread bytes, which would reset the connection).
    b"GET /g HTTP/1.0\r\nX-Long: " + b"v" * (65537 - 8),
    b"GET /h HTTP/1.0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n",
]


def server_classes():
    return [
        pytest.param(http.server.ThreadingHTTPServer, id="stdlib"),
        pytest.param(pf_http_server.HTTPServer, id="pyfast"),
        pytest.param(pf_http_server.ThreadingHTTPServer, id="pyfast-threading"),
        pytest.param(cooperative.CooperativeHTTPServer, id="pyfast-coop"),
    ]


def exchange(server_class, raw):
    """Send raw to a server of server_class; returns (what the handler saw
    as self.headers, the response's status line)."""
    seen = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(normalize(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = server_class((support.HOST, 0), Record)
    running = support.Running(server, 0.1)
    try:
        with support.connect(server.server_address) as c:
            c.sendall(raw)
            c.shutdown(socket.SHUT_WR)
            response = support.recv_all(c)
    finally:
        assert running.stop() == []
    return seen, response.split(b"\r\n", 1)[0]


@pytest.fixture(scope="module")
def stdlib_exchanges():
    return [exchange(http.server.ThreadingHTTPServer, raw) for raw in REQUESTS]


@pytest.mark.parametrize("server_class", server_classes())
def test_handlers_see_the_same_headers_as_on_the_stdlib_server(server_class, stdlib_exchanges):
    for raw, expected in zip(REQUESTS, stdlib_exchanges):
        assert exchange(server_class, raw) == expected, raw[:60]


def test_stdlib_reference_exchanges_are_meaningful(stdlib_exchanges):
    # The first request's headers were recorded, the limits gave 431.
    assert stdlib_exchanges[0][0][0][2]["_headers"] == [("Host", "localhost"),
                                                       ("Connection", "close")]
    assert stdlib_exchanges[-1][1].startswith(b"HTTP/1.0 431")
    assert stdlib_exchanges[-2][1].startswith(b"HTTP/1.0 431")


# ------------------------------------------- CoalescingSocket's sends (sock_sendall)

def coalescing_pair():
    a, b = socket.socketpair()
    return a, pf_http_server.CoalescingSocket(fileno=b.detach())


def test_sock_sendall_sends_everything_as_socket_sendall():
    a, b = coalescing_pair()
    data = bytes(range(256)) * 8192          # 2 MiB: more than the socket holds
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(support.recv_all(a)), daemon=True)
    a.settimeout(support.IO_TIMEOUT)
    reader.start()
    try:
        _core.sock_sendall(b, data)
        _core.sock_sendall(b, memoryview(data)[:10])
        _core.sock_sendall(b, bytearray(b"tail"))
        b.shutdown(socket.SHUT_WR)
        reader.join(support.IO_TIMEOUT)
        assert bytes(got) == data + data[:10] + b"tail"
    finally:
        a.close()
        b.close()


def test_sock_sendall_honours_the_socket_timeout_and_blocking_mode():
    a, b = coalescing_pair()
    try:
        b.settimeout(0.2)
        with pytest.raises(TimeoutError):
            _core.sock_sendall(b, b"x" * (1 << 24))   # nobody reads
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            _core.sock_sendall(b, b"x" * (1 << 24))
    finally:
        a.close()
        b.close()


def test_sock_sendall_errors_as_socket_sendall():
    a, b = coalescing_pair()
    a.close()
    with pytest.raises(BrokenPipeError):
        _core.sock_sendall(b, b"x" * 100_000)
    b.close()
    with pytest.raises(OSError) as closed:
        _core.sock_sendall(b, b"x")
    with pytest.raises(OSError) as stdlib_closed:
        socket.socket.sendall(b, b"x")
    assert closed.value.errno == stdlib_closed.value.errno


def test_coalescing_socket_joins_header_block_and_body_in_one_send():
    a, b = coalescing_pair()
    a.settimeout(support.IO_TIMEOUT)
    try:
        b.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        a.setblocking(False)
        with pytest.raises(BlockingIOError):
            a.recv(100)                       # held back
        a.settimeout(support.IO_TIMEOUT)
        b.sendall(b"body")
        assert support.recv_exact(a, 42) == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
        b.sendall(memoryview(b"X: y\r\n\r\n"))
        b.sendall(bytearray(b"more"))
        b.sendall(b"H: 1\r\n\r\n")
        b.close()                             # sends what is held
        assert support.recv_all(a) == b"X: y\r\n\r\nmoreH: 1\r\n\r\n"
    finally:
        a.close()
        b.close()
