"""The report, on made-up runs: medians and spreads, Markdown, --compare,
--load, and the charts (valid PNG and SVG files). No server runs here."""
import json
import statistics
import xml.etree.ElementTree as ET

import pytest

from pyfast.bench import report
from pyfast.bench.__main__ import main
from pyfast.bench.runner import Options, Run, from_json, medians, to_json

#: (scenario, server) -> req/s of rounds 0, 1, 2 (made up)
RPS = {
    ("connect", "pyfast"): [9000.0, 12000.0, 11000.0],
    ("connect", "stdlib"): [5000.0, 6000.0, 4000.0],
    ("connect", "c"): [10000.0, 12000.0, 8000.0],
    ("echo-1k", "pyfast"): [100000.0, 90000.0, 110000.0],
    ("echo-1k", "stdlib"): [80000.0, 85000.0, 75000.0],
    ("echo-1k", "c"): [150000.0, 160000.0, 140000.0],
}
OPTS = Options(scenarios=("echo-1k", "connect"), rounds=3, duration=2.0)


def fake_runs(scale=1.0):
    runs = []
    for (scenario, server), rates in RPS.items():
        for rnd, rps in enumerate(rates):
            rps *= scale
            lat = 1e6 / rps
            runs.append(Run(scenario, server, rnd, ok=True, rps=rps, requests=int(rps * 2), elapsed_s=2.0,
                            p50_us=lat, p99_us=lat * 4, cpu_us_per_req=lat / 2, server_cpu_s=1.0,
                            hist=[[int(lat / 2), 10], [int(lat), 80], [int(lat * 4), 10]]))
    return runs


@pytest.fixture
def rows():
    return medians(fake_runs(), OPTS)


def row_of(rows, scenario, server):
    return next(r for r in rows if (r.scenario, r.server) == (scenario, server))


def test_rows_hold_the_median_and_spread_of_rounds_and_of_per_round_ratios(rows):
    r = row_of(rows, "connect", "pyfast")
    mine, c = RPS[("connect", "pyfast")], RPS[("connect", "c")]
    assert (r.rps, r.rps_min, r.rps_max) == (statistics.median(mine), min(mine), max(mine))
    per_round = [a / b for a, b in zip(mine, c)]
    assert r.vs_c == pytest.approx(statistics.median(per_round))
    assert (r.vs_c_min, r.vs_c_max) == (pytest.approx(min(per_round)), pytest.approx(max(per_round)))
    assert r.rounds == 3
    assert sum(n for _, n in r.hist) == 3 * 100   # the rounds' histograms summed
    assert row_of(rows, "connect", "c").vs_c == 1.0


def test_a_failed_round_leaves_the_others_in_the_median():
    runs = fake_runs()
    runs[0] = Run(runs[0].scenario, runs[0].server, 0, ok=False, reason="server died: boom")
    r = medians(runs, OPTS)
    first = row_of(r, runs[0].scenario, runs[0].server)
    assert first.ok and first.rounds == 2 and "boom" in first.reason


def test_markdown_table_has_a_line_per_row_the_spread_and_what_each_server_does(rows):
    md = report.markdown(rows, OPTS, pinned=True)
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| scenario | server |"))
    assert set(lines[header + 1].replace("|", "").split()) <= {"---", "---:"}
    body = lines[header + 2:header + 2 + len(rows)]
    assert all(line.startswith("| ") and line.count(" | ") == 10 for line in body)
    assert lines[header + 2 + len(rows)] == ""
    assert "median of 3 round(s)" in md
    assert "| connect (server closes first) | pyfast | 11,000 | 9.0k–12.0k |" in md
    assert "- **connect**:" in md and "BaseRequestHandler: one recv, sendall, return" in md


def test_json_round_trip_keeps_what_the_report_and_compare_need(rows, tmp_path):
    runs = fake_runs()
    path = tmp_path / "run.json"
    report.write_json(str(path), OPTS, runs, rows)
    data = json.loads(path.read_text())
    assert data["scenarios"]["connect"]["closes"] == "server"
    opts, runs2, rows2 = from_json(data)
    assert opts.scenarios == OPTS.scenarios and opts.rounds == 3
    assert runs2 == runs
    assert rows2 == rows


def test_compare_gives_each_rows_ratio_to_the_earlier_run(rows):
    old = medians(fake_runs(scale=0.5), OPTS)
    g = report.compare_grid(rows, old, changed=set())
    cells = {(group[0][0], c[1]): c for group in g.groups for c in group}
    c = cells[("connect", "pyfast")]
    assert c[2] == "11,000" and c[3] == "5,500"
    # median ratio 2.00x; bounds: now's min over before's max, now's max over before's min
    assert c[4] == f"2.00× ({9000 / 6000:.2f}–{12000 / 4500:.2f})"
    assert c[5] == "0.50×" and c[6] == "0.50×"   # CPU per request and p99 halved in the made-up data


def test_baseline_grid_pairs_each_round_with_its_twin():
    """--baseline: the machine's speed swings between rounds (here 1x, 2x,
    0.5x) and both twins of a round swing with it; the grid gives the
    median (min-max) of each round's now/before, not the spread of the
    swings (which compare_grid's bounds, now's min over before's max,
    would show: 0.22x-1.80x here)."""
    machine = [1.0, 2.0, 0.5]
    pair = [0.9, 0.8, 1.0]                  # now/before in each round
    runs = []
    for rnd in range(3):
        for server, rps in (("pyfast", 1e5 * machine[rnd] * pair[rnd]), ("pyfast@base", 1e5 * machine[rnd])):
            runs.append(Run("echo-1k", server, rnd, ok=True, rps=rps, requests=int(rps * 2), elapsed_s=2.0,
                            p50_us=1e6 / rps, p99_us=4e6 / rps, cpu_us_per_req=5e5 / rps, server_cpu_s=1.0))
    rows = medians(runs, Options(scenarios=("echo-1k",), servers=("pyfast",), rounds=3, baseline="OLD"))
    g = report.baseline_grid(runs, rows, "OLD")
    (cells,) = [c for group in g.groups for c in group]
    assert cells[1] == "pyfast" and cells[-1] == "3"
    assert cells[4] == "0.90× (0.80–1.00)"
    assert cells[5] == f"{1 / 0.9:.2f}× (1.00–{1 / 0.8:.2f})"   # CPU per request: the inverse here
    assert "OLD" in g.title


