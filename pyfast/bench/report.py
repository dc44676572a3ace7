"""The results: the table (rich or Markdown), what each server does, the
comparison with an earlier run, and the JSON file.

Each table is built once as plain cells (:class:`Grid`) and then drawn by
rich for the terminal or as Markdown for the README.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from .runner import BASELINE_SUFFIX, Options, Row, Run, to_json
from .scenarios import SCENARIOS


@dataclass
class Grid:
    """A table as text cells: a title, headers, rows grouped by scenario."""

    title: str
    headers: list[str]
    right: set[int]                                   # right-aligned columns
    groups: list[list[list[str]]] = field(default_factory=list)
    _scenario: str | None = field(default=None, repr=False)

    def add(self, scenario: str, label: str, cells: list[str]) -> None:
        """Add a row of `scenario`: the first row of a scenario starts a
        section and shows `label` in the first column, the others leave it blank."""
        if scenario != self._scenario:
            self._scenario = scenario
            self.groups.append([])
            self.groups[-1].append([label] + cells)
        else:
            self.groups[-1].append([""] + cells)

    def rich(self) -> Table:
        t = Table(title=self.title, title_justify="left")
        for i, h in enumerate(self.headers):
            t.add_column(h, justify="right" if i in self.right else "left")
        for n, group in enumerate(self.groups):
            if n:
                t.add_section()
            for cells in group:
                t.add_row(*cells)
        return t

    def markdown(self) -> str:
        def esc(cell: str) -> str:
            return cell.replace("|", "\\|")
        out = [f"**{esc(self.title)}**", "",
               "| " + " | ".join(esc(h) for h in self.headers) + " |",
               "| " + " | ".join("---:" if i in self.right else "---" for i in range(len(self.headers))) + " |"]
        for group in self.groups:
            out.extend("| " + " | ".join(esc(c) for c in cells) + " |" for cells in group)
        return "\n".join(out)


def _num(x: float) -> str:
    """Compact: 153k, 14.2k, 980."""
    if x >= 100_000:
        return f"{x / 1000:,.0f}k"
    if x >= 1000:
        return f"{x / 1000:.1f}k"
    return f"{x:.0f}"


def _ratio(mid: float | None, lo: float | None = None, hi: float | None = None) -> str:
    if mid is None:
        return ""
    if lo is None or hi is None or lo == hi:
        return f"{mid:.2f}×"
    return f"{mid:.2f}× ({lo:.2f}–{hi:.2f})"


def _errors(r: Row) -> str:
    text = f"{r.errors:,}" if r.errors else ""
    if r.warmup_errors:
        text += f" (+{r.warmup_errors:,})"
    return text.strip()


def _closes(name: str) -> str:
    sc = SCENARIOS.get(name)
    return f"{sc.closes} closes first" if sc is not None and sc.closes else ""


def grid(rows: list[Row], opts: Options, pinned: bool) -> Grid:
    """scenario | server | req/s | spread | p50 | p99 | CPU us/req | x stdlib | x C | errors | gen CPU."""
    pin = "server and generator pinned to separate cores" if pinned else "not pinned"
    title = (f"pyfast.bench: median of {opts.rounds} round(s) of {opts.duration:g} s, {pin}; "
             "req/s min–max and ratios (min–max) over the rounds")
    g = Grid(title, ["scenario", "server", "req/s", "req/s min–max", "p50 µs", "p99 µs", "CPU µs/req",
                     "× stdlib", "× C", "errors", "gen CPU"], right=set(range(2, 11)))
    for r in rows:
        closes = _closes(r.scenario)
        label = r.scenario + (f" ({closes})" if closes else "")
        if not r.ok:
            g.add(r.scenario, label, [r.server, "unavailable" if r.unavailable else "failed"] + [""] * 8)
            continue
        spread = f"{_num(r.rps_min)}–{_num(r.rps_max)}" if r.rounds > 1 and r.rps_max else ""
        g.add(r.scenario, label, [r.server, f"{r.rps:,.0f}", spread, f"{r.p50_us:,.0f}", f"{r.p99_us:,.0f}",
                                  f"{r.cpu_us_per_req:.1f}",
                                  _ratio(r.vs_stdlib, r.vs_stdlib_min, r.vs_stdlib_max),
                                  _ratio(r.vs_c, r.vs_c_min, r.vs_c_max), _errors(r),
                                  f"{r.gen_cpu:.0%}" if r.gen_cpu else ""])
    return g


def table(rows: list[Row], opts: Options, pinned: bool) -> Table:
    """The results as a rich table."""
    return grid(rows, opts, pinned).rich()


def work_lines(rows: list[Row]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """For each scenario in the rows: (name, description, [(servers, what
    they do)]), servers that do it the same way named together."""
    out = []
    seen: list[str] = []
    for r in rows:
        if r.scenario not in seen:
            seen.append(r.scenario)
    for name in seen:
        sc = SCENARIOS.get(name)
        if sc is None:
            continue
        by_text: dict[str, list[str]] = {}
        for r in rows:
            if r.scenario == name:
                by_text.setdefault(sc.work(r.server) or "(not described)", []).append(r.server)
        out.append((name, sc.description, [(", ".join(impls), text) for text, impls in by_text.items()]))
    return out


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
        line = f"message-stalled {r.server}: p99 {r.p99_us:,.0f} µs"
        b = base.get(r.server)
        if b is not None and b.p99_us > 0:
            line += f" vs {b.p99_us:,.0f} µs undisturbed = {r.p99_us / b.p99_us:.2f}x"
        growth_mib = r.rss_per_conn_kib * SCENARIOS[r.scenario].conns / 1024
        line += f"; RSS +{growth_mib:,.1f} MiB over the idle server"
        out.append(line)
    return out


def c10k_lines(rows: list[Row]) -> list[str]:
    return [f"c10k {r.server}: RSS {r.rss_per_conn_kib:.1f} KiB per connection beyond the idle server, "
            f"{r.threads} threads" for r in rows if r.ok and r.scenario == "c10k"]


def percentile(hist: list, q: float) -> float:
    """The q-quantile (0..1) latency in µs of a [[latency µs, count], ...] histogram."""
    total = sum(n for _, n in hist)
    seen = 0
    for us, n in hist:
        seen += n
        if seen >= q * total:
            return us
    return 0.0


def workers_lines(rows: list[Row]) -> list[str]:
    """pyfast.prefork's scenarios: connections per worker (max/min, per
    round), 2 workers against 1 (req/s, CPU per request), and the reload
    scenario's failed requests and p99.9 latency."""
    out = []
    by = {(r.scenario, r.server): r for r in rows if r.ok}
    for r in rows:
        if not r.ok:
            continue
        if r.scenario in ("workers", "workers-echo-1k"):
            spread = [max(c) / min(c) if min(c) else float("inf") for c in r.worker_conns if c]
            line = (f"{r.scenario} {r.server}: connections per worker "
                    f"{', '.join('/'.join(map(str, c)) for c in r.worker_conns)} "
                    f"(max/min {', '.join(f'{x:.2f}' for x in spread)})")
            one = by.get((r.scenario, "pyfast-1w"))
            if r.server == "pyfast-2w" and one is not None and one.rps and one.cpu_us_per_req:
                line += (f"; vs 1 worker: req/s {r.rps / one.rps:.2f}x, "
                         f"CPU µs/req {r.cpu_us_per_req / one.cpu_us_per_req:.2f}x")
            out.append(line)
        elif r.scenario == "reload":
            out.append(f"reload {r.server}: {r.errors} failed requests (+{r.warmup_errors} in warm-up), "
                       f"p99 {r.p99_us:,.0f} µs, p99.9 {percentile(r.hist, 0.999):,.0f} µs, "
                       f"max {percentile(r.hist, 1.0):,.0f} µs over {r.rounds} round(s)")
    return out


