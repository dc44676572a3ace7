"""Handlers and servers for tests/test_prefork*.py, served in child processes.

As a module for the launcher: ``python -m pyfast serve prefork_app:Pid``
(threading or cooperative), ``prefork_app:PidMessage`` (message),
``prefork_app:Hello`` (HTTP).  Each reply starts with the pid of the worker
that served it.  Requests (one per recv/line):

    crash       the worker exits with status 3 at once
    slow S      reply after S seconds
    big N       reply with N bytes (b"x" * N) after the pid
    shutdown    server.shutdown() from the handler
    env         reply with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES as the worker sees them
    anything    echoed after the pid

As a script: ``python prefork_app.py udp|crashloop|named=NAME WORKERS``
serves a ThreadingUDPServer (datagrams answered with the pid), a server
whose workers die as they start, or Pid on the socket systemd passed under
NAME (activation_name); it prints ``PORT n`` once bound.
"""

import os
import sys
import threading

import pyfast
import support
from pyfast import cooperative


def _env():
    return " ".join(f"{k}={os.environ.get(k)}" for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"))


def answer(data, server, later):
    """The reply to one request (bytes, without the pid), or None."""
    word, _, arg = data.strip().partition(b" ")
    if word == b"crash":
        os._exit(3)
    if word == b"slow":
        later(float(arg))
        return b"slept " + arg
    if word == b"big":
        return b"x" * int(arg)
    if word == b"shutdown":
        threading.Thread(target=server.shutdown, daemon=True).start()
        return b"shutting down"
    if word == b"env":
        return _env().encode()
    return data.strip()


class Pid(pyfast.BaseRequestHandler):
    """One request per recv(); runs on threads or as a greenlet."""

    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            reply = answer(data, self.server, cooperative.sleep)
            self.request.sendall(b"%d %s\n" % (os.getpid(), reply))


class PidMessage(pyfast.MessageHandler):
    """The same requests as lines; 'slow S' replies from a timer thread."""

    framing = "line"
    max_line = 1 << 20

    def handle_message(self, line):
        delay = []
        reply = answer(line, self.server, delay.append)
        text = b"%d %s" % (os.getpid(), reply)
        if delay:
            threading.Timer(delay[0], self.send_message, (text,)).start()
        else:
            self.send_message(text)


class Hello(support.hello_http_handler()):
    """support's hello handler; the Server header names the worker's pid."""

    def version_string(self):
        return f"worker/{os.getpid()}"


class UDPPid(pyfast.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(b"%d %s" % (os.getpid(), data), self.client_address)


def main(kind, workers):
    if kind == "udp":
        class Server(pyfast.ThreadingUDPServer):
            pass
        handler = UDPPid
    elif kind.startswith("named="):
        class Server(pyfast.ThreadingTCPServer):
            activation_name = kind[len("named="):]
        handler = Pid
    elif kind == "crashloop":
        class Server(pyfast.ThreadingTCPServer):
            def service_actions(self):
                os._exit(4)
        handler = Pid
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    Server.workers = workers
    with Server(("127.0.0.1", 0), handler) as server:
        print("PORT", server.server_address[1], flush=True)
        server.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    import logging
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
