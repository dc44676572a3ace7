"""Start each server under test, drive it, measure it.

One run = one fresh server process, one load generator run (warm-up, then a
measure window), the server's CPU time over exactly that window (psutil,
sampled when the generator writes its window marks to a pipe), then SIGTERM.
Rounds are interleaved: round 1 of every (scenario, server), then round 2...
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace

import psutil

from .scenarios import SCENARIOS, Scenario


@dataclass
class Options:
    """Run options. Times in seconds."""

    scenarios: tuple[str, ...]
    servers: tuple[str, ...] | None = None   # None: each scenario's own list
    warmup: float = 1.0
    duration: float = 4.0
    rounds: int = 3
    pin: bool = True
    host: str = "127.0.0.1"
    server_cpu: int | None = None
    gen_cpu: int | None = None
    use_wrk: bool = True
    start_timeout: float = 20.0
    # Another Python whose installed pyfast (e.g. the previous release's
    # wheel in its own venv) runs each pyfast row a second time, as the row
    # "IMPL@base", in the same run: before/after in one invocation.
    baseline: str | None = None


#: Rows run again on Options.baseline's interpreter (the ones whose server is pyfast).
BASELINE_IMPLS = ("pyfast", "pyfast-cy", "pyfast-2loops", "pyfast-coop", "stdlib-on-pyfast")
BASELINE_SUFFIX = "@base"


@dataclass
class Run:
    """One round of one server in one scenario. Latencies in microseconds."""

    scenario: str
    server: str
    round: int
    ok: bool
    reason: str = ""
    unavailable: bool = False      # the impl cannot run here (reason says why)
    rps: float = 0.0
    p50_us: float = 0.0
    p90_us: float = 0.0
    p99_us: float = 0.0
    max_us: float = 0.0
    requests: int = 0
    errors: int = 0                # in the measure window
    warmup_errors: int = 0
    lost: int = 0
    elapsed_s: float = 0.0
    server_cpu_s: float = 0.0      # user+system seconds over the measure window
    cpu_us_per_req: float = 0.0    # server CPU microseconds per request
    # Context switches of every server thread (voluntary + involuntary) per
    # request over the measure window: with one thread per connection,
    # ~1 when each handler blocks once per request, more when the threads
    # queue for the GIL (a GIL convoy costs CPU per request).
    ctx_switches_per_req: float = 0.0
    gen_cpu: float = 0.0           # load generator CPU seconds per second (1.0 = saturated)
    others: float = 0.0            # cores kept busy by other processes (noise), on average
    rss_idle_kib: float = 0.0      # server RSS once ready, before any connection
    rss_kib: float = 0.0           # server RSS at the end of the measure window
    threads: int = 0               # server threads at the end of the measure window
    worker_conns: list = field(default_factory=list)  # established conns per worker process, window's start
    driver: str = "pf_loadgen"
    loadgen: dict = field(default_factory=dict, repr=False)
    hist: list = field(default_factory=list, repr=False)  # [[latency us, count], ...], measure window


def plan(opts: Options) -> list[tuple[int, Scenario, str]]:
    """(round, scenario, server) in run order: rounds interleaved.  With
    --baseline each row and its twin run back to back, the row first in
    even rounds and the twin first in odd ones (ABBA), so a machine that
    speeds up or slows down over a pair does not favour one side."""
    out = []
    for r in range(opts.rounds):
        for name in opts.scenarios:
            sc = SCENARIOS[name]
            for impl in sc.servers:
                if opts.servers is None or impl in opts.servers:
                    pair = [impl]
                    if opts.baseline and impl in BASELINE_IMPLS:
                        pair.append(impl + BASELINE_SUFFIX)
                    out += [(r, sc, i) for i in (pair if r % 2 == 0 else pair[::-1])]
    return out


def pick_cpus(opts: Options) -> tuple[int | None, int | None]:
    """(server core, generator core), or (None, None) when not pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if not opts.pin or len(cpus) < 2:
        return None, None
    server = opts.server_cpu if opts.server_cpu is not None else cpus[1]
    gen = opts.gen_cpu if opts.gen_cpu is not None else next(c for c in cpus if c != server)
    return server, gen


def pyfast_root() -> str:
    """The directory holding the pyfast package this process imported: a
    subprocess that runs `python -m pyfast...` there finds the same one,
    not a source tree in the working directory."""
    import pyfast
    return os.path.dirname(os.path.dirname(os.path.abspath(pyfast.__file__)))