def tls_lines(rows: list[Row]) -> list[str]:
    """The TLS scenarios against the issue's targets, from the medians:
    tls-connect server CPU per connection over the C reference TLS
    server's (OpenSSL's own handshake cost; target <= 1.1x), tls-echo-1k
    req/s over uvloop's (target >= 1.2x for the cooperative server) and
    over the same server's plaintext echo-1k when both ran (target >= 0.6x),
    https req/s over the stdlib's (target >= 2x)."""
    out = []
    by = {(r.scenario, r.server): r for r in rows if r.ok}
    for r in rows:
        if not r.ok:
            continue
        parts = []
        if r.scenario == "tls-connect" and r.server != "c":
            c = by.get(("tls-connect", "c"))
            if c is not None and c.cpu_us_per_req:
                parts.append(f"CPU per connection {r.cpu_us_per_req / c.cpu_us_per_req:.2f}x the C TLS "
                             f"server's ({r.cpu_us_per_req:.0f} / {c.cpu_us_per_req:.0f} µs)")
        elif r.scenario == "tls-echo-1k":
            uv = by.get(("tls-echo-1k", "uvloop"))
            if uv is not None and r.server not in ("uvloop", "c") and uv.rps:
                parts.append(f"req/s {r.rps / uv.rps:.2f}x uvloop's")
            plain = by.get(("echo-1k", r.server))
            if plain is not None and plain.rps:
                parts.append(f"{r.rps / plain.rps:.2f}x its plaintext echo-1k")
        elif r.scenario == "https" and r.vs_stdlib is not None and r.server != "stdlib":
            parts.append(f"req/s {r.vs_stdlib:.2f}x the stdlib's (wrapped socket)")
        if parts:
            out.append(f"{r.scenario} {r.server}: " + "; ".join(parts))
    return out


