"""C-level tests of the PROXY protocol header parser (csrc/pf_proxy.c):
builds tests/c/test_proxy.c and the standalone driver of fuzz/fuzz_proxy.c
with the system C compiler (ASan + UBSan when they work here, see
test_frame_c.toolchain) and runs both; the fuzz run is PF_FUZZ_SECONDS
long (default 15).  The long libFuzzer run is
``PF_FUZZ_TARGET=proxy fuzz/run.sh libfuzzer 600``."""
import shlex
import subprocess

import pytest

from test_frame_c import (CSRC, FUZZ_SECONDS, ROOT, compile_c, run_c_tests,  # noqa: F401
                          toolchain)

pytestmark = pytest.mark.timeout(120)


def _build(toolchain, tmp_path, name, main):  # noqa: F811
    exe = tmp_path / name
    proc, cmd = compile_c(toolchain["cc"], [CSRC / "pf_proxy.c", main], exe,
                          toolchain["flags"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    return exe


def test_proxy_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_proxy", ["pf_proxy.c"], timeout=60)


def test_msgloop_proxy_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    """tests/c/test_msgloop_proxy.c: the message loop reads the header
    before framing (OPEN with the client's address, REFUSED for bad ones)."""
    run_c_tests(toolchain, tmp_path, "test_msgloop_proxy",
                ["pf_msgloop.c", "pf_loop.c", "pf_msgq.c", "pf_frame.c", "pf_buf.c",
                 "pf_listen.c", "pf_common.c", "pf_proxy.c", "pf_board.c", "pf_tls.c"],
                time_scale=2, timeout=60)


def test_proxy_fuzz_target_short_standalone_run_finds_nothing(toolchain, tmp_path):  # noqa: F811
    exe = _build(toolchain, tmp_path, "fuzz_proxy", ROOT / "fuzz/fuzz_proxy.c")
    seeds = sorted(str(p) for p in (ROOT / "fuzz/corpus_proxy").iterdir())
    assert seeds, "fuzz/corpus_proxy is empty"
    env = {**toolchain["env"], "PF_FUZZ_CRASH": str(tmp_path / "crash.bin")}
    run = subprocess.run([str(exe), "-t", FUZZ_SECONDS, "-s", "1", *seeds],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=100)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert f"replayed {len(seeds)} files" in run.stdout, out
    assert ", 0 failed" in run.stdout, out
