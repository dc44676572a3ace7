"""The user's seed servers (/work/shared/seeds), repaired to Python 3 in
tests/seeds/*.py, each run twice: with the stdlib socketserver and with
pyfast standing in for `socketserver` (support.prepare_seed swaps only what
the import resolves to). Each server is driven by the seed's own client.

Seeds covered: 000 echo server + client, 000 async ThreadedTCPServer,
001 timestamp StreamRequestHandler server + client, 001/002 upper-case TCP
server + client (TCPServer, ThreadingTCPServer, ForkingTCPServer) and UDP
server + client, 004 clock server + client (also its main() stopped with
Ctrl-C), 004 assignments: swap strings between two clients, secret number.
The 004 web server is in test_seeds_http.py.
"""

import re
import signal
import socket
import threading

import pytest

import support
from support import HOST, SeedMain, load_seed, module_with, recv_exact, run_seed_client

pytestmark = pytest.mark.timeout(30)

CTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"


@pytest.fixture
def seed_main():
    started = []

    def start(name, impl, server_var, **kwargs):
        main = SeedMain(name, impl, server_var, **kwargs)
        started.append(main)
        return main

    yield start
    for main in started:
        main.stop()


def printed(lines):
    """A client's printed lines without the input() prompts."""
    return [line for line in lines if not line.startswith("<input ")]


def in_threads(*calls):
    """Run the callables concurrently; their results, or raise the first error."""
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            results[i] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True)
               for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not any(t.is_alive() for t in threads), "a client did not finish"
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------ seed 000

def test_seed_echo_server_uppercases_the_message(impl, seed_main):
    main = seed_main("echo_server", impl, "server")
    argv = module_with("sys", argv=["echo client.py", "hello", "world"])
    for _ in range(2):                        # serves one client after another
        out = run_seed_client("echo_client", main.port, extra_modules={"sys": argv})
        assert out == ["data = hello world", "Sent:hello world",
                       "Received: b'HELLO WORLD'"]
    assert main.module.OUTPUT[:2] == ["127.0.0.1 wrote:", "b'hello world'"]


def test_seed_async_server_answers_while_another_session_is_open(impl, seed_main, client):
    main = seed_main("async_server", impl, "server")
    server = main.server
    assert server.daemon_threads is True
    assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    lingering = client(("localhost", main.port))   # its handler waits in recv
    argv = module_with("sys", argv=["echo client.py", "apa", "kabar"])
    out = run_seed_client("echo_client", main.port, extra_modules={"sys": argv})
    reply = "INI DATA BALASAN : %s" % str(b"apa kabar")
    assert out[-1] == "Received: %s" % str(reply.encode())
    lingering.sendall(b"late")
    assert support.recv_all(lingering) == b"INI DATA BALASAN : b'late'"


# ------------------------------------------------------------------ seed 001

def test_seed_timestamp_server_stamps_each_line(impl, seed_main):
    main = seed_main("timestamp_server", impl, "server")
    out = run_seed_client("timestamp_client", main.port,
                          inputs=["hello", "second line", ""])
    lines = printed(out)
    assert len(lines) == 2, out
    assert re.fullmatch(r"\[%s\] hello" % CTIME, lines[0]), lines[0]
    assert re.fullmatch(r"\[%s\] second line" % CTIME, lines[1]), lines[1]
    assert main.module.OUTPUT[0] == "waiting for connection..."


