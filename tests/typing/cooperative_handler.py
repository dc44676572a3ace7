"""A typed handler on the cooperative model."""
import pyfast
from pyfast.cooperative import (CooperativeSocket, CooperativeTCPServer,
                                run_in_thread, sleep)


def slow_square(n: int) -> int:
    return n * n


class Square(pyfast.StreamRequestHandler):
    request: CooperativeSocket

    def handle(self) -> None:
        self.request.settimeout(2.0)
        for line in self.rfile:
            n = int(line)
            sleep(0.001)
            result: int = run_in_thread(slow_square, n)
            self.wfile.write(b"%d\n" % result)


class Server(CooperativeTCPServer):
    hubs = 2
    drain_timeout = 0.5
    max_connections = 100


def make() -> Server:
    return Server(("127.0.0.1", 0), Square)