def test_compare_flags_scenarios_whose_definition_changed():
    new = to_json(OPTS, [], [])["scenarios"]
    old = json.loads(json.dumps(new))
    old["connect"]["kind"] = "echo"
    assert report.changed_scenarios(new, old, OPTS.scenarios) == {"connect"}
    assert report.changed_scenarios(new, None, OPTS.scenarios) == set(OPTS.scenarios)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_plots_are_valid_image_files(rows, tmp_path, fmt):
    from pyfast.bench.plot import write_plots
    paths = write_plots(rows, str(tmp_path / "plots"), fmt)
    names = sorted(p.rsplit("/", 1)[1] for p in paths)
    assert names == sorted(f"{n}.{fmt}" for n in ("rps", "cpu", "latency", "cdf-connect", "cdf-echo-1k"))
    for p in paths:
        if fmt == "png":
            import matplotlib.image
            with open(p, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
            h, w, _ = matplotlib.image.imread(p).shape
            assert h > 200 and w > 200
        else:
            assert ET.parse(p).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_cli_reports_a_saved_run_against_an_older_one(rows, tmp_path, capsys):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    report.write_json(str(new), OPTS, fake_runs(), rows)
    report.write_json(str(old), OPTS, fake_runs(0.5), medians(fake_runs(0.5), OPTS))
    rc = main(["--load", str(new), "--compare", str(old), "--markdown", "--plot", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| connect (server closes first) | pyfast | 11,000 |" in out
    assert "| connect | pyfast | 11,000 | 5,500 | 2.00× (" in out
    assert (tmp_path / "p" / "cdf-connect.png").exists()


def test_runs_saved_in_turns_report_as_one(tmp_path, capsys):
    from pyfast.bench.runner import merge_json
    runs = fake_runs()
    parts = []
    for name in OPTS.scenarios:
        opts = Options(scenarios=(name,), rounds=3, duration=2.0)
        mine = [r for r in runs if r.scenario == name]
        parts.append(to_json(opts, mine, medians(mine, opts)))
    merged = merge_json(parts)
    _, runs2, rows2 = from_json(merged)
    assert runs2 == [r for name in OPTS.scenarios for r in runs if r.scenario == name]
    assert rows2 == medians(runs, OPTS)


def test_baseline_runs_saved_in_turns_pair_each_round_with_its_own_files_twin(capsys, tmp_path):
    """The same --baseline command run twice (--load a.json b.json): both
    files number their rounds from 0, and each round's row must still be
    divided by the twin of its own file, not by the other file's twin of
    the same round number.  The machine runs twice as fast during b's
    rounds, so a pair across the files would read 2x or 0.5x."""
    from pyfast.bench.runner import merge_json
    opts = Options(scenarios=("echo-1k",), servers=("pyfast",), rounds=2, baseline="OLD")
    pair = {"a": [0.9, 1.1], "b": [0.95, 1.05]}   # now/before in each round of each file
    parts = []
    for name, machine in (("a", 1.0), ("b", 2.0)):
        runs = []
        for rnd, ratio in enumerate(pair[name]):
            for server, rps in (("pyfast", 1e5 * machine * ratio), ("pyfast@base", 1e5 * machine)):
                runs.append(Run("echo-1k", server, rnd, ok=True, rps=rps, requests=int(rps * 2), elapsed_s=2.0,
                                p50_us=1e6 / rps, p99_us=4e6 / rps, cpu_us_per_req=5e5 / rps,
                                server_cpu_s=1.0))
        parts.append(to_json(opts, runs, medians(runs, opts)))
        (tmp_path / f"{name}.json").write_text(json.dumps(parts[-1]))
    merged_opts, runs, rows = from_json(merge_json(parts))
    g = report.baseline_grid(runs, rows, "OLD")
    (cells,) = [c for group in g.groups for c in group]
    ratios = sorted(pair["a"] + pair["b"])
    assert cells[4] == f"{statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f})"
    assert cells[-1] == "4"
    assert sorted(r.round for r in runs if r.server == "pyfast") == [0, 1, 2, 3]
    assert merged_opts.rounds == 4
    assert main(["--load", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "1.00× (0.90–1.10)" in capsys.readouterr().out


def test_compare_reads_a_file_written_before_spreads_and_definitions(rows, tmp_path, capsys):
    """An older --json file (no spread, no histograms, no scenario
    definitions): its rows compare by median, its scenarios are flagged."""
    old = to_json(OPTS, [], medians(fake_runs(0.5), OPTS))
    del old["scenarios"]
    for r in old["medians"]:
        for key in ("rps_min", "rps_max", "hist", "vs_c_min", "vs_c_max", "vs_stdlib_min", "vs_stdlib_max"):
            del r[key]
    new = tmp_path / "new.json"
    report.write_json(str(new), OPTS, fake_runs(), rows)
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(["--load", str(new), "--compare", str(tmp_path / "old.json"), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| connect (changed) | pyfast | 11,000 | 5,500 | 2.00× |" in out
