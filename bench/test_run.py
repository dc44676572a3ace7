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
    rows = {r["server"]: r for r in data["medians"]}
    assert rows["c"]["vs_c"] == 1.0 and rows["pyfast"]["vs_c"] > 0
    assert "| connect (server closes first) | pyfast |" in proc.stdout
    assert (tmp_path / "plots" / "cdf-connect.png").stat().st_size > 0
