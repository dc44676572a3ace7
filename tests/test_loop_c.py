"""C-level tests of the event-loop core (csrc/pf_loop.c): builds
tests/c/test_loop.c with the system C compiler (ASan + UBSan when they
work here, see test_frame_c.toolchain) and runs it: level and edge
triggering, the wake-up from another thread, timers (FIFO among equal
deadlines, cancel, id reuse), the inbox from several threads, -EINTR."""
import shlex
import subprocess

import pytest

from test_frame_c import CSRC, ROOT, compile_c, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_loop_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    exe = tmp_path / "test_loop"
    proc, cmd = compile_c(toolchain["cc"], [CSRC / "pf_loop.c", CSRC / "pf_common.c",
                                            ROOT / "tests/c/test_loop.c"],
                          exe, [*toolchain["flags"], "-pthread"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                         env={**toolchain["env"], "PF_TEST_TIME_SCALE": "2"}, timeout=100)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " passed, 0 failed" in run.stdout, out
