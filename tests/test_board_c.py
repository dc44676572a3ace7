"""C-level tests of the workers' admission board (csrc/pf_board.c):
builds tests/c/test_board.c with the system C compiler (ASan + UBSan when
they work here, see test_frame_c.toolchain) and runs it: least-connections
admission within the slack, the gate's eventfd wake-ups, counts shared
across fork() and exact from several threads."""
import pytest

from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_board_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_board", ["pf_board.c", "pf_common.c"])
