"""pytest-benchmark over the same runs as ``python -m pyfast.bench``.

One short run per (scenario, server). The figures that matter (req/s, p50/p99
latency in microseconds, server CPU microseconds per request, load generator
CPU) go to ``benchmark.extra_info``; the timed figure is the whole run and
means nothing. Nothing here asserts a time or a speed.

    cd /tmp && pytest /path/to/repo/bench --benchmark-json=bench.json

Not part of the CI test run (pyproject's testpaths is tests/; nox's bench
session runs the other bench/ tests and leaves this one out).
"""
import pytest

from pyfast.bench.runner import Options, pick_cpus, run_one
from pyfast.bench.scenarios import SCENARIOS

BENCH_SCENARIOS = ("echo-1k", "line-64", "connect", "connect-cc", "udp", "http", "tls-echo-1k", "tls-connect", "https")
CASES = [(name, impl) for name in BENCH_SCENARIOS for impl in SCENARIOS[name].servers]


@pytest.mark.parametrize(("scenario", "impl"), CASES, ids=[f"{s}-{i}" for s, i in CASES])
def test_scenario(benchmark, scenario, impl):
    opts = Options(scenarios=(scenario,), warmup=0.3, duration=1.0, rounds=1)
    cpus = pick_cpus(opts)
    out = {}

    def once():
        out["run"] = run_one(0, SCENARIOS[scenario], impl, opts, cpus)

    benchmark.pedantic(once, rounds=1, iterations=1)
    run = out["run"]
    if run.unavailable:
        pytest.skip(run.reason)
    benchmark.extra_info.update(
        scenario=scenario, server=impl, rps=run.rps, p50_us=run.p50_us, p99_us=run.p99_us,
        cpu_us_per_req=run.cpu_us_per_req, gen_cpu=run.gen_cpu, errors=run.errors,
        pinned=cpus[0] is not None)
    assert run.ok, run.reason
    assert run.requests > 0
