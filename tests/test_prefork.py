"""Worker processes (pyfast.prefork): supervision, signals, reload, per model.

Each test starts the launcher (``python -m pyfast serve prefork_app:...``)
or tests/prefork_app.py in a child process on loopback, talks to it with
bounded client sockets, signals the parent by pid, and stops every process
it started (by pid) in teardown.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import support

TESTS = Path(__file__).parent
MODELS = {
    "threading": ["prefork_app:Pid", "--server", "threading"],
    "cooperative": ["prefork_app:Pid", "--server", "cooperative"],
    "message": ["prefork_app:PidMessage", "--server", "message"],
}


class Launched:
    """A server process: its output in files, its port, its workers."""

    def __init__(self, argv, tmp_path, env=None, cwd=TESTS, program=sys.executable):
        self.out_path = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.txt"
        self.out = open(self.out_path, "w+")
        self.proc = subprocess.Popen([program, *argv], stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=cwd, env=env)
        self.pid = self.proc.pid
        self.seen = set()           # every worker pid seen, for teardown

    def output(self):
        return self.out_path.read_text()

    @property
    def port(self):
        def find():
            m = re.search(r"^(?:PORT |Serving .* on 127\.0\.0\.1:)(\d+)", self.output(), re.M)
            return int(m.group(1)) if m else (self.proc.poll() is not None and -1)
        port = support.wait_until(find, timeout=15)
        assert port and port > 0, f"server did not start: {self.output()}"
        return port

    def workers(self):
        """The pids of the parent's live children (its workers)."""
        try:
            pids = {c.pid for c in psutil.Process(self.pid).children()
                    if c.status() != psutil.STATUS_ZOMBIE}
        except psutil.NoSuchProcess:
            return set()
        self.seen |= pids
        return pids

    def wait_workers(self, n, timeout=10):
        assert support.wait_until(lambda: len(self.workers()) == n, timeout=timeout), \
            f"expected {n} workers, have {self.workers()}: {self.output()}"
        return self.workers()

    def signal(self, sig):
        self.workers()
        os.kill(self.pid, sig)

    def wait(self, timeout=15):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(15) is None:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.seen:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        self.out.close()


@pytest.fixture
def launch(tmp_path):
    started = []

    def start(*argv, env=None, cwd=TESTS, program=sys.executable):
        p = Launched(list(argv), tmp_path, env=env, cwd=cwd, program=program)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def serve_args(model, workers=2, *extra):
    return ["-m", "pyfast", "serve", *MODELS[model], "--bind", "127.0.0.1:0",
            "--workers", str(workers), "--verbose", *extra]


def ask(port, request=b"hi", timeout=support.IO_TIMEOUT):
    """One request on a new connection: (worker pid, rest of the reply line)."""
    with support.connect(("127.0.0.1", port), timeout) as sock:
        sock.sendall(request + b"\n")
        line = support.recv_until(sock, b"\n")
    pid, _, rest = line.rstrip(b"\n").partition(b" ")
    return int(pid), rest


def pids_answering(port, n, timeout=10):
    """Ask until n distinct pids answered (bounded); the set."""
    seen = set()
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        seen.add(ask(port)[0])
    return seen


class Load:
    """Client threads, each doing request/reply on a new connection per
    request, until stopped; every failure is kept."""

    def __init__(self, port, clients=4, request=b"hi", echo=True):
        self.port = port
        self.request = request
        self.echo = echo
        self.stopped = threading.Event()
        self.failures = []
        self.served = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                pid, rest = ask(self.port, self.request)
                assert rest == self.request or not self.echo, rest
                self.served.append((time.monotonic(), pid))
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(exc))

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(support.IO_TIMEOUT + 1)

    def pids_since(self, t0):
        return {pid for t, pid in self.served if t > t0}


# ---------------------------------------------------------------- every model

@pytest.mark.parametrize("model", MODELS)
def test_workers_share_the_port_and_the_parent_runs_no_handler(launch, model):
    server = launch(*serve_args(model))
    port = server.port
    workers = server.wait_workers(2)
    answered = pids_answering(port, 2)
    assert answered == workers
    assert server.pid not in answered


@pytest.mark.parametrize("model", MODELS)
def test_a_burst_of_persistent_connections_is_shared_by_the_workers(launch, model):
    """50 connections opened at once and kept: each worker holds about half
    (least-connections admission, pyfast._core.Board; with the shared
    socket alone, the worker that wakes first took them all)."""
    server = launch(*serve_args(model))
    port = server.port
    workers = server.wait_workers(2)
    socks = [support.connect(("127.0.0.1", port)) for _ in range(50)]
    try:
        held = {pid: 0 for pid in workers}
        for sock in socks:
            sock.sendall(b"hi\n")
        for sock in socks:
            held[int(support.recv_until(sock, b"\n").split()[0])] += 1
    finally:
        for sock in socks:
            sock.close()
    assert max(held.values()) / max(min(held.values()), 1) <= 1.25, held


