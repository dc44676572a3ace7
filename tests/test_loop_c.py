"""C-level tests of the event-loop core (csrc/pf_loop.c): builds
tests/c/test_loop.c with the system C compiler (ASan + UBSan when they
work here, see test_frame_c.toolchain) and runs it: level and edge
triggering, the wake-up from another thread, timers (FIFO among equal
deadlines, cancel, id reuse), the inbox from several threads, -EINTR."""
import pytest

from test_frame_c import run_c_tests, toolchain  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


def test_loop_c_unit_tests_pass(toolchain, tmp_path):  # noqa: F811
    run_c_tests(toolchain, tmp_path, "test_loop", ["pf_loop.c", "pf_msgq.c", "pf_common.c"],
                time_scale=2)
