"""C-level tests of the worker pool's queue (csrc/pf_pool.c on
csrc/pf_msgq.c, the queue pf_loop's inbox uses too): builds
tests/c/test_pool.c with the system C compiler (ASan + UBSan when they
work here, see test_frame_c.toolchain) and runs it."""
import pytest

from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_pool_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_pool", ["pf_pool.c", "pf_msgq.c", "pf_common.c"],
                time_scale=2)
