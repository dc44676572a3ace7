"""python -m pyfast.bench: pyfast and its peers, side by side.

Examples:
    python -m pyfast.bench --quick
    python -m pyfast.bench --scenarios echo-1k,connect --rounds 5 --json out.json
    python -m pyfast.bench --scenarios all
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
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import report
    from .runner import Options, pick_cpus, plan, run_all

    quick = dict(warmup=0.3, duration=1.0, rounds=1) if args.quick else dict(warmup=1.0, duration=4.0, rounds=3)
    opts = Options(scenarios=args.scenarios, servers=args.servers,
                   warmup=args.warmup if args.warmup is not None else quick["warmup"],
                   duration=args.duration if args.duration is not None else quick["duration"],
                   rounds=args.rounds if args.rounds is not None else quick["rounds"],
                   pin=args.pin, host=args.host, server_cpu=args.server_cpu, gen_cpu=args.gen_cpu,
                   use_wrk=args.use_wrk)
    if opts.host not in ("127.0.0.1", "::1", "localhost"):
        print("pyfast.bench runs on loopback only (127.0.0.1, ::1)", file=sys.stderr)
        return 2
    console = Console()
    if not console.is_terminal:   # piped or captured: do not squeeze the table to 80 columns
        console = Console(width=132)
    server_cpu, gen_cpu = pick_cpus(opts)
    pinned = server_cpu is not None
    if pinned:
        console.print(f"server on core {server_cpu}, load generator on core {gen_cpu}", style="dim")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(plan(opts)))

        def tick(desc):
            if desc is None:
                progress.advance(task)
            else:
                progress.update(task, description=desc)

        try:
            runs, rows = run_all(opts, tick)
        except KeyboardInterrupt:
            console.print("interrupted", style="red")
            return 130
    report.show(rows, opts, pinned, console)
    if args.json:
        report.write_json(args.json, opts, runs, rows)
        console.print(f"wrote {args.json}", style="dim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