def extra_lines(rows: list[Row]) -> list[str]:
    """The per-scenario lines printed under the table."""
    return c10k_lines(rows) + stalled_lines(rows) + workers_lines(rows) + tls_lines(rows)


LEGEND = ("CPU µs/req: server process user+system CPU over the measure window / requests. "
          "gen CPU: load generator core busy (100% = it may be the bottleneck). "
          "errors: in the measure windows (+ during warm-up). "
          "× stdlib, × C: this row's req/s over that row's in the same round, median (min–max) of the rounds.")


def noisy(rows: list[Row]) -> str:
    busy = [r.others for r in rows if r.ok]
    if busy and max(busy) > 0.15:
        return (f"noisy machine: other processes kept {statistics.median(busy):.2f} cores busy "
                f"(up to {max(busy):.2f}) during the measure windows; compare ratios, not absolute figures, "
                "and re-run when the machine is quiet.")
    return ""


def show(rows: list[Row], opts: Options, pinned: bool, console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(rows, opts, pinned))
    warn = noisy(rows)
    if warn:
        console.print(f"[red]{warn}[/]", highlight=False)
    console.print(f"[dim]{LEGEND}[/]", highlight=False)
    console.print("What each row's server does:", highlight=False)
    for name, desc, works in work_lines(rows):
        console.print(f"  [cyan]{name}[/]: {desc}", highlight=False)
        for impls, text in works:
            console.print(f"    [bold]{impls}[/]: {text}", highlight=False)
    for line in extra_lines(rows):
        console.print(line, highlight=False)
    for line in notes(rows):
        console.print(f"[yellow]note[/] {line}", highlight=False)


def markdown(rows: list[Row], opts: Options, pinned: bool) -> str:
    """The table, what each server does and the notes, as Markdown."""
    out = [grid(rows, opts, pinned).markdown(), ""]
    warn = noisy(rows)
    if warn:
        out += [f"> {warn}", ""]
    out += [LEGEND, "", "What each row's server does:", ""]
    for name, desc, works in work_lines(rows):
        out.append(f"- **{name}**: {desc}")
        out.extend(f"  - {impls}: {text}" for impls, text in works)
    extra = extra_lines(rows) + [f"note: {n}" for n in notes(rows)]
    if extra:
        out += [""] + [f"- {line}" for line in extra]
    return "\n".join(out) + "\n"


# ---- --compare ------------------------------------------------------------------

