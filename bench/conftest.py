"""Shared by the bench/ tests: the behaviour tests' helpers (tests/support.py)
and one running benchmark server per test.

These tests check the benchmark itself (its load generator, reference
servers, scenarios, reports and charts); none asserts a speed.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@pytest.fixture
def bench_server():
    """bench_server(impl, scenario) -> port of ``python -m pyfast.bench.servers
    IMPL SCENARIO`` (the benchmark's own server process), stopped (SIGTERM,
    bounded) at teardown. An impl that cannot run here fails the test."""
    from pyfast.bench.runner import ServerProcess

    started = []

    def start(impl, scenario):
        server = ServerProcess(impl, scenario, "127.0.0.1", None, timeout=20.0)
        started.append(server)
        assert server.unavailable is None, f"{impl} cannot run here: {server.unavailable}"
        return server.port

    yield start
    for server in started:
        server.stop()
