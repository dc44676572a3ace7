"""A short real run of ``python -m pyfast.bench``: one scenario, two
servers, one round. Checks that the run completes, every request is
answered and the reports are written; no speed is asserted."""
import json
import subprocess
import sys


def test_a_short_run_measures_every_server_and_writes_its_reports(tmp_path):
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyfast.bench", "--scenarios", "connect", "--servers", "pyfast,c",
         "--rounds", "2", "--warmup", "0.2", "--duration", "0.5", "--json", str(out), "--markdown",
         "--plot", str(tmp_path / "plots")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert [(r["server"], r["round"]) for r in data["runs"]] == [("pyfast", 0), ("c", 0), ("pyfast", 1), ("c", 1)]
    for r in data["runs"]:
        assert r["ok"], r["reason"]
        assert r["requests"] > 0 and r["errors"] == 0
        assert sum(n for _, n in r["hist"]) == r["requests"]
        assert r["ctx_switches_per_req"] > 0   # each server sleeps in a wait between connections
    rows = {r["server"]: r for r in data["medians"]}
    assert rows["c"]["vs_c"] == 1.0 and rows["pyfast"]["vs_c"] > 0
    assert "| connect (server closes first) | pyfast |" in proc.stdout
    assert (tmp_path / "plots" / "cdf-connect.png").stat().st_size > 0


def _run_with_baseline(tmp_path, shim_body: str, servers: str):
    """One short echo-1k run of `servers` with --baseline a shell script
    (shim_body after its #! line); returns (the process, its --json data)."""
    shim = tmp_path / "python-base"
    shim.write_text("#!/bin/sh\n" + shim_body)
    shim.chmod(0o755)
    out = tmp_path / "run.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyfast.bench", "--scenarios", "echo-1k", "--servers", servers,
         "--rounds", "1", "--warmup", "0.2", "--duration", "0.5", "--json", str(out),
         "--baseline", str(shim)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def test_baseline_runs_each_pyfast_row_again_on_the_other_interpreter(tmp_path):
    """--baseline PYTHON: before/after in one invocation.  Here the other
    interpreter is a script that records that it ran, then runs the real
    one, so the test can tell the @base row's server came from it."""
    marker = tmp_path / "baseline-ran"
    proc, data = _run_with_baseline(
        tmp_path, f"echo \"$@\" >> {marker}\nexec {sys.executable} \"$@\"\n", "pyfast,stdlib")
    # only pyfast rows get a baseline twin, run right after the row itself
    assert [r["server"] for r in data["runs"]] == ["pyfast", "pyfast@base", "stdlib"]
    assert all(r["ok"] and r["requests"] > 0 for r in data["runs"]), data["runs"]
    calls = marker.read_text().splitlines()
    assert len(calls) == 1 and calls[0].split()[:4] == ["-m", "pyfast.bench.servers", "pyfast", "echo-1k"]
    assert "pyfast@base" in {r["server"] for r in data["medians"]}
    assert "pyfast.bench --baseline" in proc.stdout and "req/s now/before" in proc.stdout
    # the main table holds this interpreter's rows; the baseline's are in the grid
    main_table = proc.stdout.split("pyfast.bench --baseline")[0]
    assert "pyfast@base" not in main_table


def test_baseline_twins_alternate_which_runs_first():
    """ABBA: a row before its @base twin in even rounds, after it in odd
    ones; rows without a twin keep their place."""
    from pyfast.bench.runner import Options, plan
    opts = Options(scenarios=("echo-1k",), servers=("pyfast", "stdlib"), rounds=3, baseline="OLD")
    assert [(r, impl) for r, _, impl in plan(opts)] == [
        (0, "pyfast"), (0, "pyfast@base"), (0, "stdlib"),
        (1, "pyfast@base"), (1, "pyfast"), (1, "stdlib"),
        (2, "pyfast"), (2, "pyfast@base"), (2, "stdlib")]


def test_a_server_that_does_not_start_fails_its_row_with_its_stderr_and_the_run_goes_on(tmp_path):
    """A baseline whose pyfast predates a scenario: its server exits at
    once.  That row fails, saying what the server printed; the rest runs."""
    _, data = _run_with_baseline(tmp_path, "echo 'no such scenario here' >&2\nexit 2\n", "pyfast")
    runs = {r["server"]: r for r in data["runs"]}
    assert runs["pyfast"]["ok"] and runs["pyfast"]["requests"] > 0
    assert not runs["pyfast@base"]["ok"]
    assert "no such scenario here" in runs["pyfast@base"]["reason"]



#: A process whose 4 threads each sleep 50 times (a context switch each)
#: once told to on stdin, then wait; its first thread only reads stdin.
_SLEEPERS = """\
import sys, threading, time
go, stop, slept = threading.Event(), threading.Event(), threading.Semaphore(0)
def work():
    go.wait()
    for _ in range(50):
        time.sleep(0.001)
    slept.release()
    stop.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.readline()
go.set()
for t in threads:
    slept.acquire()
print("slept", flush=True)
sys.stdin.readline()
stop.set()
"""


def test_server_context_switches_count_every_thread_not_the_first_only():
    """ServerProcess.ctx_switches() sums every thread's context switches:
    psutil's num_ctx_switches() reads the process's first thread only,
    which misses the switches of a server whose handlers run on threads."""
    import psutil
    from pyfast.bench.runner import ServerProcess, window_switches
    child = subprocess.Popen([sys.executable, "-c", _SLEEPERS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        server = ServerProcess.__new__(ServerProcess)   # the measuring half only: no server to start
        server.ps = psutil.Process(child.pid)
        assert child.stdout.readline() == "started\n"
        start, first = server.ctx_switches(), server.ps.num_ctx_switches()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "slept\n"
        end, last = server.ctx_switches(), server.ps.num_ctx_switches()
        child.stdin.write("end\n")
        child.stdin.flush()
    finally:
        child.stdin.close()
        child.wait(10)
    assert len(end) == 5   # the first thread and the 4 sleepers
    assert window_switches(start, end) >= 4 * 50
    assert (last.voluntary + last.involuntary) - (first.voluntary + first.involuntary) < 4 * 50
    # a thread started between the samples counts from 0
    assert window_switches({(1, "1"): 10}, {(1, "1"): 12, (1, "2"): 5}) == 7
