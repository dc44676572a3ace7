"""The benchmark scenarios: the load shape, and which servers take part.

A scenario names a load generator mode and a server *kind* (what the server
does). Servers are registered per (impl, kind) in :mod:`pyfast.bench.servers`,
so a new scenario that reuses a kind is one entry here, and a new impl is one
function per kind there. :data:`WORK` says, for each (kind, impl), what that
server does; the table prints it under each scenario.

Every server of a scenario does the same work in the same order (the same
bytes read and written, framed the same way, and the same side closing the
connection first); only how it is built differs. The kinds:

    echo     write back every byte read, until the client closes
    line     write back whole '\\n' lines, until the client closes
    once     one read, its echo, then the server closes (shutdown, close)
    message  line echo, one reply per line (pyfast: a MessageHandler)
    c10k     echo, on 10,000 mostly idle connections (pyfast: a MessageHandler)
    proxy    echo of each chunk by a MessageHandler (raw framing), until the client
             closes; pyfast-proxy's server requires a PROXY protocol v2 header
             first (proxy_protocol), which the load generator sends it
    udp      a datagram back to its sender
    http     HTTP/1.1 keep-alive GET answered by the same BaseHTTPRequestHandler

A scenario with tls=True runs its kind over TLS 1.3: every server gets the
same certificate (pyfast.bench.cbuild.certificate) and serves TLS the way
its users would (pyfast: ssl_context; the stdlib: its listening socket
wrapped; uvloop: create_server(ssl=...); c: the C reference TLS server,
pyfast/bench/tlsref.c), and the load generator is tlsgen.c (OpenSSL, in C).
Their kinds are
tls-echo (echo) and tls-http (http): a server registered for those kinds only
serves TLS, so no row can serve plaintext in a TLS scenario. The TLS
scenarios share TLS_SERVERS: a new TLS row (e.g. the message server) is one
name there, one register(IMPL, "tls-echo") entry in servers.py and its WORK
line.

connect and connect-cc both open a connection per request. In connect the
server closes first (socketserver's shape: handle() returns, the server
shuts the socket down; TIME_WAIT lands on the server). In connect-cc the
client closes first right after the reply and the servers echo until EOF
(TIME_WAIT lands on the load generator, which caps every server alike).

Adding a server: add it to IMPLS and to the scenarios' servers, register
its functions in servers.py, and describe it in WORK.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Row order in the table; also the default --servers.
IMPLS = ("pyfast", "pyfast-proxy", "pyfast-cy", "pyfast-2loops", "pyfast-coop", "pyfast-msg", "stdlib-on-pyfast",
         "stdlib", "gevent", "uvloop", "c", "pyfast-1w", "pyfast-2w", "pyfast-coop-2w", "pyfast-msg-2w")

#: A PROXY protocol v2 header (HAProxy's send-proxy-v2 for a TCP4 client
#: 192.0.2.1:40000 -> 127.0.0.1:8000): what the load generator sends first
#: on every connection to a server that expects one.
PROXY_V2_HEADER = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"
                   + bytes([192, 0, 2, 1, 127, 0, 0, 1]) + (40000).to_bytes(2, "big")
                   + (8000).to_bytes(2, "big"))


@dataclass(frozen=True)
class Scenario:
    """One load shape driven against several servers.

    name: table label. mode: load generator mode ("echo", "line", "connect",
    "udp", "http"). kind: what the servers do (see servers.py). conns:
    connections (or UDP sockets). active: if 0 < active < conns, requests in
    flight on only that many connections at once. size: request bytes.
    depth: requests outstanding per busy connection. servers: impls that take
    part, in table order. min_warmup: seconds of warm-up at least (for
    scenarios that take a while to connect). default: part of a plain run.
    closes: "connect" mode only, the side that closes first ("server" or
    "client"). loadgen: more run_loadgen() keywords. impl_loadgen: impl ->
    more run_loadgen() keywords for that impl's runs only (e.g. the PROXY
    header for the server that expects one). pin: False runs the server
    and the load generator unpinned whatever --no-pin says (the
    worker-process scenarios, whose servers use every core).
    """

    name: str
    mode: str
    kind: str
    conns: int
    size: int
    servers: tuple[str, ...]
    description: str
    depth: int = 1
    active: int = 0
    min_warmup: float = 0.0
    default: bool = True
    closes: str = ""  # connect mode: "server" or "client", the side that closes first
    loadgen: dict = field(default_factory=dict)  # extra run_loadgen() keywords
    impl_loadgen: dict = field(default_factory=dict)  # impl -> extra run_loadgen() keywords
    pin: bool = True
    tls: bool = False   # served over TLS 1.3, driven by tlsgen (see the module docstring)

    def loadgen_kwargs(self, impl: str | None = None) -> dict:
        """The run_loadgen() keywords beyond the address, mode and timing
        (for impl's runs, when given)."""
        kw = dict(self.loadgen)
        if self.closes:
            kw["closer"] = self.closes
        kw.update(self.impl_loadgen.get(impl, {}))
        return kw

    def work(self, impl: str) -> str:
        """What `impl`'s server does in this scenario (from WORK); a
        baseline row ("IMPL@base") does what IMPL does."""
        return WORK.get((self.kind, impl.split("@", 1)[0]), "")

    def definition(self) -> dict:
        """What the load and the servers are: stored with each --json run,
        so --compare can tell when a scenario changed between two runs."""
        return {"mode": self.mode, "kind": self.kind, "conns": self.conns, "size": self.size,
                "depth": self.depth, "active": self.active, "closes": self.closes,
                "loadgen": dict(self.loadgen), "tls": self.tls, "description": self.description}

    @property
    def transport(self) -> str:
        return "udp" if self.mode == "udp" else "tcp"


_SOCKETSERVER = ("pyfast", "pyfast-coop", "stdlib")
_RECV_ECHO = "BaseRequestHandler: recv(65536), sendall, until recv returns b''"
_HTTP = "BaseHTTPRequestHandler: do_GET sends a 14 B body with Content-Length, HTTP/1.1 keep-alive"

#: (kind, impl) -> what that server does. Servers are ThreadingTCPServer
#: (pyfast, stdlib), CooperativeTCPServer (pyfast-coop) unless said.
WORK: dict[tuple[str, str], str] = {
    **{("echo", impl): _RECV_ECHO for impl in _SOCKETSERVER},
    ("echo", "gevent"): "StreamServer handler: recv(65536), sendall, until recv returns b'', close",
    ("echo", "uvloop"): "asyncio.Protocol: data_received writes the data back",
    ("echo", "c"): "C epoll: read, write it back, until EOF",
    **{("line", impl): "StreamRequestHandler: for line in rfile: wfile.write(line)" for impl in _SOCKETSERVER},
    ("line", "uvloop"): "asyncio streams: readline, write, drain, until EOF",
    ("line", "c"): "C epoll: write back the whole lines read, keep a partial line, until EOF",
    **{("once", impl): "BaseRequestHandler: one recv, sendall, return; the server then shuts down "
                       "(SHUT_WR) and closes" for impl in _SOCKETSERVER},
    ("once", "gevent"): "StreamServer handler: one recv, sendall, shutdown(SHUT_WR), close",
    ("once", "uvloop"): "asyncio.Protocol: data_received writes the data back, closes the transport",
    ("once", "c"): "C epoll: one read, write it back, shutdown(SHUT_WR), close",
    ("message", "pyfast"): "MessageHandler, line framing in C: handle_message calls send_message",
    ("message", "pyfast-cy"): "EchoMessageHandler, line framing in C: a Cython cpdef handle_message",
    ("message", "pyfast-2loops"): "the pyfast MessageHandler with loop_threads = 2",
    ("message", "uvloop"): "asyncio.Protocol: splits the data into lines, one write per line",
    ("message", "c"): "C epoll: write back the whole lines read, keep a partial line",
    ("c10k", "pyfast"): "MessageHandler, raw framing: send_message(each chunk read)",
    ("c10k", "pyfast-cy"): "EchoMessageHandler, raw framing: a Cython cpdef handle_message",
    ("c10k", "pyfast-coop"): _RECV_ECHO + " (one greenlet per connection)",
    ("c10k", "stdlib"): _RECV_ECHO + " (one thread per connection)",
    ("c10k", "uvloop"): "asyncio.Protocol: data_received writes the data back",
    ("c10k", "c"): "C epoll: read, write it back, until EOF",
    ("proxy", "pyfast"): "MessageHandler, raw framing: send_message(each chunk read)",
    ("proxy", "pyfast-proxy"): ("the same, proxy_protocol = True: the C loop parses a PROXY v2 "
                                "header (sent first, in one segment with the request: MSG_MORE, "
                                "as HAProxy's send-proxy) before framing"),
    ("tls-echo", "pyfast"): "ThreadingTCPServer with ssl_context, " + _RECV_ECHO,
    ("tls-echo", "pyfast-coop"): "CooperativeTCPServer with ssl_context (TLSSocket), " + _RECV_ECHO,
    ("tls-echo", "pyfast-msg"): ("TCPServer with ssl_context and a MessageHandler, raw framing: "
                                 "send_message(each chunk read); TLS in the C message loop"),
    ("tls-echo", "stdlib"): "ThreadingTCPServer, listening socket wrapped by the SSLContext, " + _RECV_ECHO,
    ("tls-echo", "uvloop"): "asyncio.Protocol on create_server(ssl=ctx): data_received writes the data back",
    ("tls-echo", "c"): "C epoll + OpenSSL (tlsref.c): SSL_accept, SSL_read, SSL_write it back, until EOF",
    ("tls-http", "pyfast"): "pyfast.http.server.ThreadingHTTPServer with ssl_context, " + _HTTP,
    ("tls-http", "pyfast-coop"): "CooperativeHTTPServer with ssl_context, " + _HTTP,
    ("tls-http", "stdlib"): "http.server.ThreadingHTTPServer, listening socket wrapped, " + _HTTP,
    ("udp", "pyfast"): "UDPServer, BaseRequestHandler: sock.sendto(data, client_address)",
    ("udp", "stdlib"): "UDPServer, BaseRequestHandler: sock.sendto(data, client_address)",
    ("udp", "c"): "C: recvfrom, sendto, up to 64 datagrams a wake-up",
    ("http", "pyfast"): "pyfast.http.server.ThreadingHTTPServer, " + _HTTP,
    ("http", "pyfast-coop"): "CooperativeHTTPServer, " + _HTTP,
    ("http", "stdlib-on-pyfast"): ("http.server.ThreadingHTTPServer, unchanged, on pyfast "
                                   "(pyfast.install(), as python -m pyfast run), " + _HTTP),
    ("http", "stdlib"): "http.server.ThreadingHTTPServer, " + _HTTP,
    # pyfast.prefork: the same servers in worker processes.
    ("message", "pyfast-1w"): "MessageHandler as pyfast's message row, workers = 1 (one process)",
    ("message", "pyfast-2w"): "MessageHandler as pyfast's message row, workers = 2 (2 worker processes "
                              "on the shared listening socket, and the supervising parent)",
    ("echo", "pyfast-1w"): "ThreadingTCPServer, " + _RECV_ECHO + ", workers = 1 (one process)",
    ("echo", "pyfast-2w"): "ThreadingTCPServer, " + _RECV_ECHO + ", workers = 2",
    ("reload", "pyfast-2w"): ("ThreadingTCPServer, workers = 2, the connect row's handler; SIGHUP "
                              "(rolling reload: 2 new workers, then the old ones drain) every second"),
    ("reload", "pyfast-coop-2w"): ("CooperativeTCPServer, workers = 2, the connect row's handler; SIGHUP "
                                   "every second"),
    ("reload", "pyfast-msg-2w"): ("TCPServer with a MessageHandler (fixed 64 B framing: send the message "
                                  "back, close), workers = 2; SIGHUP every second"),
}

_ALL = [
    Scenario("echo-1k", "echo", "echo", conns=50, size=1024,
             servers=("pyfast", "pyfast-coop", "stdlib", "gevent", "uvloop", "c"),
             description="50 persistent conns, 1 KiB request/echo; the client closes at the end"),
    Scenario("line-64", "line", "line", conns=50, size=64,
             servers=("pyfast", "pyfast-coop", "stdlib", "uvloop", "c"),
             description="50 persistent conns, 64 B lines, one in flight per conn"),
    Scenario("connect", "connect", "once", conns=20, size=64, closes="server",
             servers=("pyfast", "pyfast-coop", "stdlib", "gevent", "uvloop", "c"),
             description="a new connection per 64 B request, 20 clients; the server closes first "
                         "(reply, FIN; the client closes on EOF); latency from connect to close"),
    Scenario("connect-cc", "connect", "echo", conns=20, size=64, closes="client",
             servers=("pyfast", "pyfast-coop", "stdlib", "gevent", "uvloop", "c"),
             description="a new connection per 64 B request, 20 clients; the client closes first "
                         "right after the reply (TIME_WAIT on the load generator); latency from "
                         "connect to close"),
    Scenario("udp", "udp", "udp", conns=20, size=64,
             servers=("pyfast", "stdlib", "c"), default=False,
             description="64 B datagram echo, 20 client sockets, one in flight each"),
    Scenario("http", "http", "http", conns=50, size=0,
             servers=("pyfast", "pyfast-coop", "stdlib-on-pyfast", "stdlib"), default=False,
             description="50 keep-alive conns, GET / and its 200 reply, one in flight per conn"),
    Scenario("message", "line", "message", conns=50, size=64,
             servers=("pyfast", "pyfast-cy", "pyfast-2loops", "uvloop", "c"),
             description="50 persistent conns, 64 B lines, one in flight per conn"),
    Scenario("message-stalled", "line", "message", conns=50, size=64,
             servers=("pyfast", "pyfast-cy", "uvloop", "c"), default=False,
             loadgen={"stalled": 10},
             description="message's load, plus 10 conns that send lines and never read a reply "
                         "(compare p99 and RSS with message)"),
    Scenario("proxy", "connect", "proxy", conns=20, size=64, closes="client",
             servers=("pyfast", "pyfast-proxy"), default=False,
             impl_loadgen={"pyfast-proxy": {"prefix": PROXY_V2_HEADER}},
             description="connect-cc's load (a new connection per 64 B request, 20 clients; the "
                         "client closes first right after the reply) on a MessageHandler echo, "
                         "without and with a PROXY protocol v2 header first on every connection: "
                         "the header's cost in server CPU per connection"),
    Scenario("c10k", "echo", "c10k", conns=10_000, active=100, size=64,
             servers=("pyfast", "pyfast-coop", "stdlib", "uvloop", "c"), min_warmup=3.0, default=False,
             loadgen={"connect_timeout": 10.0},
             description="10,000 persistent conns, 100 (1%) with a 64 B echo in flight at a time"),
]

# pyfast.prefork: worker processes.
_ALL += [
    Scenario("workers", "line", "message", conns=50, size=64, servers=("pyfast-1w", "pyfast-2w"),
             default=False, pin=False,
             description="message's load (50 persistent conns, 64 B lines) on 1 and 2 worker processes, "
                         "server and load generator unpinned; connections per worker"),
    Scenario("workers-echo-1k", "echo", "echo", conns=50, size=1024, servers=("pyfast-1w", "pyfast-2w"),
             default=False, pin=False,
             description="echo-1k's load on a ThreadingTCPServer with 1 and 2 worker processes, unpinned; "
                         "connections per worker"),
    Scenario("reload", "connect", "reload", conns=20, size=64, closes="server",
             servers=("pyfast-2w", "pyfast-coop-2w", "pyfast-msg-2w"), default=False, pin=False,
             description="connect's load (a new connection per 64 B request, 20 clients; the server "
                         "closes first) while the server reloads (SIGHUP) every second: failed "
                         "requests, p99.9 latency"),
]

# TLS: the same loads over TLS 1.3, the load generator in C (tlsgen.c).
#: The servers of the TLS scenarios, in table order.
TLS_SERVERS = ("pyfast", "pyfast-coop", "pyfast-msg", "stdlib", "uvloop", "c")
_ALL += [
    Scenario("tls-echo-1k", "echo", "tls-echo", conns=50, size=1024, tls=True, default=False,
             servers=TLS_SERVERS,
             description="echo-1k over TLS 1.3: 50 persistent conns (one handshake each), 1 KiB "
                         "request/echo"),
    Scenario("tls-connect", "connect", "tls-echo", conns=20, size=64, tls=True, closes="client",
             default=False, servers=TLS_SERVERS,
             description="a new TLS 1.3 connection per 64 B request (full handshake, no resumption), "
                         "20 clients; the client closes first after the reply; CPU µs/req is the "
                         "server's CPU per connection"),
    Scenario("https", "http", "tls-http", conns=50, size=4096, tls=True, default=False,
             servers=tuple(s for s in TLS_SERVERS if s not in ("pyfast-msg", "uvloop", "c")),
             description="http over TLS 1.3: 50 keep-alive conns, GET / and its 200 reply"),
]

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}
DEFAULT_SCENARIOS = tuple(s.name for s in _ALL if s.default)
