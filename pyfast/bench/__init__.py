"""pyfast.bench: pyfast side by side with its peers, under one C load generator.

Run ``python -m pyfast.bench`` (``--help`` for the options). Each server under
test runs in its own process (``python -m pyfast.bench.servers IMPL SCENARIO``),
pinned to one core; the C load generator (``pyfast._bench.run_loadgen``) runs
in the runner process, pinned to another. Rounds are interleaved across
servers and the median of the rounds is reported, with ratios to the stdlib
row and to the C reference row of each scenario.

Modules:
    scenarios  what is measured: load shape and the servers that take part
    servers    the servers under test, one function per (impl, kind)
    runner     starts servers, drives them, measures their CPU
    report     the rich table and the JSON file
"""
from .scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Scenario"]
