"""python -m pyfast.http [port] [--bind ADDR] [--directory DIR] [--protocol VERSION] [--workers N] [--certfile PEM [--keyfile PEM]]

Serve a directory over HTTP as ``python -m http.server`` does, on pyfast's
ThreadingHTTPServer (files sent with sendfile(2)), in --workers processes
(pyfast.prefork: SIGTERM stops them gracefully, SIGHUP starts new ones
before the old ones drain, SIGTTIN/SIGTTOU add/remove one); HTTPS with
--certfile (as Python 3.14's ``--tls-cert``/``--tls-key``).
"""
import argparse
import contextlib
import os
import socket
import sys

from pyfast.http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer, test


def main(argv=None):
    # The description is the docstring's second paragraph, whole.
    parser = argparse.ArgumentParser(prog="python -m pyfast.http",
                                     description=__doc__.split("\n\n")[1].replace("``", ""))
    parser.add_argument("-b", "--bind", metavar="ADDRESS",
                        help="bind to this address (default: all interfaces)")
    parser.add_argument("-d", "--directory", default=os.getcwd(),
                        help="serve this directory (default: current directory)")
    parser.add_argument("-p", "--protocol", metavar="VERSION", default="HTTP/1.0",
                        help="conform to this HTTP version (default: %(default)s)")
    parser.add_argument("-w", "--workers", type=int, default=1,
                        help="worker processes (default: %(default)s, serve in this process)")
    parser.add_argument("--certfile", metavar="PATH",
                        help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--keyfile", metavar="PATH",
                        help="its private key (PEM; default: in --certfile)")
    parser.add_argument("port", default=8000, type=int, nargs="?",
                        help="bind to this port (default: %(default)s)")
    args = parser.parse_args(argv)
    ssl_context = None
    if args.certfile:
        import ssl
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.certfile, args.keyfile)
    elif args.keyfile:
        parser.error("--keyfile needs --certfile")

    if args.workers < 1:
        parser.error(f"--workers must be >= 1, not {args.workers}")

    class DualStackServer(ThreadingHTTPServer):
        workers = args.workers

        def server_bind(self):
            # Dual-stack IPv6 socket, as python -m http.server.
            with contextlib.suppress(Exception):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            return super().server_bind()

        def finish_request(self, request, client_address):
            self.RequestHandlerClass(request, client_address, self,
                                     directory=args.directory)

    DualStackServer.ssl_context = ssl_context
    test(HandlerClass=SimpleHTTPRequestHandler, ServerClass=DualStackServer,
         port=args.port, bind=args.bind, protocol=args.protocol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
