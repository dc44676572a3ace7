"""C-level tests of the datagram reply queue (csrc/pf_dgram.c): builds
tests/c/test_dgram.c with the system C compiler (ASan + UBSan when they
work here, see test_frame_c.toolchain) and runs it; loopback UDP only."""
import shlex
import subprocess

import pytest

from test_frame_c import CSRC, ROOT, compile_c, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_dgram_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    exe = tmp_path / "test_dgram"
    proc, cmd = compile_c(toolchain["cc"], [CSRC / "pf_dgram.c", CSRC / "pf_common.c",
                                            ROOT / "tests/c/test_dgram.c"],
                          exe, toolchain["flags"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                         env=toolchain["env"], timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " passed, 0 failed" in run.stdout, out
