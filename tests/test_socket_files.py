"""pyfast's C-buffered rfile/wfile (SocketReader/SocketWriter) under use
from two threads: a recv/send runs without the GIL on the file's buffer,
so a second thread's call waits for the first to return (one call at a
time, as io's buffered files), never corrupting the buffer; a close from
another thread does not wait (see also test_parity.py)."""

import socket
import threading
import time

import pytest

import pyfast

HOST = "127.0.0.1"


def _serve(handler):
    server = pyfast.ThreadingTCPServer((HOST, 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server, t


def test_close_from_another_thread_during_a_blocked_read_ends_the_read():
    result = {}
    done = threading.Event()

    class Handler(pyfast.StreamRequestHandler):
        def handle(self):
            rfile = self.rfile

            def other_thread():
                time.sleep(0.2)               # the handler is now in recv
                rfile.close()

            threading.Thread(target=other_thread).start()
            try:
                rfile.readline()
            except ValueError as exc:
                result["blocked_reader"] = exc
            done.set()

    server, t = _serve(Handler)
    try:
        c = socket.create_connection(server.server_address, timeout=5)
        time.sleep(0.4)
        c.sendall(b"line\n")                  # wakes the blocked recv
        assert done.wait(5)
        c.close()
    finally:
        server.shutdown()
        server.server_close()
    assert "closed file" in str(result["blocked_reader"])


def test_write_while_another_thread_is_blocked_sending_waits_for_it():
    result = {}
    done = threading.Event()

    class Handler(pyfast.StreamRequestHandler):
        wbufsize = 1 << 20

        def handle(self):
            wfile = self.wfile

            def other_thread():
                time.sleep(0.2)               # the handler is now blocked in send
                try:
                    wfile.write(b"x")
                    wfile.flush()
                except Exception as exc:      # noqa: BLE001
                    result["second_writer"] = exc

            other = threading.Thread(target=other_thread)
            other.start()
            wfile.write(b"y" * (8 << 20))     # fills the socket buffers
            wfile.flush()
            other.join(10)
            done.set()

    server, t = _serve(Handler)
    try:
        c = socket.create_connection(server.server_address, timeout=5)
        time.sleep(0.5)
        data = bytearray()
        while len(data) < (8 << 20) + 1:
            chunk = c.recv(1 << 16)
            assert chunk
            data += chunk
        assert done.wait(5)
        c.close()
    finally:
        server.shutdown()
        server.server_close()
    assert "second_writer" not in result
    assert data == b"y" * (8 << 20) + b"x"
