"""Worker processes: one server on every core, supervised, reloadable.

A server with ``workers = N`` (class or instance attribute of any server
class; default 1: serve_forever() serves in the calling process, as
socketserver) is served by N worker processes::

    class Server(pyfast.ThreadingTCPServer):
        workers = 4

    with Server(("", 8000), Handler) as server:
        server.serve_forever()          # forks 4 workers and supervises them

The process that built the server (the *parent*) binds and listens once, in
the constructor, as ever.  Its serve_forever() forks the workers and runs no
handler: it supervises.  Each worker runs the server's own serve_forever()
(its thread pool, hubs or message loop, started in the worker) on the
listening socket inherited from the parent, and sets ``server.worker_id``
(0 .. N-1; None in the parent and without workers).

Accept distribution: every worker waits on the one shared listening socket
(non-blocking; a worker woken for a connection another took gets EAGAIN and
waits again), so the kernel keeps one queue of connections for all of them.
A worker that exits (crash, reload, scale-down) leaves the connections it
had not accepted in that queue for the others: none is dropped, which one
SO_REUSEPORT socket per worker would not give (a socket's queue dies with
it), and systemd passes one socket.  On its own the shared socket does not
spread connections: the worker that wakes first accepts all that are
queued, on 2 cores the same one each time.  So the workers of threaded and
cooperative servers (HTTP included) admit by least connections (_Board: a
worker more than BALANCE_SLACK connections above the least loaded one
leaves the socket to the others).  ``python -m pyfast.bench --scenarios
workers,workers-echo-1k --rounds 3`` (50 persistent connections opened in
a burst, unpinned, 2 cores), connections per worker in each round:

- threaded echo-1k, shared socket only: 49/1, 1/49, 49/1; with the
  admission: 24/26, 25/25, 26/24 (max/min <= 1.08).
- message echo (the C message loop, which has no such admission yet):
  50/0, 2/48, 50/0.
- for comparison, one SO_REUSEPORT socket per worker (a prototype, 20
  runs of 50 connections): from 35/15 to 25/25, max/min <= 1.25 in 10.

EPOLLEXCLUSIVE would not help: it wakes the first idle waiter of the
socket, the same worker each time while both are idle.

Signals, handled when serve_forever() runs in the main thread (from another
thread, only shutdown() and the restart of dead workers work):

- SIGTERM, SIGINT: graceful stop.  Every worker stops accepting and drains
  through its model's own shutdown path (running handlers finish, queued
  message replies are written), within ``drain_timeout`` seconds; the
  parent waits for them and serve_forever() returns (the program then ends
  normally, exit status 0).  A worker still running ``drain_timeout`` + 5 s
  later is killed (SIGKILL).  A second SIGTERM/SIGINT during the stop
  kills the workers at once.
- SIGHUP: rolling reload.  A new generation of N workers is forked (each
  re-imports the modules named in ``reload_modules`` first, and takes its
  RequestHandlerClass from the reloaded module); once every new worker is
  serving, the old ones drain as on SIGTERM.  The listening socket never
  closes, and while the new workers start the old ones still accept, so no
  connection is refused or dropped.  A new generation that fails to start
  (its workers die before serving, e.g. a syntax error in a reloaded
  module) is restarted with the crash backoff below while the old workers
  keep serving; the next SIGHUP replaces it.
- SIGTTIN / SIGTTOU: one worker more / less (at least one), as gunicorn.

Supervision: a worker that dies without being asked to (a non-zero exit
status, or killed by a signal) is logged with its status (logger
``pyfast.prefork``) and replaced after ``worker_restart_delay`` seconds,
doubling per consecutive crash up to ``worker_restart_max_delay``; a worker
that ran 5 s or more before dying starts the count again.  A worker that
exits with status 0 on its own has been shut down: shutdown() called in a
worker (e.g. by a handler) stops the whole server, as it would without
workers: the parent stops the other workers and its serve_forever()
returns.  shutdown() in the parent does the same; server_close() and the
context manager close the parent's listening socket, as ever.

Server attributes read here (class or instance):

- workers (int >= 1).
- drain_timeout (seconds, None: no limit): the models' own (cooperative
  and message servers, default 1.0); 1.0 for the others.  For threaded
  servers a worker waits that long for running handlers after it stops
  accepting (a keep-alive connection idle in recv() holds its handler
  until then).
- reload_modules (iterable of module names, default ()): re-imported by
  the workers of each new generation (SIGHUP), before they serve.
- worker_restart_delay (seconds, default 0.1), worker_restart_max_delay
  (seconds, default 10.0): the crash backoff.

The parent forks before any pool, hub or loop thread exists in it, so a
server must not have served (serve_forever(), handle_request()) in the
parent before.  Workers are forked processes, not exec'd: module state
the parent had at fork time is each worker's starting state.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

from pyfast import _core

__all__ = ["serve"]

log = logging.getLogger("pyfast.prefork")

DRAIN_TIMEOUT = 1.0
RESTART_DELAY = 0.1
RESTART_MAX_DELAY = 10.0
# A worker that ran this long (seconds) before dying restarts the backoff.
BACKOFF_RESET_UPTIME = 5.0
# Seconds past drain_timeout before a stopping worker is killed.
KILL_GRACE = 5.0
# Seconds a stopping worker waits, no longer accepting, before its model's
# shutdown (see _WorkerStop._stop).
LINGER = 0.05

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PARENT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)


def _drain_timeout(server: Any) -> float | None:
    t = getattr(server, "drain_timeout", DRAIN_TIMEOUT)
    return None if t is None else float(t)


def _status_text(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    """One worker process as the parent sees it."""

    __slots__ = ("pid", "pidfd", "ready_fd", "index", "generation", "ready",
                 "started", "stopping", "kill_at", "slot")

    def __init__(self, pid: int, pidfd: int, ready_fd: int, index: int, generation: int):
        self.pid = pid
        self.pidfd = pidfd
        self.ready_fd = ready_fd
        self.index = index
        self.generation = generation
        self.ready = False          # serving (wrote to its ready pipe)
        self.started = time.monotonic()
        self.stopping = False       # asked to stop (SIGTERM sent)
        self.kill_at: float | None = None
        self.slot: int | None = None  # its place on the _Board

    def __repr__(self) -> str:
        return f"worker {self.index} (pid {self.pid}, generation {self.generation})"


class Supervisor:
    """The parent's side: forks, watches and signals the workers of one
    server.  Used through serve(); waits in the server's own Waiter (epoll
    + eventfd), so shutdown() in another thread ends the wait at once."""

    def __init__(self, server: Any, poll_interval: float, waiter: Any,
                 should_stop: Callable[[], bool]) -> None:
        workers = server.workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, not {workers!r}")
        self.server = server
        self.poll_interval = poll_interval
        self.waiter = waiter
        self.should_stop = should_stop
        self.target = workers
        self.generation = 0
        self.workers: list[_Worker] = []
        self.crashes = 0
        self.spawn_after = 0.0
        self.stopping = False
        self.sig_r = self.sig_w = -1
        # The workers hold the read end: EOF there tells them the parent
        # is gone (killed), so that no orphan keeps serving.
        self.life_r, self.life_w = os.pipe2(os.O_CLOEXEC)
        self.board = _core.Board(2 * workers + 8, BALANCE_SLACK) if _balances(server) else None
        self.old_handlers: dict[int, Any] = {}
        self.old_wakeup = -1

    # -- signals (main thread only) -------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.sig_r, self.sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for sig in _PARENT_SIGNALS:
            self.old_handlers[sig] = signal.signal(sig, _noted)
        self.old_wakeup = signal.set_wakeup_fd(self.sig_w, warn_on_full_buffer=False)
        self.waiter.add(self.sig_r)

    def _restore_signals(self) -> None:
        if self.sig_r < 0:
            return
        signal.set_wakeup_fd(self.old_wakeup)
        for sig, handler in self.old_handlers.items():
            signal.signal(sig, handler)
        self.waiter.remove(self.sig_r)
        os.close(self.sig_r)
        os.close(self.sig_w)
        self.sig_r = self.sig_w = -1

    def _signals(self) -> list[int]:
        if self.sig_r < 0:
            return []
        try:
            return list(os.read(self.sig_r, 256))
        except BlockingIOError:
            return []

    def _on_signal(self, sig: int) -> None:
        if sig in _STOP_SIGNALS:
            if self.stopping:
                log.warning("pyfast.prefork: %s during the stop: killing the workers",
                            signal.Signals(sig).name)
                for w in self.workers:
                    _kill(w.pid, signal.SIGKILL)
            self.stopping = True
        elif sig == signal.SIGHUP:
            self.generation += 1
            log.info("pyfast.prefork: SIGHUP: reload, starting generation %d", self.generation)
            self.crashes, self.spawn_after = 0, 0.0
        elif sig == signal.SIGTTIN:
            self.target += 1
            log.info("pyfast.prefork: SIGTTIN: %d workers", self.target)
        elif sig == signal.SIGTTOU:
            if self.target > 1:
                self.target -= 1
            log.info("pyfast.prefork: SIGTTOU: %d workers", self.target)

    # -- workers ----------------------------------------------------------

    def _fds(self) -> list[int]:
        """The parent's own descriptors a worker must not keep."""
        fds = [fd for w in self.workers for fd in (w.pidfd, w.ready_fd) if fd >= 0]
        return fds + [fd for fd in (self.sig_r, self.sig_w, self.life_w) if fd >= 0]

    def _spawn(self, index: int) -> None:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        generation = self.generation
        inherited = self._fds() + [ready_r]
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        slot = self.board.take() if self.board is not None else None
        pid = os.fork()
        if pid == 0:
            _worker_main(self.server, self.poll_interval, self.waiter, inherited,
                         ready_w, self.life_r, index, generation,
                         (self.board, slot))   # never returns
        os.close(ready_w)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            _kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(ready_r)
            raise
        w = _Worker(pid, pidfd, ready_r, index, generation)
        w.slot = slot
        self.workers.append(w)
        self.waiter.add(pidfd)
        self.waiter.add(ready_r)
        log.info("pyfast.prefork: started %r", w)

    def _current(self) -> list[_Worker]:
        return [w for w in self.workers if w.generation == self.generation and not w.stopping]

    def _spawn_missing(self, now: float) -> None:
        current = self._current()
        if len(current) > self.target:
            for w in sorted(current, key=lambda w: w.index)[self.target:]:
                self._stop(w, now)
            return
        if now < self.spawn_after:
            return
        used = {w.index for w in current}
        free = (i for i in range(self.target + len(current)) if i not in used)
        for _ in range(self.target - len(current)):
            self._spawn(next(free))

    def _stop(self, w: _Worker, now: float) -> None:
        if w.stopping:
            return
        w.stopping = True
        drain = _drain_timeout(self.server)
        w.kill_at = None if drain is None else now + drain + KILL_GRACE
        _kill(w.pid, signal.SIGTERM)

    def _retire_old(self, now: float) -> None:
        """Once the current generation serves in full, the older one drains."""
        current = self._current()
        if len(current) < self.target or not all(w.ready for w in current):
            return
        for w in self.workers:
            if w.generation != self.generation and not w.stopping:
                self._stop(w, now)

    def _check_ready(self, ready: list[int]) -> None:
        for w in self.workers:
            if w.ready_fd in ready:
                w.ready = os.read(w.ready_fd, 1) == b"r"
                self.waiter.remove(w.ready_fd)
                os.close(w.ready_fd)
                w.ready_fd = -1

    def _reap(self, now: float) -> None:
        for w in list(self.workers):
            try:
                pid, status = os.waitpid(w.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = w.pid, 0
            if pid == 0:
                continue
            self.workers.remove(w)
            if w.slot is not None:
                self.board.free(w.slot)
            for fd in (w.pidfd, w.ready_fd):
                if fd >= 0:
                    self.waiter.remove(fd)
                    os.close(fd)
            self._exited(w, status, now)

    def _exited(self, w: _Worker, status: int, now: float) -> None:
        text = _status_text(status)
        if w.stopping or self.stopping:
            log.info("pyfast.prefork: %r stopped (%s)", w, text)
            return
        if status == 0 and w.ready:
            # shutdown() in the worker: the server is shut down.
            log.info("pyfast.prefork: %r was shut down: stopping the server", w)
            self.stopping = True
            return
        uptime = now - w.started
        if uptime >= BACKOFF_RESET_UPTIME:
            self.crashes = 0
        self.crashes += 1
        first = float(getattr(self.server, "worker_restart_delay", RESTART_DELAY))
        most = float(getattr(self.server, "worker_restart_max_delay", RESTART_MAX_DELAY))
        delay = min(first * 2 ** (self.crashes - 1), most)
        self.spawn_after = max(self.spawn_after, now + delay)
        log.warning("pyfast.prefork: %r died (%s) after %.2f s; restarting in %.2f s",
                    w, text, uptime, delay)

    def _kill_overdue(self, now: float) -> None:
        for w in self.workers:
            if w.kill_at is not None and now >= w.kill_at:
                log.warning("pyfast.prefork: %r did not stop within drain_timeout: killing it", w)
                _kill(w.pid, signal.SIGKILL)
                w.kill_at = None

    def _timeout(self, now: float) -> float:
        t = self.poll_interval
        if len(self._current()) < self.target:
            t = min(t, max(self.spawn_after - now, 0.0))
        for w in self.workers:
            if w.kill_at is not None:
                t = min(t, max(w.kill_at - now, 0.0))
        return t

    # -- the loop -----------------------------------------------------------

    def run(self) -> None:
        self._install_signals()
        try:
            while not self.stopping:
                now = time.monotonic()
                self._spawn_missing(now)
                ready = self.waiter.wait(self._timeout(now))
                for sig in self._signals():
                    self._on_signal(sig)
                if self.should_stop():
                    self.stopping = True
                now = time.monotonic()
                self._check_ready(ready)
                self._reap(now)
                self._kill_overdue(now)
                if not self.stopping:
                    self._retire_old(now)
        finally:
            self._stop_all()

    def _stop_all(self) -> None:
        """Stop every worker (graceful) and wait for them; signals during
        the stop are still handled (a second stop signal kills)."""
        self.stopping = True
        try:
            while self.workers:
                now = time.monotonic()
                for w in self.workers:
                    self._stop(w, now)
                ready = self.waiter.wait(self._timeout(now))
                for sig in self._signals():
                    self._on_signal(sig)
                now = time.monotonic()
                self._check_ready(ready)
                self._reap(now)
                self._kill_overdue(now)
        finally:
            self._restore_signals()
            os.close(self.life_r)
            os.close(self.life_w)
            if self.board is not None:
                self.board.close()


def _noted(signum: int, frame: Any) -> None:
    """The parent's Python-level handler: the signal is read from the
    wake-up pipe (signal.set_wakeup_fd) by the supervisor's loop."""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def serve(server: Any, poll_interval: float, waiter: Any,
          should_stop: Callable[[], bool]) -> None:
    """Fork server.workers workers and supervise them until a stop signal,
    shutdown() (in the parent or in a worker) or an exception; returns once
    every worker has exited.  Called by BaseServer.serve_forever() when
    server.workers != 1 (the parent).  waiter: the server's Waiter, woken
    by shutdown(); should_stop() is true once shutdown() was called.
    Raises ValueError for a workers value that is not an int >= 1."""
    Supervisor(server, poll_interval, waiter, should_stop).run()


# ---------------------------------------------------------------- worker side

def _worker_main(server: Any, poll_interval: float, waiter: Any, inherited: list[int],
                 ready_w: int, life_r: int, index: int, generation: int,
                 place: tuple[Any, int | None]) -> None:
    """In a forked worker: serve, drain, exit.  Never returns."""
    status = 1
    try:
        # The parent's wait (its epoll and eventfd are shared with it) and
        # descriptors are not the worker's: serve_forever() opens its own.
        waiter.close()
        for fd in inherited:
            os.close(fd)
        stop = _WorkerStop(server)
        stop.install(life_r)
        server.worker_id = index
        board, slot = place
        if board is not None and slot is not None:
            _admit(server, board, slot, stop)
        if generation > 0:
            _reload(server)
        os.write(ready_w, b"r")
        os.close(ready_w)
        server.serve_forever(poll_interval)
        stop.finish()
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        logging.shutdown()
        os._exit(status)


def _reload(server: Any) -> None:
    """Re-import server.reload_modules; the handler class is taken again
    from its module when that module was among them."""
    names = list(getattr(server, "reload_modules", ()) or ())
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            importlib.import_module(name)
        else:
            importlib.reload(module)
    cls = server.RequestHandlerClass
    if getattr(cls, "__module__", None) in names:
        obj = sys.modules[cls.__module__]
        for part in cls.__qualname__.split("."):
            obj = getattr(obj, part)
        server.RequestHandlerClass = obj


class _WorkerStop:
    """A worker's graceful stop: SIGTERM/SIGINT (or the parent's death)
    end its serve_forever() (see _stop: from a thread, as the signal
    interrupts the very thread that serves) and arm a hard deadline of
    drain_timeout + LINGER + 1 s."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.requested = False
        self.on_stop: Callable[[], None] | None = None

    def install(self, life_r: int) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        threading.Thread(target=self._watch_parent, args=(life_r,),
                         name="pyfast-worker-parent", daemon=True).start()

    def _watch_parent(self, life_r: int) -> None:
        """EOF on the life pipe: the parent died without stopping us."""
        try:
            while os.read(life_r, 1):
                pass
        except OSError:
            pass
        if not self.requested:
            log.warning("pyfast.prefork: worker %s: the parent process is gone: stopping",
                        self.server.worker_id)
            self._on_stop(signal.SIGTERM, None)

    def _on_stop(self, signum: int, frame: Any) -> None:
        if self.requested:
            return
        self.requested = True
        threading.Thread(target=self._stop, name="pyfast-worker-stop", daemon=True).start()
        drain = _drain_timeout(self.server)
        if drain is not None:
            timer = threading.Timer(drain + LINGER + 1.0, _hard_exit)
            timer.daemon = True
            timer.start()

    def _stop(self) -> None:
        """Stop accepting (the serve_forever() loop's admission, or the
        message loops' pause_accepting(): the other workers take the
        socket's queue), let the
        connections just accepted deliver their first request (LINGER
        seconds: a model's drain ends handlers still waiting for their
        first bytes), then shutdown(): the model's graceful path."""
        server = self.server
        server.admission = _Refusing()
        for loop in getattr(server, "_message_loops", ()):   # the C message loops
            loop.pause_accepting(True)
        if self.on_stop is not None:
            self.on_stop()
        server._wake()
        time.sleep(LINGER)
        server.shutdown()

    def finish(self) -> bool:
        """After serve_forever(): handlers still running on a thread pool
        finish within drain_timeout, then the server is closed.  True if
        nothing was left running."""
        server = self.server
        pool = getattr(server, "_pool", None)
        done = True
        if pool is not None:
            pool.close()
            done = pool.join(_drain_timeout(server))
            if not done:
                log.warning("pyfast.prefork: worker %s: handlers still running "
                            "after drain_timeout", server.worker_id)
        if done:
            server.server_close()
        return done


def _hard_exit() -> None:
    log.warning("pyfast.prefork: worker did not finish within drain_timeout: exiting")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


# ------------------------------------------------------- accept balancing

# A worker may accept while it holds at most this many connections more than
# the least loaded worker.
BALANCE_SLACK = 1


def _balances(server: Any) -> bool:
    """Least-connections admission applies to stream servers (threaded,
    cooperative, HTTP, message), not to datagram servers."""
    return getattr(server, "socket_type", None) == socket.SOCK_STREAM


def _admit(server: Any, board: Any, slot: int, stop: "_WorkerStop") -> None:
    """In a worker: its server's admission is the board, joined to slot.
    A message server's C loops use it themselves (pyfast.message); for
    serve_forever()'s loop a thread turns the board's wake-ups into
    server._wake(), so that a gated worker looks again."""
    from pyfast.message import is_message_handler
    board.join(slot)
    server.admission = board
    stop.on_stop = board.leave
    if not is_message_handler(server.RequestHandlerClass):
        threading.Thread(target=_wake_on, args=(board, server), daemon=True,
                         name="pyfast-worker-balance").start()


def _wake_on(board: Any, server: Any) -> None:
    """A worker's thread: each wake-up of its board wakes serve_forever()."""
    import select
    poller = select.poll()
    poller.register(board.fileno(), select.POLLIN)
    while True:
        poller.poll()
        try:
            board.clear()
        except (OSError, ValueError):
            return
        server._wake()


class _Refusing:
    """A stopping worker's admission: it accepts nothing more (the other
    workers take the socket's queue)."""

    def admit(self) -> bool:
        return False

    def opened(self) -> None:
        pass

    def closed(self) -> None:
        pass
