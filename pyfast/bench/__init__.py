"""pyfast.bench: pyfast side by side with its peers, under one C load generator.

Run ``python -m pyfast.bench`` (``--help`` for the options). Each server under
test runs in its own process (``python -m pyfast.bench.servers IMPL SCENARIO``),
pinned to one core; the C load generator (``pyfast._bench.run_loadgen``) runs
in the runner process, pinned to another. Rounds are interleaved across
servers; the median of the rounds is reported with its min-max spread, and
ratios to the stdlib row and to the C reference row of each scenario (the
median and spread of the per-round ratios). Every server of a scenario does
the same work in the same order; the table says what each does.

Its modules:
    scenarios  what is measured: load shape, the servers that take part, what each does
    servers    the servers under test, one function per (impl, kind)
    runner     starts servers, drives them, measures their CPU; the JSON file
    report     the table (rich, Markdown), --compare
    plot       the charts of --plot (matplotlib)
"""
from .scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Scenario"]
