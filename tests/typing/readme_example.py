"""The README's examples, as written there (mypy --strict checks them)."""
import pyfast as socketserver          # the only change
import pyfast
from pyfast.cooperative import CooperativeTCPServer


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:        # rfile/wfile buffered in C
            self.wfile.write(line)


class MessageEcho(pyfast.MessageHandler):
    framing = "line"
    def handle_message(self, line: bytes) -> None:
        self.send_message(line)


def threaded() -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 9999), Echo) as server:
        server.serve_forever()


def cooperative() -> None:
    with CooperativeTCPServer(("127.0.0.1", 9999), Echo) as server:
        server.serve_forever()


def message() -> None:
    with pyfast.TCPServer(("127.0.0.1", 9999), MessageEcho) as server:
        server.serve_forever()
