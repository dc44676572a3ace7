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


# The test process may have threads: Python 3.12+ warns about fork() there.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_board_counts_are_shared_with_a_forked_worker_and_gate_past_the_slack():
    """pyfast._core.Board, as prefork uses it: the parent takes slots and
    forks; a worker's counts are seen by the others; past the slack a
    worker is gated, and its fileno() turns readable when another accepts."""
    import os
    import select

    from pyfast import _core

    with pytest.raises(ValueError):
        _core.Board(0, 1)
    board = _core.Board(2, 0)
    mine, other = board.take(), board.take()
    assert board.take() is None
    assert board.slot is None and board.admit()       # not joined: admits
    pid = os.fork()
    if pid == 0:
        board.join(other)
        board.opened()
        os._exit(0 if board.count(other) == 1 else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert board.count(other) == 1
    board.join(mine)
    assert board.slot == mine
    board.opened()
    assert board.admit()                               # 1 <= 1 + 0
    board.opened()
    assert not board.admit() and board.gated(mine)     # 2 > 1 + 0
    assert select.select([board.fileno()], [], [], 0)[0] == []
    board.closed()                                     # its own close wakes it
    assert select.select([board.fileno()], [], [], 0)[0] == [board.fileno()]
    board.clear()
    assert board.admit() and not board.gated(mine)
    board.leave()
    assert board.count(mine) == -1
    board.close()
    with pytest.raises(ValueError):
        board.take()