def compare_grid(rows: list[Row], old_rows: list[Row], changed: set[str]) -> Grid:
    """Each row's figures against the same (scenario, server) of an earlier
    run: req/s now/before with its bounds (now's min over before's max, now's
    max over before's min), CPU µs/req and p99 now/before."""
    g = Grid("pyfast.bench --compare: this run / the earlier run (same scenario and server)",
             ["scenario", "server", "req/s now", "req/s before", "req/s now/before", "CPU µs/req now/before",
              "p99 now/before", "× C now", "× C before"], right=set(range(2, 9)))
    old = {(r.scenario, r.server): r for r in old_rows if r.ok}
    for r in rows:
        label = r.scenario + (" (changed)" if r.scenario in changed else "")
        o = old.get((r.scenario, r.server))
        if not r.ok or o is None:
            g.add(r.scenario, label, [r.server, f"{r.rps:,.0f}" if r.ok else "failed",
                                      "" if o is None else f"{o.rps:,.0f}", "not in both"] + [""] * 4)
            continue
        ratio = _ratio(r.rps / o.rps if o.rps else None,
                       r.rps_min / o.rps_max if o.rps_max and r.rps_min else None,
                       r.rps_max / o.rps_min if o.rps_min and r.rps_max else None)
        g.add(r.scenario, label, [r.server, f"{r.rps:,.0f}", f"{o.rps:,.0f}", ratio,
                                  _ratio(r.cpu_us_per_req / o.cpu_us_per_req if o.cpu_us_per_req else None),
                                  _ratio(r.p99_us / o.p99_us if o.p99_us else None),
                                  _ratio(r.vs_c), _ratio(o.vs_c)])
    return g


def baseline_grid(runs: list[Run], rows: list[Row], baseline: str) -> Grid:
    """--baseline: each pyfast row against its IMPL@base twin of the same
    run, round by round.  The two run back to back in every round, so the
    machine's state (other load, the host's CPU) is nearly the same for
    both, while it can differ twofold between rounds on a shared virtual
    machine: the ratio of each round's pair, median (min–max) over the
    rounds, is the figure; the medians of req/s are shown beside it.
    Context switches per request tell how the server's threads ran: a
    round whose twins differ there (e.g. one of them in a GIL convoy,
    its threads queueing for the GIL) compares scheduling, not code."""
    g = Grid(f"pyfast.bench --baseline: this interpreter's pyfast / {baseline}'s (same run; "
             "ratios per round, median (min–max))",
             ["scenario", "server", "req/s now", "req/s before", "req/s now/before", "CPU µs/req now/before",
              "p99 now/before", "ctx switches/req now/before", "rounds"], right=set(range(2, 9)))
    by_key = {(r.scenario, r.server, r.round): r for r in runs if r.ok}
    for row in rows:
        if row.server.endswith(BASELINE_SUFFIX):
            continue
        twin = row.server + BASELINE_SUFFIX
        base = next((b for b in rows if b.scenario == row.scenario and b.server == twin), None)
        if base is None:
            continue
        if not (row.ok and base.ok):
            g.add(row.scenario, row.scenario, [row.server, f"{row.rps:,.0f}" if row.ok else "failed",
                                               f"{base.rps:,.0f}" if base.ok else "failed", "not in both"]
                  + [""] * 4)
            continue
        pairs = [(r, by_key[(row.scenario, twin, r.round)]) for r in runs
                 if r.ok and r.scenario == row.scenario and r.server == row.server
                 and (row.scenario, twin, r.round) in by_key]
        cells = []
        for attr in ("rps", "cpu_us_per_req", "p99_us", "ctx_switches_per_req"):
            ratios = [getattr(a, attr) / getattr(b, attr) for a, b in pairs if getattr(b, attr)]
            cells.append(_ratio(statistics.median(ratios), min(ratios), max(ratios)) if ratios else "")
        g.add(row.scenario, row.scenario, [row.server, f"{row.rps:,.0f}", f"{base.rps:,.0f}", *cells,
                                           str(len(pairs))])
    return g


def changed_scenarios(new_defs: dict, old_defs: dict | None, names) -> set[str]:
    """Scenarios whose load or servers differ between two runs (or are
    not described in the older file, which predates the definitions)."""
    if old_defs is None:
        return set(names)
    return {n for n in names if old_defs.get(n) != new_defs.get(n)}


def write_json(path: str, opts: Options, runs: list[Run], rows: list[Row]) -> None:
    with open(path, "w") as f:
        json.dump(to_json(opts, runs, rows), f, indent=2)
        f.write("\n")
