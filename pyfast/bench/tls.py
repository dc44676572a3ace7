"""python -m pyfast.bench.tls: the TLS scenarios, side by side.

    python -m pyfast.bench.tls [--scenarios tls-echo-1k,tls-connect,https]
                               [--servers pyfast,pyfast-coop,stdlib,uvloop]
                               [--rounds 3] [--seconds 5]

Scenarios (TLS 1.3, a self-signed P-256 certificate made at run time with
the openssl command):

    tls-echo-1k  50 persistent connections (one handshake each), 1 KiB
                 request, its echo back (BaseRequestHandler recv/sendall)
    tls-connect  20 clients, a new TLS connection per request (full
                 handshake, no session resumption), 64 B echoed, client
                 closes first
    https        50 keep-alive connections, GET answered by the stdlib's
                 BaseHTTPRequestHandler "hello" (the http scenario's handler,
                 pyfast.bench.servers, disable_nagle_algorithm on)

Servers: pyfast (ThreadingTCPServer / ThreadingHTTPServer with
ssl_context), pyfast-coop (CooperativeTCPServer / CooperativeHTTPServer,
one hub, with ssl_context), stdlib (socketserver.ThreadingTCPServer /
http.server.ThreadingHTTPServer with the listening socket wrapped, the
stdlib's way), uvloop (loop.create_server(..., ssl=ctx), echo scenarios).

The load generator is C with OpenSSL (pyfast/bench/tlsgen.c), compiled on
first use with ``cc ... -lssl -lcrypto -lpthread`` (Debian: libssl-dev);
pyfast's wheel itself does not link OpenSSL.  Each server is pinned to the
first CPU, the generator to the others.  Each row: req/s and the server's
CPU microseconds per request (from /proc), median of --rounds rounds with
the spread (min-max).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIOS = {
    # name: (tlsgen mode, server kind, conns, size)
    "tls-echo-1k": ("echo", "echo", 50, 1024),
    "tls-connect": ("connect", "echo", 20, 64),
    "https": ("http", "http", 50, 4096),
}
SERVERS = ("pyfast", "pyfast-coop", "stdlib", "uvloop")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _tlsgen() -> str:
    """Path of the compiled load generator (built once per source mtime)."""
    src = os.path.join(_HERE, "tlsgen.c")
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                         "pyfast")
    os.makedirs(cache, exist_ok=True)
    exe = os.path.join(cache, f"tlsgen-{int(os.stat(src).st_mtime)}")
    if not os.path.exists(exe):
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O2", "-o", exe, src, "-lssl", "-lcrypto", "-lpthread"], check=True)
    return exe


def _certificate(directory: str) -> tuple[str, str]:
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


# ------------------------------------------------------------------ servers

def _context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def serve(impl: str, kind: str, cert: str, key: str) -> None:
    """Serve kind with impl on 127.0.0.1, print READY port, until SIGTERM."""
    from pyfast.bench.servers import _hello_handler, socketserver_handler
    ctx = _context(cert, key)
    if impl == "uvloop":
        if kind != "echo":
            print("UNAVAILABLE uvloop: echo scenarios only", flush=True)
            return
        import asyncio

        import uvloop

        class Echo(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                self.transport.write(data)

        async def main():
            loop = asyncio.get_running_loop()
            done = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, done.set)
            server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=ctx, backlog=1024)
            print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
            async with server:
                await done.wait()

        uvloop.run(main())
        return
    if impl == "stdlib":
        import http.server
        import socketserver
        cls = (http.server.ThreadingHTTPServer if kind == "http"
               else socketserver.ThreadingTCPServer)
        handler = _hello_handler() if kind == "http" else socketserver_handler(socketserver, "echo")
        cls.request_queue_size = 1024
        cls.daemon_threads = True
        server = cls(("127.0.0.1", 0), handler)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    else:
        import pyfast
        from pyfast import cooperative
        from pyfast.http import server as http_server
        if impl == "pyfast-coop":
            cls = cooperative.CooperativeHTTPServer if kind == "http" else cooperative.CooperativeTCPServer
        else:
            cls = http_server.ThreadingHTTPServer if kind == "http" else pyfast.ThreadingTCPServer
        cls = type(cls.__name__, (cls,), {"request_queue_size": 1024, "hubs": 1,
                                          "ssl_context": ctx})
        handler = _hello_handler() if kind == "http" else socketserver_handler(pyfast, "echo")
        server = cls(("127.0.0.1", 0), handler)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# ------------------------------------------------------------------- runner

def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(impl: str, scenario: str, seconds: float, cert: str, key: str, gen: str):
    mode, kind, conns, size = SCENARIOS[scenario]
    ncpu = os.cpu_count() or 1
    server_cpu, gen_cpus = ({0}, set(range(1, ncpu))) if ncpu > 1 else (None, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyfast.bench.tls", "--serve", impl, kind, cert, key],
        stdout=subprocess.PIPE, text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, server_cpu)) if server_cpu else None)
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            return None
        port = line.split()[1]
        # warm-up (handshakes, thread pool), then the measured window
        subprocess.run([gen, "127.0.0.1", port, mode, str(conns), str(size), "1"],
                       capture_output=True, check=True,
                       preexec_fn=(lambda: os.sched_setaffinity(0, gen_cpus)) if gen_cpus else None)
        cpu0 = _cpu_s(proc.pid)
        out = subprocess.run([gen, "127.0.0.1", port, mode, str(conns), str(size), str(seconds)],
                             capture_output=True, text=True, check=True,
                             preexec_fn=(lambda: os.sched_setaffinity(0, gen_cpus)) if gen_cpus else None)
        cpu = _cpu_s(proc.pid) - cpu0
        f = out.stdout.split()
        requests, errors, p50, p99 = int(f[1]), int(f[3]), int(f[5]), int(f[7])
        return {"rps": requests / seconds, "cpu_us": cpu * 1e6 / max(requests, 1),
                "errors": errors, "p50_us": p50, "p99_us": p99}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyfast.bench.tls",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--serve", nargs=4, metavar=("IMPL", "KIND", "CERT", "KEY"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    if shutil.which("openssl") is None:
        parser.error("needs the openssl command (certificate) and libssl-dev (load generator)")
    gen = _tlsgen()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = _certificate(tmp)
        for scenario in args.scenarios.split(","):
            print(f"{scenario}: median of {args.rounds} x {args.seconds:g} s "
                  f"(server pinned to CPU 0)", flush=True)
            for impl in args.servers.split(","):
                rounds = [run_one(impl, scenario, args.seconds, cert, key, gen)
                          for _ in range(args.rounds)]
                if any(r is None for r in rounds):
                    print(f"  {impl:12} unavailable", flush=True)
                    continue
                rps = [r["rps"] for r in rounds]
                cpu = [r["cpu_us"] for r in rounds]
                print(f"  {impl:12} {statistics.median(rps):9.0f} req/s "
                      f"({min(rps):.0f}-{max(rps):.0f})  "
                      f"{statistics.median(cpu):7.1f} us CPU/req ({min(cpu):.1f}-{max(cpu):.1f})  "
                      f"p50 {statistics.median(r['p50_us'] for r in rounds):.0f} us  "
                      f"p99 {statistics.median(r['p99_us'] for r in rounds):.0f} us  "
                      f"errors {sum(r['errors'] for r in rounds)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
