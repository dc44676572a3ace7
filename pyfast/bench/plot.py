"""Charts of a run (``python -m pyfast.bench --plot DIR``), with matplotlib.

matplotlib is an optional extra (``pip install "pyfast[plot]"``, also pulled
in by ``[bench]``). Files written to DIR, in the chosen format (png or svg):

    rps          req/s per scenario and server, median with min–max bars
    cpu          server CPU microseconds per request
    latency      p50 to p99 latency (microseconds, log scale)
    cdf-NAME     latency CDF of scenario NAME, one line per server (from the
                 load generator's histogram, summed over the rounds)
"""
from __future__ import annotations

import os

from .runner import Row

FORMATS = ("png", "svg")


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError('--plot needs matplotlib: pip install "pyfast[plot]"') from e
    matplotlib.use("Agg")   # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _scenarios(rows: list[Row]) -> list[str]:
    out: list[str] = []
    for r in rows:
        if r.ok and r.scenario not in out:
            out.append(r.scenario)
    return out


def _panels(plt, rows: list[Row], title: str, xlabel: str):
    """One horizontal-bar panel per scenario, stacked; returns (fig, [(ax, rows)])."""
    names = _scenarios(rows)
    per = [[r for r in rows if r.ok and r.scenario == n] for n in names]
    heights = [max(len(p), 1) * 0.32 + 0.7 for p in per]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights}, constrained_layout=True)
    fig.suptitle(title)
    out = []
    for ax, name, mine in zip(axes[:, 0], names, per):
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_yticks(range(len(mine)), [r.server for r in mine])
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        out.append((ax, mine))
    axes[-1, 0].set_xlabel(xlabel)
    return fig, out


def _bar_colours(plt, rows: list[Row]) -> dict[str, str]:
    """One colour per server, the same in every chart."""
    servers: list[str] = []
    for r in rows:
        if r.server not in servers:
            servers.append(r.server)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {s: cycle[i % len(cycle)] for i, s in enumerate(servers)}


def _save(fig, plt, outdir: str, name: str, fmt: str) -> str:
    path = os.path.join(outdir, f"{name}.{fmt}")
    fig.savefig(path, format=fmt, dpi=110)
    plt.close(fig)
    return path


def plot_rps(plt, rows, outdir, fmt, colours) -> str:
    fig, panels = _panels(plt, rows, "requests per second (median, min–max of the rounds)", "req/s")
    for ax, mine in panels:
        y = range(len(mine))
        lo = [r.rps - (r.rps_min or r.rps) for r in mine]
        hi = [(r.rps_max or r.rps) - r.rps for r in mine]
        ax.barh(y, [r.rps for r in mine], xerr=[lo, hi], capsize=3,
                color=[colours[r.server] for r in mine])
        for i, r in enumerate(mine):
            ax.annotate(f" {r.rps:,.0f}", (r.rps_max or r.rps, i), va="center", fontsize=8)
        ax.margins(x=0.18)
    return _save(fig, plt, outdir, "rps", fmt)


def plot_cpu(plt, rows, outdir, fmt, colours) -> str:
    fig, panels = _panels(plt, rows, "server CPU per request (user + system, median)", "CPU µs per request")
    for ax, mine in panels:
        vals = [r.cpu_us_per_req for r in mine]
        ax.barh(range(len(mine)), vals, color=[colours[r.server] for r in mine])
        for i, v in enumerate(vals):
            ax.annotate(f" {v:.1f}", (v, i), va="center", fontsize=8)
        ax.margins(x=0.15)
    return _save(fig, plt, outdir, "cpu", fmt)


def plot_latency(plt, rows, outdir, fmt, colours) -> str:
    # A line from p50 (dot) to p99 (diamond): on a log axis a bar's length
    # would depend on where the axis starts.
    fig, panels = _panels(plt, rows, "latency: p50 (dot) to p99 (diamond), median of the rounds",
                          "µs (log scale)")
    for ax, mine in panels:
        for i, r in enumerate(mine):
            lo, hi = max(r.p50_us, 1), max(r.p99_us, 1)
            ax.hlines(i, lo, hi, color=colours[r.server], linewidth=2.5)
            ax.plot([lo], [i], "o", color=colours[r.server])
            ax.plot([hi], [i], "D", color=colours[r.server])
            ax.annotate(f"  {r.p50_us:,.0f} / {r.p99_us:,.0f}", (hi, i), va="center", fontsize=8)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.15)
    return _save(fig, plt, outdir, "latency", fmt)


def plot_cdf(plt, rows, name, outdir, fmt, colours) -> str | None:
    mine = [r for r in rows if r.ok and r.scenario == name and r.hist]
    if not mine:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for r in mine:
        total = sum(n for _, n in r.hist)
        xs, ys, seen = [], [], 0
        for us, n in r.hist:
            seen += n
            xs.append(max(us, 1))
            ys.append(seen / total)
        p99 = next(x for x, y in zip(xs, ys) if y >= 0.99)   # of the requests drawn, all rounds
        ax.step(xs, ys, where="post", label=f"{r.server} (p99 {p99:,.0f} µs)", color=colours[r.server])
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("latency, µs (log scale)")
    ax.set_ylabel("fraction of requests at or below")
    ax.set_title(f"{name}: latency CDF, every request of the measure windows")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, plt, outdir, f"cdf-{name}", fmt)


def write_plots(rows: list[Row], outdir: str, fmt: str = "png") -> list[str]:
    """Write every chart of `rows` to directory `outdir` (created if
    missing) as `fmt` ("png" or "svg"); returns the paths written.
    Raises ValueError for another format, RuntimeError without matplotlib."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    plt = _pyplot()
    os.makedirs(outdir, exist_ok=True)
    if not any(r.ok for r in rows):
        return []
    colours = _bar_colours(plt, rows)
    paths = [plot_rps(plt, rows, outdir, fmt, colours), plot_cpu(plt, rows, outdir, fmt, colours),
             plot_latency(plt, rows, outdir, fmt, colours)]
    for name in _scenarios(rows):
        p = plot_cdf(plt, rows, name, outdir, fmt, colours)
        if p:
            paths.append(p)
    return paths
