"""A typed http.server handler on pyfast's HTTP servers."""
from pyfast.http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pyfast.cooperative import CooperativeHTTPServer


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def threaded() -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", 0), Hello)


def cooperative() -> CooperativeHTTPServer:
    return CooperativeHTTPServer(("127.0.0.1", 0), Hello)