def tree_cpu_s(ps: psutil.Process) -> float:
    """User+system CPU seconds of process ps so far, its child processes
    (pyfast.prefork's workers) included: those alive, and those it has
    waited for."""
    t = ps.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in ps.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:
            continue
        total += c.user + c.system
    return total


class ServerProcess:
    """`python -m pyfast.bench.servers IMPL SCENARIO` in a child process,
    on `python` (default: this interpreter) and the pyfast it has installed."""

    def __init__(self, impl: str, scenario: str, host: str, cpu: int | None, timeout: float,
                 python: str | None = None):
        cmd = [python or sys.executable, "-m", "pyfast.bench.servers", impl, scenario,
               "--host", host, "--port", "0"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        if SCENARIOS[scenario].tls:
            from .cbuild import certificate
            cmd += ["--tls", *certificate()]   # BuildError (a RuntimeError) without openssl
        self.stderr = tempfile.TemporaryFile(mode="w+")
        if python is None:
            here = pyfast_root()
        else:   # another interpreter: its own installed pyfast, not ours
            here = tempfile.gettempdir()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=here)
        self.port = None
        self.unavailable = None
        line = self._first_line(timeout)
        if line.startswith("READY "):
            self.port = int(line.split()[1])
        elif line.startswith("UNAVAILABLE "):
            self.unavailable = line[len("UNAVAILABLE "):].strip()
        else:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            reason = self.stderr_tail() or repr(line)   # before stop() closes the file
            self.stop()
            raise RuntimeError(f"{impl} server for {scenario} did not start: {reason}")
        self.ps = psutil.Process(self.proc.pid)
        self.rss_idle_kib = self.rss_kib() if self.port else 0.0

    def rss_kib(self) -> float:
        return self.ps.memory_info().rss / 1024

    def _first_line(self, timeout: float) -> str:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if r else ""

    def stderr_tail(self, n: int = 3) -> str:
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().splitlines() if ln.strip()]
        return " | ".join(lines[-n:])

    def cpu_s(self) -> float:
        """User+system CPU seconds of the whole server process so far (see
        tree_cpu_s)."""
        return tree_cpu_s(self.ps)

    def ctx_switches(self) -> dict[tuple[int, str], int]:
        """(pid, thread id) -> context switches so far (voluntary +
        involuntary) of every thread of the server process and of its child
        processes (Linux: /proc/PID/task/*/status; psutil's
        num_ctx_switches() reads the process's first thread only).  Empty
        where /proc is missing."""
        counts = {}
        try:
            procs = [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            procs = [self.ps]
        for proc in procs:
            try:
                tids = os.listdir(f"/proc/{proc.pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{proc.pid}/task/{tid}/status") as f:
                        status = f.read()
                except OSError:
                    continue   # the thread exited
                counts[(proc.pid, tid)] = sum(int(n) for n in re.findall(
                    r"^(?:non)?voluntary_ctxt_switches:\s*(\d+)$", status, re.M))
        return counts

    def worker_conns(self) -> list[int]:
        """Established TCP connections held by each worker process: each
        child of the server that holds the listening socket too
        (pyfast.prefork's workers), else the server itself."""
        conns = {}
        for proc in [self.ps, *self.ps.children(recursive=True)]:
            try:
                conns[proc.pid] = [c.status for c in proc.net_connections(kind="tcp")]
            except psutil.Error:
                continue
        workers = [st for pid, st in conns.items() if pid != self.ps.pid and psutil.CONN_LISTEN in st]
        return [st.count(psutil.CONN_ESTABLISHED) for st in workers or [conns.get(self.ps.pid, [])]]

    def stop(self, timeout: float = 3.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def _busy_s() -> float:
    """Seconds of CPU time the whole machine has spent not idle (all cores)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class WindowSampler(threading.Thread):
    """Samples CPU times when the generator marks the measure window (one
    byte written to the pipe at the start, one at the end): the server's,
    this process's and the whole machine's, to tell how busy other
    processes kept the cores."""

    def __init__(self, server: ServerProcess):
        super().__init__(daemon=True)
        self.server = server
        self.me = psutil.Process()
        self.rfd, self.wfd = os.pipe()
        self.marks: list[tuple[float, float, float, float]] = []
        self.ctx_switches: list[dict] = []   # the server's threads', at each mark
        self.rss_kib = 0.0   # server RSS and threads at the end mark
        self.threads = 0
        self.worker_conns: list[int] = []

    def run(self) -> None:
        try:
            while len(self.marks) < 2 and os.read(self.rfd, 1):
                mine = self.me.cpu_times()
                self.marks.append((self.server.cpu_s(), mine.user + mine.system, _busy_s(), time.monotonic()))
                self.ctx_switches.append(self.server.ctx_switches())
                if len(self.marks) == 1:
                    # At the start: the generator closes its connections at the end.
                    self.worker_conns = self.server.worker_conns()
                if len(self.marks) == 2:
                    self.rss_kib = self.server.rss_kib()
                    self.threads = self.server.ps.num_threads()
        except (OSError, psutil.Error):
            pass

    def close(self) -> tuple[float, float] | None:
        """Stop; return (server CPU seconds in the window, cores kept busy by
        other processes on average), or None."""
        os.close(self.wfd)   # ends a read still waiting
        self.join(2.0)
        os.close(self.rfd)
        if len(self.marks) != 2:
            return None
        (s0, m0, b0, t0), (s1, m1, b1, t1) = self.marks
        others = ((b1 - b0) - (s1 - s0) - (m1 - m0)) / (t1 - t0) if t1 > t0 else 0.0
        return s1 - s0, max(others, 0.0)


def window_switches(start: dict, end: dict) -> int:
    """Context switches between two ServerProcess.ctx_switches() samples:
    each thread's count at the end less its count at the start (0 for a
    thread started in between).  A thread that exited in between is not
    counted."""
    return sum(n - start.get(key, 0) for key, n in end.items())


def _drive(sc: Scenario, impl: str, host: str, port: int, opts: Options, mark_fd: int) -> tuple[str, dict]:
    """Run the load; returns (driver name, loadgen-style dict)."""
    warmup = max(opts.warmup, sc.min_warmup)
    if sc.tls:
        return "tlsgen", _drive_tlsgen(sc, host, port, warmup, opts.duration, mark_fd)
    if sc.mode == "http" and opts.use_wrk and shutil.which("wrk"):
        return "wrk", _drive_wrk(sc, host, port, warmup, opts.duration, mark_fd)
    from pyfast import _bench
    res = _bench.run_loadgen((host, port), sc.mode, conns=sc.conns, depth=sc.depth, active=sc.active,
                             size=max(sc.size, 1), warmup=warmup, duration=opts.duration,
                             mark_fd=mark_fd, **sc.loadgen_kwargs(impl))
    return "pf_loadgen", res


def _drive_tlsgen(sc: Scenario, host: str, port: int, warmup: float, duration: float, mark_fd: int) -> dict:
    """TLS load with tlsgen.c (OpenSSL in C, threads, compiled on first
    use): warm-up and measure window in one run, the window marked on
    mark_fd. Raises OSError when tlsgen cannot be built or fails."""
    from .cbuild import BuildError, compiled
    try:
        gen = compiled("tlsgen")
    except BuildError as e:
        raise OSError(str(e)) from e
    cmd = [gen, host, str(port), sc.mode, str(sc.conns), str(max(sc.size, 1)), str(duration),
           str(warmup), str(mark_fd)]
    proc = subprocess.run(cmd, capture_output=True, text=True, pass_fds=(mark_fd,),
                          timeout=warmup + duration + 60)
    if proc.returncode != 0:
        raise OSError(f"tlsgen exited {proc.returncode}: {proc.stderr.strip()}")
    head, _, tail = proc.stdout.strip().partition("hist")
    f = head.split()
    res = {k: float(v) for k, v in zip(f[0::2], f[1::2])}
    hist = [[float(us), int(n)] for us, n in (pair.split(":") for pair in tail.split(",") if pair.strip())]
    requests = int(res["requests"])
    return {"requests": requests, "errors": int(res["errors"]), "warmup_errors": int(res["warmup_errors"]),
            "lost": 0, "elapsed_s": res["elapsed_s"],
            "rps": requests / res["elapsed_s"] if res["elapsed_s"] else 0.0,
            "p50_us": res["p50_us"], "p90_us": res["p90_us"], "p99_us": res["p99_us"],
            "max_us": res["max_us"], "gen_cpu": res["gen_cpu"], "hist": hist}


_WRK_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def _drive_wrk(sc: Scenario, host: str, port: int, warmup: float, duration: float, mark_fd: int) -> dict:
    """HTTP load with wrk (one thread): a warm-up run, then the measured run."""
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    base = ["wrk", "-t1", f"-c{sc.conns}", "--latency"]
    if warmup > 0:
        subprocess.run(base + [f"-d{max(1, round(warmup))}s", url], capture_output=True, timeout=warmup + 30)
    os.write(mark_fd, b"m")
    t0 = time.monotonic()
    out = subprocess.run(base + [f"-d{max(1, round(duration))}s", url], capture_output=True, text=True,
                         timeout=duration + 30).stdout
    elapsed = time.monotonic() - t0
    os.write(mark_fd, b"m")
    lat = {}
    for q, v, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M):
        lat[q] = float(v) * _WRK_UNITS[unit]
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    requests = int(m.group(1)) if m else 0
    window = float(m.group(2)) * _WRK_UNITS[m.group(3)] / 1e6 if m else elapsed
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(m.group(1)) if m else 0
    return {"requests": requests, "errors": errors, "lost": 0, "elapsed_s": window,
            "rps": requests / window if window else 0.0, "p50_us": lat.get("50", 0.0),
            "p90_us": lat.get("90", 0.0), "p99_us": lat.get("99", 0.0), "max_us": 0.0,
            "gen_cpu": 0.0, "wrk_output": out}


def run_one(rnd: int, sc: Scenario, impl: str, opts: Options, cpus: tuple[int | None, int | None]) -> Run:
    """One fresh server, one load generator run."""
    server_cpu, gen_cpu = cpus if sc.pin else (None, None)
    try:
        name, python = impl, None
        if impl.endswith(BASELINE_SUFFIX):
            name, python = impl[:-len(BASELINE_SUFFIX)], opts.baseline
        server = ServerProcess(name, sc.name, opts.host, server_cpu, opts.start_timeout, python)
    except (RuntimeError, OSError) as e:
        return Run(sc.name, impl, rnd, ok=False, reason=str(e))
    if server.unavailable is not None:
        server.stop()
        return Run(sc.name, impl, rnd, ok=False, reason=server.unavailable, unavailable=True)
    old_affinity = os.sched_getaffinity(0)
    sampler = WindowSampler(server)
    try:
        if gen_cpu is not None:
            os.sched_setaffinity(0, {gen_cpu})
        sampler.start()
        driver, res = _drive(sc, name, opts.host, server.port, opts, sampler.wfd)
    except OSError as e:
        return Run(sc.name, impl, rnd, ok=False, reason=f"load generator: {e}")
    finally:
        if gen_cpu is not None:
            os.sched_setaffinity(0, old_affinity)
        window = sampler.close()
        alive = server.proc.poll() is None
        tail = server.stderr_tail()
        server.stop()
    run = Run(sc.name, impl, rnd, ok=True, driver=driver,
              rps=res["rps"], p50_us=res["p50_us"], p90_us=res["p90_us"], p99_us=res["p99_us"],
              max_us=res["max_us"], requests=res["requests"], errors=res["errors"],
              warmup_errors=res.get("warmup_errors", 0), lost=res["lost"],
              elapsed_s=res["elapsed_s"], gen_cpu=res["gen_cpu"],
              loadgen={k: v for k, v in res.items() if k not in ("hist", "wrk_output")},
              hist=res.get("hist", []))
    run.rss_idle_kib, run.rss_kib, run.threads = server.rss_idle_kib, sampler.rss_kib, sampler.threads
    run.worker_conns = sampler.worker_conns
    if window is not None:
        run.server_cpu_s, run.others = window
        run.cpu_us_per_req = run.server_cpu_s / run.requests * 1e6 if run.requests else 0.0
        if run.requests and len(sampler.ctx_switches) == 2:
            run.ctx_switches_per_req = window_switches(*sampler.ctx_switches) / run.requests
    if not alive:
        run.ok = False
        run.reason = f"server died: {tail}"
    elif run.requests == 0:
        run.ok = False
        run.reason = f"no request completed ({run.errors} errors) {tail}".strip()
    return run


@dataclass
class Row:
    """The median over rounds of one (scenario, server), and the spread.

    Ratios are taken round by round (this row's req/s over the reference
    row's req/s in the same round: rounds are interleaved, so a round's
    rows ran close together); vs_stdlib and vs_c are the medians of those
    per-round ratios, *_min and *_max their spread.
    """

    scenario: str
    server: str
    ok: bool
    reason: str = ""
    unavailable: bool = False
    rounds: int = 0                # rounds that completed
    rps: float = 0.0
    rps_min: float = 0.0
    rps_max: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    cpu_us_per_req: float = 0.0
    ctx_switches_per_req: float = 0.0   # the server's threads', median (see Run)
    gen_cpu: float = 0.0
    others: float = 0.0            # cores kept busy by other processes, median
    rss_per_conn_kib: float = 0.0  # (RSS at the end of the window - idle RSS) / conns, median
    threads: int = 0               # server threads at the end of the window, max
    worker_conns: list = field(default_factory=list)  # per round: established conns per worker process
    errors: int = 0                # summed over rounds, measure windows
    warmup_errors: int = 0         # summed over rounds
    vs_stdlib: float | None = None
    vs_stdlib_min: float | None = None
    vs_stdlib_max: float | None = None
    vs_c: float | None = None
    vs_c_min: float | None = None
    vs_c_max: float | None = None
    hist: list = field(default_factory=list, repr=False)  # latency histogram summed over rounds


def merge_hists(hists) -> list:
    """Sum [[latency us, count], ...] histograms; sorted by latency."""
    total: dict[float, int] = {}
    for h in hists:
        for us, n in h:
            total[us] = total.get(us, 0) + n
    return [[us, total[us]] for us in sorted(total)]


def _row(name: str, impl: str, sc: Scenario, mine: list[Run]) -> Row:
    good = [r for r in mine if r.ok]
    if not good:
        return Row(name, impl, ok=False, reason=mine[-1].reason, unavailable=mine[-1].unavailable)
    med = lambda attr: statistics.median(getattr(r, attr) for r in good)  # noqa: E731
    row = Row(name, impl, ok=True, rounds=len(good), rps=med("rps"),
              rps_min=min(r.rps for r in good), rps_max=max(r.rps for r in good),
              p50_us=med("p50_us"), p99_us=med("p99_us"), cpu_us_per_req=med("cpu_us_per_req"),
              ctx_switches_per_req=med("ctx_switches_per_req"),
              gen_cpu=med("gen_cpu"), others=med("others"),
              rss_per_conn_kib=statistics.median((r.rss_kib - r.rss_idle_kib) / sc.conns for r in good),
              threads=max(r.threads for r in good),
              worker_conns=[r.worker_conns for r in good],
              errors=sum(r.errors for r in mine),
              warmup_errors=sum(r.warmup_errors for r in mine),
              hist=merge_hists(r.hist for r in good))
    if len(good) < len(mine):
        row.reason = f"{len(mine) - len(good)} round(s) failed: {[r for r in mine if not r.ok][-1].reason}"
    return row


def _ratios(row: Row, mine: list[Run], base: list[Run]) -> list[float]:
    """This row's req/s over the reference's, round by round."""
    ref = {r.round: r.rps for r in base if r.ok and r.rps > 0}
    return [r.rps / ref[r.round] for r in mine if r.ok and r.round in ref]


def medians(runs: list[Run], opts: Options) -> list[Row]:
    """One row per (scenario, server) in table order, with ratios."""
    rows = []
    for name in opts.scenarios:
        sc = SCENARIOS[name]
        scen_runs = {}
        for impl in sc.servers:
            if opts.servers is not None and impl not in opts.servers:
                continue
            for server in (impl, impl + BASELINE_SUFFIX):
                mine = [r for r in runs if r.scenario == name and r.server == server]
                if mine:
                    scen_runs[server] = mine
        scen_rows = {impl: _row(name, impl, sc, mine) for impl, mine in scen_runs.items()}
        for impl, row in scen_rows.items():
            for ref, attr in (("stdlib", "vs_stdlib"), ("c", "vs_c")):
                if not row.ok or ref not in scen_runs:
                    continue
                ratios = _ratios(row, scen_runs[impl], scen_runs[ref])
                if ratios:
                    setattr(row, attr, statistics.median(ratios))
                    setattr(row, attr + "_min", min(ratios))
                    setattr(row, attr + "_max", max(ratios))
        rows.extend(scen_rows.values())
    return rows


#: Seconds a run takes beyond its warm-up and measure window (server start
#: and stop), for the progress bar's time left.
RUN_OVERHEAD_S = 0.8


def split_baseline(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(this interpreter's rows, the baseline's rows named as the rows they
    twin): the pair report.compare_grid takes as (now, before)."""
    now = [r for r in rows if not r.server.endswith(BASELINE_SUFFIX)]
    base = [replace(r, server=r.server[:-len(BASELINE_SUFFIX)]) for r in rows
            if r.server.endswith(BASELINE_SUFFIX)]
    return now, base


def planned_seconds(opts: Options, sc: Scenario) -> float:
    """About how long one run of `sc` takes, in seconds."""
    return max(opts.warmup, sc.min_warmup) + opts.duration + RUN_OVERHEAD_S


def run_all(opts: Options, progress=None) -> tuple[list[Run], list[Row]]:
    """Every planned run, in order; unavailable servers are tried once.

    progress: None, or a callable(description, advance): called with the
    run's description ("round 1/3  echo-1k  pyfast") and 0 before each run,
    and with None and the run's planned seconds after each run or skip.
    """
    cpus = pick_cpus(opts)
    unavailable: dict[tuple[str, str], str] = {}
    runs = []
    for rnd, sc, impl in plan(opts):
        key = (sc.name, impl)
        if key in unavailable:
            runs.append(Run(sc.name, impl, rnd, ok=False, reason=unavailable[key], unavailable=True))
        else:
            if progress:
                progress(f"round {rnd + 1}/{opts.rounds}  {sc.name}  {impl}", 0.0)
            run = run_one(rnd, sc, impl, opts, cpus)
            if run.unavailable:
                unavailable[key] = run.reason
            runs.append(run)
        if progress:
            progress(None, planned_seconds(opts, sc))
    return runs, medians(runs, opts)


def to_json(opts: Options, runs: list[Run], rows: list[Row]) -> dict:
    """Everything, for --json."""
    import platform
    cpus = pick_cpus(opts)
    versions = {"python": platform.python_version()}
    for mod in ("uvloop", "gevent", "psutil"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            versions[mod] = None
    return {
        "options": asdict(opts),
        "machine": {"platform": platform.platform(), "cpus": sorted(os.sched_getaffinity(0)),
                    "server_cpu": cpus[0], "gen_cpu": cpus[1], "loadavg": os.getloadavg()},
        "versions": versions,
        "scenarios": {name: SCENARIOS[name].definition() for name in opts.scenarios},
        "runs": [asdict(r) for r in runs],
        "medians": [asdict(r) for r in rows],
    }


def from_json(data: dict) -> tuple[Options, list[Run], list[Row]]:
    """The options, runs and rows of a --json file (fields this version
    does not know are dropped, missing ones take their defaults)."""
    def build(cls, d):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    opts = build(Options, data.get("options", {}))
    opts.scenarios = tuple(opts.scenarios)
    if opts.servers is not None:
        opts.servers = tuple(opts.servers)
    runs = [build(Run, r) for r in data.get("runs", [])]
    rows = [build(Row, r) for r in data.get("medians", [])]
    return opts, runs, rows


def merge_json(datas: list[dict]) -> dict:
    """Several --json files as one: the runs of all, in order, their
    scenarios in first-seen order, the medians computed again over all the
    runs. Options and machine are the first's.

    Rows are compared round by round (a row against its IMPL@base twin or
    the stdlib/C row of the same round), so a scenario's rounds stay
    within their file: where an earlier file holds the same scenario, this
    file's rounds of it are numbered after that file's (the runs of
    `--baseline` repeated three times report as one run of every round,
    each row still paired with its own file's twin)."""
    if len(datas) == 1:
        return datas[0]
    out = dict(datas[0])
    names: list[str] = []
    defs: dict = {}
    runs: list[dict] = []
    next_round: dict[str, int] = {}   # scenario -> first free round number
    for d in datas:
        for name in d.get("options", {}).get("scenarios", []):
            if name not in names:
                names.append(name)
        defs.update(d.get("scenarios", {}))
        mine = d.get("runs", [])
        offset = {sc: next_round.get(sc, 0) for sc in {r["scenario"] for r in mine}}
        for r in mine:
            runs.append(dict(r, round=r["round"] + offset[r["scenario"]]))
        for r in runs[len(runs) - len(mine):]:
            next_round[r["scenario"]] = max(next_round.get(r["scenario"], 0), r["round"] + 1)
    out["options"] = dict(out.get("options", {}), scenarios=names, servers=None,
                          rounds=max(next_round.values(), default=1))
    out["scenarios"] = defs
    out["runs"] = runs
    opts, run_objs, _ = from_json(dict(out, medians=[]))
    out["medians"] = [asdict(r) for r in medians(run_objs, opts)]
    return out