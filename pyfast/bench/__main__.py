"""python -m pyfast.bench: pyfast and its peers, side by side.

Examples:
    python -m pyfast.bench --quick
    python -m pyfast.bench --scenarios echo-1k,connect --rounds 5 --json out.json
    python -m pyfast.bench --scenarios all --json new.json --plot plots --markdown
    python -m pyfast.bench --compare old.json            # run, then each row / old.json's
    python -m pyfast.bench --load new.json --compare old.json --markdown   # no run
    python -m pyfast.bench --scenarios all --baseline /tmp/old/bin/python   # before/after, one run
"""
from __future__ import annotations

import argparse
import sys

from .scenarios import DEFAULT_SCENARIOS, IMPLS, SCENARIOS


def _list(value: str, known, what: str) -> tuple[str, ...]:
    if value == "all":
        return tuple(known)
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in known]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad)}; choose from {', '.join(known)}")
    return items


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pyfast.bench", description=__doc__.split("\n\n")[0],
                                 epilog="scenarios: " + "; ".join(f"{s.name}: {s.description}"
                                                                  for s in SCENARIOS.values()))
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                    type=lambda v: _list(v, SCENARIOS, "scenario"),
                    help=f"comma-separated, or 'all' (default: {','.join(DEFAULT_SCENARIOS)})")
    ap.add_argument("--servers", default=None, type=lambda v: _list(v, IMPLS, "server"),
                    help=f"comma-separated subset of {','.join(IMPLS)} (default: each scenario's peers)")
    ap.add_argument("--duration", type=float, default=None, help="measure seconds per run (default 4)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds per run (default 1)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds; the median is reported (default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 0.3 s warm-up, 1 s measure")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the server and the load generator to separate cores")
    ap.add_argument("--server-cpu", type=int, default=None, help="core for the server (default: the 2nd)")
    ap.add_argument("--gen-cpu", type=int, default=None, help="core for the load generator (default: the 1st)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address: 127.0.0.1 or ::1")
    ap.add_argument("--no-wrk", dest="use_wrk", action="store_false",
                    help="use the C generator for http even when wrk is on PATH")
    ap.add_argument("--json", metavar="FILE", help="write every round and the medians to FILE")
    ap.add_argument("--markdown", action="store_true",
                    help="print the table (and --compare's) as Markdown too, for the README")
    ap.add_argument("--plot", metavar="DIR",
                    help="write charts to DIR: req/s, CPU µs/req, p50/p99, a latency CDF per scenario "
                         "(needs matplotlib: the [plot] extra)")
    ap.add_argument("--plot-format", choices=("png", "svg"), default="png", help="chart format (default png)")
    ap.add_argument("--compare", metavar="OLD.json",
                    help="also print each row's req/s, CPU µs/req and p99 against an earlier --json run")
    ap.add_argument("--baseline", metavar="PYTHON",
                    help="also run every pyfast row on PYTHON (e.g. a venv holding the previous wheel), "
                         "as rows IMPL@base, interleaved with the others in the same run")
    ap.add_argument("--load", metavar="FILE", nargs="+",
                    help="report on saved --json runs instead of running (with --compare, --plot, --markdown); "
                         "several files (e.g. scenarios run in turns) are reported as one run")
    return ap.parse_args(argv)


def _read_json(path: str) -> dict:
    import json
    with open(path) as f:
        return json.load(f)


def _time_left_column():
    """A progress column counting down the time left: at each finished run,
    the planned seconds not yet run scaled by how long the runs so far took
    against their plan (a run is one coarse step, too few for rich's own
    speed estimate), then down with the clock until the next."""
    import time

    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):
        def render(self, task):
            est, at = task.fields.get("eta", (task.total or 0.0, time.monotonic()))
            left = max(est - (time.monotonic() - at), 0.0)
            m, sec = divmod(int(left + 0.5), 60)
            return Text(f"~{m}:{sec:02d} left", style="progress.remaining")

    return TimeLeft()


def _eta(task) -> tuple[float, float]:
    """(seconds left, as of now) once a run has finished: see _time_left_column."""
    import time
    left = task.remaining or 0.0
    if task.completed and task.elapsed:
        left *= task.elapsed / task.completed
    return left, time.monotonic()


