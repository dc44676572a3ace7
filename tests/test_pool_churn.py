"""Connection churn reuses pool threads (issue 10, "Also"): a connection
that arrives while every worker is busy waits a moment for one that is
about to be free (a short handler waiting for the GIL) instead of
starting a thread per connection of an accept burst.

Two client processes churn connections (connect, send 64 B, reset) for a
few seconds against a pyfast ThreadingTCPServer.  Each pool thread must
serve many connections: a pool that starts a thread whenever no worker is
idle started one per 40-50 connections here (and served them at a fifth
of the rate, its threads fighting for the GIL); reusing busy workers
serves hundreds per thread.
"""

import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pyfast

from support import HOST

CLIENTS = 2
SECONDS = 3.0
# Connections served per pool thread, at least.  The bug this guards
# against started a thread per 40-50 connections; a healthy pool served 92
# to 700 per thread over 14 runs here (4ac9881 and b95f718 alike: the peak,
# 58-98 threads, comes from the first accept burst, and a slow run serves
# fewer connections with it), so 100 failed a healthy run (CI, 3.12: 9,003
# connections, 92 threads) while 75 still fails the bug by 1.5x.
PER_THREAD = 75

_CLIENT = textwrap.dedent("""
    import socket, struct, sys, time
    addr = (sys.argv[1], int(sys.argv[2]))
    end = time.monotonic() + float(sys.argv[3])
    linger = struct.pack("ii", 1, 0)
    while time.monotonic() < end:
        s = socket.create_connection(addr, timeout=5)
        s.sendall(b"x" * 64)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()                                  # RST
""")


@pytest.mark.timeout(60)
def test_connection_churn_reuses_pool_threads(serve):
    served = [0]

    class Once(pyfast.BaseRequestHandler):
        def handle(self):
            try:
                self.request.sendall(self.request.recv(64))
            except OSError:
                pass                                # reset by the client
            served[0] += 1

    class Server(pyfast.ThreadingTCPServer):
        request_queue_size = 1024

    r = serve(Server((HOST, 0), Once))
    host, port = r.address
    procs = [subprocess.Popen([sys.executable, "-c", _CLIENT, host, str(port), str(SECONDS)])
             for _ in range(CLIENTS)]
    peak = 0
    try:
        deadline = time.monotonic() + SECONDS + 30
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "churn clients did not stop"
            pool = r.server._pool
            if pool is not None:
                peak = max(peak, pool.stats["workers"])
            time.sleep(0.002)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
    assert all(p.returncode == 0 for p in procs)
    print(f"{CLIENTS} churning clients: {served[0]} connections served, "
          f"peak pool threads {peak}")
    assert peak > 0
    assert served[0] >= PER_THREAD * peak, (
        f"{peak} pool threads for {served[0]} connections from {CLIENTS} clients")
