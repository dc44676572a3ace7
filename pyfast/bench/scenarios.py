"""The benchmark scenarios: the load shape, and which servers take part.

A scenario names a load generator mode and a server *kind* (what the server
does: "echo", "line", "once", "udp", "http"). Servers are registered per
(impl, kind) in :mod:`pyfast.bench.servers`, so a new scenario that reuses a
kind is one entry here, and a new impl is one function per kind there.

message and c10k: the pyfast rows are MessageHandler servers (kinds
"message" and "c10k"); pyfast-cy is the same server with the Cython
EchoMessageHandler (a cpdef handle_message); pyfast-2loops the Python one
with loop_threads = 2. For the other impls these
kinds are their byte echo (stdlib: the ThreadingTCPServer echo).

Adding the planned one:
    pyfast-coop  add it to IMPLS and to the scenarios' servers, and
              @register("pyfast-coop", "echo", "line", "once") a function
              that serves socketserver_handler(pyfast, kind) on the
              cooperative server class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Row order in the table; also the default --servers.
IMPLS = ("pyfast", "pyfast-cy", "pyfast-2loops", "pyfast-coop", "stdlib-on-pyfast", "stdlib", "gevent", "uvloop", "c")


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
    loadgen: dict = field(default_factory=dict)  # extra run_loadgen() keywords

    @property
    def transport(self) -> str:
        return "udp" if self.mode == "udp" else "tcp"


_ALL = [
    Scenario("echo-1k", "echo", "echo", conns=50, size=1024,
             servers=("pyfast", "pyfast-coop", "stdlib", "gevent", "uvloop", "c"),
             description="50 persistent conns, 1 KiB request/echo, BaseRequestHandler recv/sendall"),
    Scenario("line-64", "line", "line", conns=50, size=64,
             servers=("pyfast", "pyfast-coop", "stdlib", "uvloop", "c"),
             description="50 conns, 64 B lines, StreamRequestHandler for line in rfile: wfile.write(line)"),
    Scenario("connect", "connect", "once", conns=20, size=64,
             servers=("pyfast", "pyfast-coop", "stdlib", "uvloop", "c"),
             description="new connection per 64 B request, 20 clients"),
    Scenario("udp", "udp", "udp", conns=20, size=64,
             servers=("pyfast", "stdlib", "c"), default=False,
             description="64 B datagram echo, 20 clients, UDPServer"),
    Scenario("http", "http", "http", conns=50, size=0,
             servers=("pyfast", "pyfast-coop", "stdlib-on-pyfast", "stdlib"), default=False,
             description="keep-alive GET, BaseHTTPRequestHandler hello, ThreadingHTTPServer "
                         "(stdlib-on-pyfast: http.server's, unchanged, under pyfast.install())"),
    Scenario("message", "line", "message", conns=50, size=64,
             servers=("pyfast", "pyfast-cy", "pyfast-2loops", "uvloop", "c"),
             description="50 conns, 64 B lines, MessageHandler line echo (pyfast-cy: cpdef handler; "
                         "pyfast-2loops: loop_threads = 2)"),
    Scenario("message-stalled", "line", "message", conns=50, size=64,
             servers=("pyfast", "pyfast-cy", "uvloop", "c"), default=False,
             loadgen={"stalled": 10},
             description="message's load, plus 10 conns that send lines and never read a reply "
                         "(compare p99 and RSS with message)"),
    Scenario("c10k", "echo", "c10k", conns=10_000, active=100, size=64,
             servers=("pyfast", "pyfast-coop", "stdlib", "uvloop", "c"), min_warmup=3.0, default=False,
             loadgen={"connect_timeout": 10.0},
             description="10,000 conns, 1% with a 64 B echo in flight (pyfast: MessageHandler raw echo)"),
]

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}
DEFAULT_SCENARIOS = tuple(s.name for s in _ALL if s.default)