@pytest.mark.parametrize("model", MODELS)
def test_crashed_worker_is_restarted_and_its_status_logged(launch, model):
    server = launch(*serve_args(model))
    port = server.port
    before = server.wait_workers(2)
    with support.connect(("127.0.0.1", port)) as sock:
        sock.sendall(b"crash\n")
        support.is_closed_by_peer(sock)
    assert support.wait_until(lambda: "exit status 3" in server.output()), server.output()
    assert support.wait_until(lambda: len(server.workers() - before) == 1)
    after = server.wait_workers(2)
    (victim,) = before - after
    assert ask(port)[1] == b"hi"
    assert re.search(r"worker \d \(pid %d, generation 0\) died \(exit status 3\) "
                     r"after [\d.]+ s; restarting in" % victim, server.output())


@pytest.mark.parametrize("model", MODELS)
def test_sigterm_lets_a_running_request_finish_then_exits_0(launch, model):
    server = launch(*serve_args(model, 2, "--drain-timeout", "5"))
    port = server.port
    server.wait_workers(2)
    if model == "message":
        # A queued reply larger than the socket buffers, which the client
        # starts reading after the SIGTERM: the drain writes all of it.
        size = 16 << 20
        sock = support.connect(("127.0.0.1", port), timeout=10)
        sock.sendall(b"big %d\n" % size)
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        data = bytearray()
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            assert chunk, f"EOF after {len(data)} bytes"
            data += chunk
        assert len(data) == len(data.split(b" ")[0]) + 1 + size + 1
    else:
        sock = support.connect(("127.0.0.1", port), timeout=10)
        sock.sendall(b"slow 1.0\n")
        time.sleep(0.3)             # the handler sleeps in the worker
        server.signal(signal.SIGTERM)
        data = support.recv_until(sock, b"\n")
        assert data.endswith(b" slept 1.0\n")
    sock.close()
    assert server.wait(15) == 0, server.output()
    with pytest.raises(ConnectionRefusedError):
        ask(port)


@pytest.mark.parametrize("model", MODELS)
def test_sighup_reload_under_load_fails_no_request(launch, model):
    server = launch(*serve_args(model))
    port = server.port
    old = server.wait_workers(2)
    load = Load(port)
    try:
        for _ in range(2):
            time.sleep(0.3)
            t0 = time.monotonic()
            server.signal(signal.SIGHUP)
            # New workers answer, the old ones are gone.
            assert support.wait_until(
                lambda: len(load.pids_since(t0) - old) == 2 and not (server.workers() & old),
                timeout=10), server.output()
            old = server.workers()
        time.sleep(0.3)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert len(load.served) > 50
    assert "generation 2" in server.output()


@pytest.mark.parametrize("model", MODELS)
def test_sigttin_adds_and_sigttou_removes_a_worker(launch, model):
    server = launch(*serve_args(model))
    port = server.port
    server.wait_workers(2)
    server.signal(signal.SIGTTIN)
    three = server.wait_workers(3)
    assert pids_answering(port, 3) == three
    server.signal(signal.SIGTTOU)
    server.signal(signal.SIGTTOU)
    server.signal(signal.SIGTTOU)       # never fewer than one
    one = server.wait_workers(1)
    time.sleep(0.3)
    assert server.workers() == one
    assert ask(port)[0] in one


@pytest.mark.parametrize("model", MODELS)
def test_shutdown_in_a_worker_stops_the_server(launch, model):
    server = launch(*serve_args(model))
    port = server.port
    server.wait_workers(2)
    assert ask(port, b"shutdown")[1] == b"shutting down"
    assert server.wait(15) == 0, server.output()


# ------------------------------------------------------------- supervision

def test_crash_loop_backs_off(launch):
    server = launch(str(TESTS / "prefork_app.py"), "crashloop", "2")
    server.port
    time.sleep(2.0)
    out = server.output()
    deaths = out.count("died (exit status 4)")
    delays = [float(d) for d in re.findall(r"restarting in ([\d.]+) s", out)]
    # Each crash doubles the delay (0.1, 0.2, 0.4 s...): a handful of
    # deaths of the two workers in 2 s, not hundreds.
    assert 2 <= deaths <= 8, out
    assert delays == sorted(delays) and delays[-1] >= 4 * delays[0], delays
    assert server.proc.poll() is None
    server.signal(signal.SIGTERM)
    assert server.wait(10) == 0, out


def test_reload_reimports_the_handler_module(launch, tmp_path):
    app = tmp_path / "reload_app.py"
    source = ("import os, pyfast\n"
              "class H(pyfast.BaseRequestHandler):\n"
              "    def handle(self):\n"
              "        self.request.recv(100)\n"
              "        self.request.sendall(b'%d VERSION\\n' % os.getpid())\n")
    app.write_text(source.replace("VERSION", "v1"))
    server = launch("-m", "pyfast", "serve", "reload_app:H", "--bind", "127.0.0.1:0",
                    "--workers", "2", "--reload", "-v", cwd=tmp_path)
    port = server.port
    server.wait_workers(2)
    assert ask(port)[1] == b"v1"
    load = Load(port, clients=2, echo=False)
    try:
        # A broken module: the new generation crashes, the old one serves on.
        app.write_text("this is not python\n")
        server.signal(signal.SIGHUP)
        assert support.wait_until(lambda: "died (exit status 1)" in server.output()), \
            server.output()
        assert ask(port)[1] == b"v1"
        app.write_text(source.replace("VERSION", "v2"))
        server.signal(signal.SIGHUP)
        assert support.wait_until(lambda: ask(port)[1] == b"v2", timeout=10)
        assert support.wait_until(
            lambda: {ask(port)[1] for _ in range(20)} == {b"v2"}, timeout=10)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]


