"""C-level tests of the one byte buffer (csrc/pf_buf.c) and of reading a
socket into it (pf_buf_recv, csrc/pf_stream.c): builds tests/c/test_buf.c
with the system C compiler (ASan + UBSan when they work here, see
test_frame_c.toolchain) and runs it: the hard cap, doubling growth, memory
given back, data+FIN in one segment, a reset mid-message."""
import pytest

from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_buf_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_buf", ["pf_buf.c", "pf_stream.c", "pf_common.c"],
                timeout=60)