def _measure(opts, console):
    """Run the plan under a progress bar; returns (runs, rows, pinned), or None on Ctrl-C."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .runner import pick_cpus, plan, planned_seconds, run_all

    server_cpu, gen_cpu = pick_cpus(opts)
    pinned = server_cpu is not None
    if pinned:
        console.print(f"server on core {server_cpu}, load generator on core {gen_cpu}", style="dim")
    todo = plan(opts)
    total = sum(planned_seconds(opts, sc) for _, sc, _ in todo)
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("run {task.fields[done]}/{task.fields[runs]}"), TimeElapsedColumn(),
                  _time_left_column(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=total, done=0, runs=len(todo))

        def tick(desc, advance):
            if desc is None:
                progress.update(task, advance=advance, done=progress.tasks[0].fields["done"] + 1)
                progress.update(task, eta=_eta(progress.tasks[0]))
            else:
                progress.update(task, description=desc)

        try:
            runs, rows = run_all(opts, tick)
        except KeyboardInterrupt:
            console.print("interrupted", style="red")
            return None
    return runs, rows, pinned


def main(argv=None) -> int:
    args = parse_args(argv)
    from rich.console import Console

    from . import report
    from .runner import Options, from_json, merge_json, to_json

    console = Console()
    if not console.is_terminal:   # piped or captured: do not squeeze the table to 80 columns
        console = Console(width=160)
    old = _read_json(args.compare) if args.compare else None
    if args.load:
        data = merge_json([_read_json(path) for path in args.load])
        opts, runs, rows = from_json(data)
        pinned = data.get("machine", {}).get("server_cpu") is not None
    else:
        quick = dict(warmup=0.3, duration=1.0, rounds=1) if args.quick else dict(warmup=1.0, duration=4.0, rounds=3)
        opts = Options(scenarios=args.scenarios, servers=args.servers,
                       warmup=args.warmup if args.warmup is not None else quick["warmup"],
                       duration=args.duration if args.duration is not None else quick["duration"],
                       rounds=args.rounds if args.rounds is not None else quick["rounds"],
                       pin=args.pin, host=args.host, server_cpu=args.server_cpu, gen_cpu=args.gen_cpu,
                       use_wrk=args.use_wrk, baseline=args.baseline)
        if opts.host not in ("127.0.0.1", "::1", "localhost"):
            print("pyfast.bench runs on loopback only (127.0.0.1, ::1)", file=sys.stderr)
            return 2
        done = _measure(opts, console)
        if done is None:
            return 130
        runs, rows, pinned = done
        data = to_json(opts, runs, rows)
    table = rows
    if opts.baseline:   # the baseline's rows are shown against their twins, below
        from .runner import split_baseline
        table, _ = split_baseline(rows)
    report.show(table, opts, pinned, console)
    if args.markdown:
        print("\n" + report.markdown(table, opts, pinned))
    if opts.baseline:
        cmp = report.baseline_grid(runs, rows, opts.baseline)
        console.print(cmp.rich())
        if args.markdown:
            print("\n" + cmp.markdown() + "\n")
    if old is not None:
        _, _, old_rows = from_json(old)
        changed = report.changed_scenarios(data.get("scenarios", {}), old.get("scenarios"), opts.scenarios)
        cmp = report.compare_grid(rows, old_rows, changed)
        console.print(cmp.rich())
        if changed:
            console.print(f"[yellow]note[/] scenario definition differs from {args.compare} (or is not "
                          f"recorded there): {', '.join(sorted(changed))}; those rows compare unlike loads",
                          highlight=False)
        if args.markdown:
            print("\n" + cmp.markdown() + "\n")
    if args.json and not args.load:
        report.write_json(args.json, opts, runs, rows)
        console.print(f"wrote {args.json}", style="dim")
    if args.plot:
        from .plot import write_plots
        try:
            paths = write_plots(rows, args.plot, args.plot_format)
        except RuntimeError as e:
            console.print(f"[red]{e}[/]", highlight=False)
            return 1
        console.print(f"wrote {len(paths)} chart(s) to {args.plot}", style="dim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