def test_killed_parent_takes_its_workers_down(launch):
    server = launch(*serve_args("threading"))
    server.port
    workers = server.wait_workers(2)
    server.proc.kill()
    server.proc.wait(5)
    assert support.wait_until(lambda: not any(psutil.pid_exists(p) and
                                              psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                              for p in workers), timeout=10)


# The test process has threads (serve_forever() runs in one): Python 3.12+
# warns about fork() there.  The launcher's parent forks with one thread.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_shutdown_from_another_thread_stops_the_workers(serve, pyfast_impl):
    class Server(pyfast_impl.ThreadingTCPServer):
        workers = 2

    import prefork_app
    server = Server(("127.0.0.1", 0), prefork_app.Pid)
    running = serve(server)
    port = server.server_address[1]
    me = psutil.Process()
    assert support.wait_until(lambda: len(me.children()) == 2)
    workers = {c.pid for c in me.children()}
    assert pids_answering(port, 2) == workers
    assert running.shutdown(10)
    assert not any(psutil.pid_exists(p) for p in workers)


def test_workers_must_be_a_positive_int(pyfast_impl):
    class Server(pyfast_impl.TCPServer):
        workers = 0
    with Server(("127.0.0.1", 0), pyfast_impl.BaseRequestHandler) as server:
        with pytest.raises(ValueError, match="workers must be an int >= 1"):
            server.serve_forever()


# ------------------------------------------------------------- UDP and HTTP

def test_udp_workers_share_the_socket(launch):
    server = launch(str(TESTS / "prefork_app.py"), "udp", "2")
    port = server.port
    workers = server.wait_workers(2)
    seen = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        deadline = time.monotonic() + 10
        while seen != workers and time.monotonic() < deadline:
            sock.sendto(b"ping", ("127.0.0.1", port))
            try:
                data, _ = sock.recvfrom(100)
            except TimeoutError:
                continue
            pid, _, rest = data.partition(b" ")
            assert rest == b"ping"
            seen.add(int(pid))
    assert seen == workers
    server.signal(signal.SIGTERM)
    assert server.wait(10) == 0


def http_get(port, path="/x"):
    """(status, body, the Server header)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=support.IO_TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Server", "")
    finally:
        conn.close()


@pytest.mark.parametrize("model", ["threading", "cooperative"])
def test_http_handler_in_workers_reloads_without_a_failed_request(launch, model):
    server = launch("-m", "pyfast", "serve", "prefork_app:Hello", "--bind", "127.0.0.1:0",
                    "--workers", "2", "--server", model, "-v")
    port = server.port
    old = server.wait_workers(2)
    failures, pids = [], set()
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                status, body, server_header = http_get(port)
                assert status == 200 and body == b"hello /x", (status, body)
                pids.add(int(server_header.split("/")[1]))
            except Exception as exc:  # noqa: BLE001
                failures.append(repr(exc))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        server.signal(signal.SIGHUP)
        assert support.wait_until(lambda: not (server.workers() & old) and len(server.workers()) == 2,
                                  timeout=10), server.output()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(support.IO_TIMEOUT + 1)
    assert failures == [], failures[:5]
    assert pids & old and pids - old


def test_python_m_pyfast_http_workers(launch, tmp_path):
    (tmp_path / "f.txt").write_text("hello")
    server = launch("-m", "pyfast.http", "--bind", "127.0.0.1", "--directory", str(tmp_path),
                    "--workers", "2", "0")
    m = support.wait_until(lambda: re.search(r"port (\d+)", server.output()), timeout=15)
    assert m, server.output()
    port = int(m.group(1))
    server.wait_workers(2)
    assert http_get(port, "/f.txt")[:2] == (200, b"hello")
    server.signal(signal.SIGTERM)
    assert server.wait(10) == 0


def test_python_m_pyfast_http_help_prints_the_whole_description():
    out = subprocess.run([sys.executable, "-m", "pyfast.http", "--help"], cwd=TESTS,
                         capture_output=True, text=True, timeout=30).stdout
    text = " ".join(out.split())
    assert "Serve a directory over HTTP as python -m http.server does, on pyfast's " \
           "ThreadingHTTPServer" in text.replace("``", "")
    assert "--workers" in text


def test_serve_help_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "pyfast", "serve", "--help"], cwd=TESTS,
                         capture_output=True, text=True, timeout=30).stdout
    for option in ("--bind", "--workers", "--server", "--reload", "--drain-timeout",
                   "--backlog", "--verbose", "threading", "cooperative", "message"):
        assert option in out, option
