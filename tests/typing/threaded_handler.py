"""A typed threaded StreamRequestHandler on pyfast."""
import socket
import threading

import pyfast


class Upper(pyfast.StreamRequestHandler):
    timeout = 5.0
    disable_nagle_algorithm = True

    def handle(self) -> None:
        line: bytes = self.rfile.readline(65537)
        peer: tuple[str, int] = self.client_address
        self.wfile.write(line.upper())
        self.wfile.write(f"{peer[0]}\n".encode())


class Server(pyfast.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    max_workers = 64

    def handle_error(self, request: object, client_address: object) -> None:
        super().handle_error(request, client_address)


def serve_once() -> bytes:
    with Server(("127.0.0.1", 0), Upper) as server:
        host, port = server.server_address[:2]
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        t.start()
        try:
            with socket.create_connection((host, port), timeout=5) as c:
                c.sendall(b"hi\n")
                return c.recv(1024)
        finally:
            server.shutdown()
            t.join()
