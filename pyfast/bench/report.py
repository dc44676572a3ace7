"""The results table (rich) and the JSON file."""
from __future__ import annotations

import json
import statistics

from rich.console import Console
from rich.table import Table

from .runner import Options, Row, Run, to_json
from .scenarios import SCENARIOS


def _ratio(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None else ""


def _errors(r: Row) -> str:
    text = f"{r.errors:,}" if r.errors else ""
    if r.warmup_errors:
        text += f" (+{r.warmup_errors:,})"
    return text.strip()


def table(rows: list[Row], opts: Options, pinned: bool) -> Table:
    """scenario | server | req/s | p50 | p99 | CPU us/req | x stdlib | x C | errors | gen CPU."""
    pin = "server and generator pinned to separate cores" if pinned else "not pinned"
    t = Table(title=f"pyfast.bench: median of {opts.rounds} round(s), {opts.duration:g} s each, {pin}",
              title_justify="left")
    t.add_column("scenario")
    t.add_column("server")
    for col in ("req/s", "p50 µs", "p99 µs", "CPU µs/req", "× stdlib", "× C", "errors", "gen CPU"):
        t.add_column(col, justify="right")
    last = None
    for r in rows:
        if last is not None and r.scenario != last:
            t.add_section()
        name = r.scenario if r.scenario != last else ""
        last = r.scenario
        if not r.ok:
            why = "unavailable" if r.unavailable else "failed"
            t.add_row(name, f"[dim]{r.server}[/]", f"[dim]{why}[/]", *[""] * 7)
            continue
        t.add_row(name, r.server, f"{r.rps:,.0f}", f"{r.p50_us:,.0f}", f"{r.p99_us:,.0f}",
                  f"{r.cpu_us_per_req:.1f}", _ratio(r.vs_stdlib), _ratio(r.vs_c),
                  _errors(r), f"{r.gen_cpu:.0%}" if r.gen_cpu else "")
    return t


def notes(rows: list[Row]) -> list[str]:
    """One line per row that is unavailable, failed or partly failed."""
    out = []
    seen = set()
    for r in rows:
        if r.reason and (r.server, r.reason) not in seen:
            seen.add((r.server, r.reason))
            out.append(f"{r.scenario}/{r.server}: {r.reason}")
    return out


def stalled_lines(rows: list[Row]) -> list[str]:
    """For each server in message-stalled: its p99 against the same server's
    undisturbed p99 (the message scenario, when it ran too) and the RSS that
    the clients that never read cost."""
    base = {r.server: r for r in rows if r.ok and r.scenario == "message"}
    out = []
    for r in rows:
        if not (r.ok and r.scenario == "message-stalled"):
            continue
        line = f"[cyan]message-stalled[/] {r.server}: p99 {r.p99_us:,.0f} µs"
        b = base.get(r.server)
        if b is not None and b.p99_us > 0:
            line += f" vs {b.p99_us:,.0f} µs undisturbed = {r.p99_us / b.p99_us:.2f}x"
        growth_mib = r.rss_per_conn_kib * SCENARIOS[r.scenario].conns / 1024
        line += f"; RSS +{growth_mib:,.1f} MiB over the idle server"
        out.append(line)
    return out


def show(rows: list[Row], opts: Options, pinned: bool, console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(rows, opts, pinned))
    busy = [r.others for r in rows if r.ok]
    if busy and max(busy) > 0.15:
        console.print(f"[red]noisy machine[/]: other processes kept {statistics.median(busy):.2f} cores busy "
                      f"(up to {max(busy):.2f}) during the measure windows; compare ratios, not absolute figures, "
                      "and re-run when the machine is quiet.", highlight=False)
    console.print("[dim]CPU µs/req: server process user+system CPU over the measure window / requests. "
                  "gen CPU: load generator core busy (100% = it may be the bottleneck). "
                  "errors: in the measure windows (+ during warm-up).[/]")
    for r in rows:
        if r.ok and r.scenario == "c10k":
            console.print(f"[cyan]c10k[/] {r.server}: RSS {r.rss_per_conn_kib:.1f} KiB per connection "
                          f"beyond the idle server, {r.threads} threads", highlight=False)
    for line in stalled_lines(rows):
        console.print(line, highlight=False)
    for line in notes(rows):
        console.print(f"[yellow]note[/] {line}", highlight=False)


def write_json(path: str, opts: Options, runs: list[Run], rows: list[Row]) -> None:
    with open(path, "w") as f:
        json.dump(to_json(opts, runs, rows), f, indent=2)
        f.write("\n")
