"""C-level tests of the datagram reply queue (csrc/pf_dgram.c): builds
tests/c/test_dgram.c with the system C compiler (ASan + UBSan when they
work here, see test_frame_c.toolchain) and runs it; loopback UDP only."""
import pytest

from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_dgram_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_dgram", ["pf_dgram.c", "pf_common.c"], timeout=60)
