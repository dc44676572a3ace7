"""Every thread pyfast starts blocks the asynchronous signals (SIGINT,
SIGTERM...), from its first instruction, so that the kernel delivers them to
the main thread, where Python's handlers run and Ctrl-C interrupts
serve_forever(): _core.block_signals() around the thread's start."""

import signal
import threading

import pytest

from pyfast import _core


def blocked_in(thread):
    """The signals thread (alive) blocks, read from the kernel
    (/proc/self/task/<tid>/status, SigBlk: a hexadecimal bit mask)."""
    with open(f"/proc/self/task/{thread.native_id}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return {signal.Signals(n) for n in range(1, 65)
                        if mask >> (n - 1) & 1 and n in signal.Signals._value2member_map_}
    raise AssertionError("no SigBlk line")


def test_blocked_signals_are_the_asynchronous_ones():
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD,
            signal.SIGPIPE} <= _core.BLOCKED_SIGNALS
    # Synchronous signals are never blocked: the kernel would kill the process.
    assert not {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE} & _core.BLOCKED_SIGNALS


def test_thread_started_in_block_signals_blocks_them_and_caller_gets_its_mask_back():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    seen = []
    release = threading.Event()

    def run():
        seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        release.wait(10)

    t = threading.Thread(target=run)
    with _core.block_signals():
        assert _core.BLOCKED_SIGNALS <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
        t.start()
    try:
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
        while t.is_alive() and not seen:
            release.wait(0.01)
        assert _core.BLOCKED_SIGNALS <= seen[0]
        assert _core.BLOCKED_SIGNALS <= blocked_in(t)
    finally:
        release.set()
        t.join(10)


def test_block_signals_restores_the_mask_when_the_block_raises():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(ZeroDivisionError):
        with _core.block_signals():
            1 / 0
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


@pytest.mark.timeout(20)
def test_every_pool_thread_blocks_asynchronous_signals():
    # Two items, the first holding its worker: the second waits start_delay
    # and the overseer thread starts a worker for it.
    pool = _core.Pool(2, name="pyfast-masktest", start_delay=0.005)
    release = threading.Event()
    running = threading.Semaphore(0)

    def hold():
        running.release()
        release.wait(10)

    try:
        pool.submit(hold)
        assert running.acquire(timeout=10)
        pool.submit(hold)
        assert running.acquire(timeout=10)
        threads = [t for t in threading.enumerate() if t.name.startswith("pyfast-masktest")]
        names = sorted(t.name for t in threads)
        assert any(n.endswith("-overseer") for n in names), names
        assert len(threads) == 3, names
        for t in threads:
            assert _core.BLOCKED_SIGNALS <= blocked_in(t), t.name
    finally:
        release.set()
        pool.close()
        assert pool.join(10)
