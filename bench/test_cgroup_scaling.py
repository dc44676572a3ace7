"""python -m pyfast.bench.cgroup_scaling: its servers and its report (no speed
is asserted)."""
import os
import signal
import subprocess
import sys

import psutil
import pytest

from pyfast.bench import cgroup_scaling
from pyfast.bench.runner import pyfast_root
from support import connect, recv_exact, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("server", sorted(cgroup_scaling.LOADS))
def test_serve_runs_the_server_on_two_workers_with_its_load(server):
    mode, size = cgroup_scaling.LOADS[server]
    proc = subprocess.Popen([sys.executable, "-m", "pyfast.bench.cgroup_scaling", "--serve", "2",
                             "--server", server], stdout=subprocess.PIPE, text=True,
                            cwd=pyfast_root())
    try:
        port = int(proc.stdout.readline().split()[1])
        assert wait_until(lambda: len(psutil.Process(proc.pid).children()) == 2)
        request = b"x" * (size - 1) + b"\n"
        with connect(("127.0.0.1", port)) as c:
            for _ in range(3):
                c.sendall(request)
                assert recv_exact(c, size) == request
        if mode == "line":   # the message row's framing: a partial line gets no reply yet
            with connect(("127.0.0.1", port)) as c:
                c.sendall(b"ab")
                c.sendall(b"c\n")
                assert recv_exact(c, 4) == b"abc\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


@pytest.mark.skipif(not os.access(cgroup_scaling.CGROUP_CPU, os.W_OK),
                    reason="needs a writable cgroup v1 cpu controller (root)")
def test_message_run_reports_throughput_and_cpu_per_request_per_worker_count(capsys):
    assert cgroup_scaling.main(["--server", "message", "--workers", "1,2", "--quota", "0.3",
                                "--duration", "0.5", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("--server message, 0.30 core per worker")
    assert [ln.split(":")[0] for ln in lines[1:]] == ["1 worker(s)", "2 worker(s)"]
    for ln in lines[1:]:
        assert "req/s" in ln and "x of 1" in ln and "us/req" in ln, ln