@pytest.mark.parametrize("server", ["TCPServer", "ThreadingTCPServer", "ForkingTCPServer"])
def test_seed_uppercase_tcp_server_session(impl, seed_main, serve, client, server):
    if server == "TCPServer":                 # the seed's own main block
        port = seed_main("uppercase_tcp_server", impl, "myserver").port
        other = None
    else:                                     # "Asynchronous Server Classes" slide
        seed = load_seed("uppercase_tcp_server", impl)
        myserver = getattr(seed.socketserver, server)(("127.0.0.1", 0), seed.UCHandler)
        port = serve(myserver).address[1]
        other = client(("127.0.0.1", port))   # a second session, open meanwhile
        other.sendall(b"first\r\n")
        assert recv_exact(other, 7) == b"FIRST\r\n"
    out = run_seed_client("uppercase_tcp_client", port,
                          inputs=["hello", "Mixed Case 123", ""])
    assert printed(out) == ["HELLO", "MIXED CASE 123"]
    if other is not None:
        other.sendall(b"still here\r\n")
        assert recv_exact(other, 12) == b"STILL HERE\r\n"
        other.sendall(b"\r\n")                # the seed's end-of-session line
        assert support.recv_all(other) == b""


def test_seed_uppercase_udp_server(impl, seed_main):
    main = seed_main("uppercase_udp_server", impl, "myserver")
    out = run_seed_client("uppercase_udp_client", main.port, inputs=["MixedCaseString"])
    assert printed(out) == ["Recv: b'MIXEDCASESTRING'"]
    assert main.module.OUTPUT == ["b'MixedCaseString'"]


# ------------------------------------------------------------------ seed 004

def test_seed_clock_server_tells_the_time(impl, serve):
    seed = load_seed("clock_server", impl)
    ss = seed.TCPServer(("localhost", seed.PORT), seed.ServerClock)   # as main()
    port = serve(ss).address[1]
    for _ in range(2):
        out = run_seed_client("clock_client", port)
        assert out[0] == "client is connected"
        assert re.fullmatch(CTIME, out[1]), out
    assert 'read "What is the time?        " from client' in seed.OUTPUT


@pytest.mark.timeout(30)
def test_seed_clock_server_main_stops_on_ctrl_c(impl):
    proc = support.start_seed_process(impl.__name__, "clock_server")
    try:
        port = support.listening_port(proc)
        out = run_seed_client("clock_client", port)
        assert re.fullmatch(CTIME, out[1]), out
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr
    assert stdout.splitlines()[-1] == " ctrl c pressed, closing server", stdout


def test_seed_swap_server_swaps_strings_between_two_clients(impl, seed_main):
    main = seed_main("swap_server", impl, "server")

    def swap(message):
        return lambda: run_seed_client("swap_client", main.port, MESSAGE=message)[-1]

    assert in_threads(swap("from A"), swap("from B")) == ["from B", "from A"]
    # Three pairs at once: every client gets the string of exactly one other
    # client, and that client got its string.
    sent = ["s%d" % i for i in range(6)]
    got = in_threads(*(swap(s) for s in sent))
    partner = dict(zip(sent, got))
    assert sorted(got) == sorted(sent)
    assert all(partner[partner[s]] == s and partner[s] != s for s in sent)


def test_seed_secret_server_answers_wrong_right_then_secret_found(impl, seed_main):
    main = seed_main("secret_server", impl, "server")
    secret = main.server.secret

    def guess(g):
        return run_seed_client("secret_client", main.port, GUESS=g)[-1]

    answers = [guess(str(g)) for g in range(10)]
    assert answers == ["wrong"] * secret + ["right"] + ["secret found"] * (9 - secret)
    assert guess("7") == "secret found"       # all future clients


def test_seed_secret_server_has_one_winner_among_concurrent_guesses(impl, serve):
    seed = load_seed("secret_server", impl)
    server = seed.SecretServer(("localhost", 0), seed.GuessHandler)
    port = serve(server).address[1]
    guesses = [str(g) for g in range(10)] * 2
    answers = in_threads(*(
        (lambda g=g: run_seed_client("secret_client", port, GUESS=g)[-1])
        for g in guesses))
    assert answers.count("right") == 1
    winner = guesses[answers.index("right")]
    assert winner == str(server.secret)
    assert all(a == "secret found" or (a == "wrong" and g != winner)
               for g, a in zip(guesses, answers) if a != "right")
