"""python -m pyfast.bench.cgroup_scaling: the scaling shape of worker processes
on a machine with few cores.

Each worker of a ThreadingTCPServer (the echo-1k handler, ``workers = N``)
is put in a cgroup (v1, ``cpu`` controller, needs root) of its own capped at
QUOTA of one core, then the C load generator drives echo-1k's load (50
persistent connections, 1 KiB echo, connected after the caps are in place,
unpinned) for each N.  With every worker capped alike, req/s should grow
about linearly with N while the machine has cores to spare: the ratios to
N = 1 are printed.

    python -m pyfast.bench.cgroup_scaling --workers 1,2,4 --quota 0.2 --duration 3
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

CGROUP_CPU = "/sys/fs/cgroup/cpu"
# A short CFS period: with the default 100 ms, a capped worker is throttled
# for 80 ms at a time, stalling all its connections at once (1 worker at
# 0.2 core: 8.7k req/s, 2: 3.7x, 4: 8.5x, superlinear).
PERIOD_US = 10_000


def _children(pid: int, n: int, timeout: float = 10.0) -> list[int]:
    import psutil
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [c.pid for c in psutil.Process(pid).children()]
        if len(kids) >= n:
            return kids
        time.sleep(0.05)
    raise RuntimeError(f"{n} workers did not start")


def _cap(pids: list[int], quota: float) -> list[str]:
    """A cgroup per pid, capped at quota (fraction of one core); their paths."""
    paths = []
    for pid in pids:
        path = os.path.join(CGROUP_CPU, f"pyfast-worker-{pid}")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write(str(PERIOD_US))
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(quota * PERIOD_US)))
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        paths.append(path)
    return paths


def _uncap(paths: list[str]) -> None:
    for path in paths:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:        # back to the root group, then remove
                with open(os.path.join(CGROUP_CPU, "cgroup.procs"), "w") as f:
                    f.write(pid)
            os.rmdir(path)
        except OSError:
            pass


def run_one(workers: int, quota: float, duration: float) -> float:
    """req/s of echo-1k on `workers` capped workers."""
    from pyfast import _bench
    server = subprocess.Popen([sys.executable, "-m", "pyfast.bench.cgroup_scaling", "--serve",
                               str(workers)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    paths: list[str] = []
    try:
        port = int(server.stdout.readline().split()[1])
        pids = _children(server.pid, workers) if workers > 1 else [server.pid]
        paths = _cap(pids, quota)
        res = _bench.run_loadgen(("127.0.0.1", port), "echo", conns=50, depth=1, active=0,
                                 size=1024, warmup=1.0, duration=duration, mark_fd=-1)
        return res["rps"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        _uncap(paths)


def serve(workers: int) -> None:
    """The server: echo-1k's ThreadingTCPServer with `workers`, until SIGTERM."""
    from .servers import _socketserver_serve
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    _socketserver_serve("pyfast", "echo", "127.0.0.1", 0,
                        lambda port: print(f"READY {port}", flush=True), workers=workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyfast.bench.cgroup_scaling",
                                 description=__doc__.split("\n\n")[1])
    ap.add_argument("--workers", default="1,2,4", help="worker counts (default: %(default)s)")
    ap.add_argument("--quota", type=float, default=0.2, help="CPU cap of each worker, cores (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=3.0, help="measure seconds per run (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported (default: %(default)s)")
    ap.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if not os.access(CGROUP_CPU, os.W_OK):
        print(f"needs a writable cgroup v1 cpu controller at {CGROUP_CPU} (root)", file=sys.stderr)
        return 2
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            results[n].append(run_one(n, args.quota, args.duration))
    base = statistics.median(results[counts[0]])
    for n in counts:
        med = statistics.median(results[n])
        print(f"{n} worker(s) at {args.quota:.2f} core each: {med:,.0f} req/s "
              f"(rounds {', '.join(f'{r:,.0f}' for r in results[n])}), "
              f"{med / base:.2f}x of {counts[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
