"""python -m pyfast.bench.cgroup_scaling: the scaling shape of worker processes
on a machine with few cores.

Each worker of a server with ``workers = N`` is put in a cgroup (v1, ``cpu``
controller, needs root) of its own capped at QUOTA of one core, then the C
load generator drives the server (its connections opened after the caps are
in place, unpinned) for each N.  ``--server threading`` (the default): a
ThreadingTCPServer with the echo-1k handler, driven with echo-1k's load (50
persistent connections, 1 KiB echo).  ``--server message``: the message
row's MessageHandler line echo (a Python handle_message), driven with the
workers scenario's load (50 persistent connections, 64 B lines).

With every worker capped alike and the machine's cores to spare, req/s
should grow about linearly with N: the ratios to the first N are printed,
with the server's CPU per request (all its processes, over the measure
window, in microseconds).  Under a quota every worker is busy, so the CPU
per request shows whether workers contend when none of them sleeps.

    python -m pyfast.bench.cgroup_scaling --workers 1,2,4 --quota 0.2 --duration 3
    python -m pyfast.bench.cgroup_scaling --server message --workers 1,2,4 --quota 0.2
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

CGROUP_CPU = "/sys/fs/cgroup/cpu"
# A short CFS period: with the default 100 ms, a capped worker is throttled
# for 80 ms at a time, stalling all its connections at once (1 worker at
# 0.2 core: 8.7k req/s, 2: 3.7x, 4: 8.5x, superlinear).
PERIOD_US = 10_000

# --server: the load each server is driven with (run_loadgen's mode, request
# size in bytes), as the echo-1k and workers scenarios.
LOADS = {"threading": ("echo", 1024), "message": ("line", 64)}


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


def run_one(workers: int, quota: float, duration: float, server: str = "threading") -> dict:
    """One run of `server` (a key of LOADS) on `workers` capped workers:
    {"rps": requests per second, "cpu_us": the server's CPU microseconds
    per request (parent and workers) over the measure window}."""
    from pyfast import _bench
    import psutil
    from .runner import pyfast_root, tree_cpu_s
    mode, size = LOADS[server]
    proc = subprocess.Popen([sys.executable, "-m", "pyfast.bench.cgroup_scaling", "--serve",
                             str(workers), "--server", server], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=pyfast_root())
    paths: list[str] = []
    try:
        port = int(proc.stdout.readline().split()[1])
        pids = _children(proc.pid, workers) if workers > 1 else [proc.pid]
        paths = _cap(pids, quota)
        server_ps = psutil.Process(proc.pid)   # the parent and its workers
        marks: list[float] = []
        rfd, wfd = os.pipe()

        def mark() -> None:   # the CPU used so far, at each of the window's edges
            for _ in range(2):
                if os.read(rfd, 1):
                    marks.append(tree_cpu_s(server_ps))

        watcher = threading.Thread(target=mark, daemon=True)
        watcher.start()
        try:
            res = _bench.run_loadgen(("127.0.0.1", port), mode, conns=50, depth=1, active=0,
                                     size=size, warmup=1.0, duration=duration, mark_fd=wfd)
        finally:
            os.close(wfd)
            watcher.join(5)
            os.close(rfd)
        requests = res["requests"]
        cpu_us = (marks[1] - marks[0]) / requests * 1e6 if len(marks) == 2 and requests else float("nan")
        return {"rps": res["rps"], "cpu_us": cpu_us}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _uncap(paths)


def serve(workers: int, server: str = "threading") -> None:
    """The server (a key of LOADS) with `workers`, until SIGTERM: echo-1k's
    ThreadingTCPServer, or the message row's MessageHandler line echo."""
    from .servers import _message_serve, _socketserver_serve
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    ready = lambda port: print(f"READY {port}", flush=True)   # noqa: E731
    if server == "message":
        _message_serve("message", False, "127.0.0.1", 0, ready, workers=workers)
    else:
        _socketserver_serve("pyfast", "echo", "127.0.0.1", 0, ready, workers=workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyfast.bench.cgroup_scaling",
                                 description=__doc__.split("\n\n")[1])
    ap.add_argument("--workers", default="1,2,4", help="worker counts (default: %(default)s)")
    ap.add_argument("--quota", type=float, default=0.2, help="CPU cap of each worker, cores (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=3.0, help="measure seconds per run (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported (default: %(default)s)")
    ap.add_argument("--server", choices=sorted(LOADS), default="threading",
                    help="threading: echo-1k's ThreadingTCPServer; message: the message row's "
                         "MessageHandler line echo, 64 B lines (default: %(default)s)")
    ap.add_argument("--serve", type=int, metavar="N", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.server)
        return 0
    if not os.access(CGROUP_CPU, os.W_OK):
        print(f"needs a writable cgroup v1 cpu controller at {CGROUP_CPU} (root)", file=sys.stderr)
        return 2
    counts = [int(n) for n in args.workers.split(",")]
    results: dict[int, list[dict]] = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            results[n].append(run_one(n, args.quota, args.duration, args.server))
    print(f"--server {args.server}, {args.quota:.2f} core per worker, median of {args.rounds} round(s):")
    base = statistics.median(r["rps"] for r in results[counts[0]])
    base_cpu = statistics.median(r["cpu_us"] for r in results[counts[0]])
    for n in counts:
        rps = statistics.median(r["rps"] for r in results[n])
        cpu = statistics.median(r["cpu_us"] for r in results[n])
        print(f"{n} worker(s): {rps:,.0f} req/s "
              f"(rounds {', '.join(format(r['rps'], ',.0f') for r in results[n])}), "
              f"{rps / base:.2f}x of {counts[0]}; "
              f"CPU {cpu:.2f} us/req (rounds {', '.join(format(r['cpu_us'], '.2f') for r in results[n])}), "
              f"{cpu / base_cpu:.2f}x of {counts[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
