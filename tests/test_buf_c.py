"""C-level tests of the one byte buffer (csrc/pf_buf.c) and of reading a
socket into it (pf_buf_recv, csrc/pf_stream.c): builds tests/c/test_buf.c
with the system C compiler (ASan + UBSan when they work here, see
test_frame_c.toolchain) and runs it: the hard cap, doubling growth, memory
given back, data+FIN in one segment, a reset mid-message."""
import shlex
import subprocess

import pytest

from test_frame_c import CSRC, ROOT, compile_c, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_buf_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    exe = tmp_path / "test_buf"
    sources = [CSRC / f for f in ("pf_buf.c", "pf_stream.c", "pf_common.c")]
    proc, cmd = compile_c(toolchain["cc"], [*sources, ROOT / "tests/c/test_buf.c"],
                          exe, toolchain["flags"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                         env=toolchain["env"], timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " passed, 0 failed" in run.stdout, out
