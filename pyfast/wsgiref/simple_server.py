"""A WSGI server on pyfast: wsgiref.simple_server's WSGIServer and
make_server() with pyfast's HTTPServer underneath.

The request handler (WSGIRequestHandler) and the WSGI machinery
(ServerHandler) are the standard library's, unchanged, so
``from pyfast.wsgiref.simple_server import make_server`` is the only
change a wsgiref program needs.
"""

from __future__ import annotations

import wsgiref.simple_server as _simple_server
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, ServerHandler, demo_app  # noqa: F401

from pyfast.http.server import HTTPServer

__all__ = ["WSGIServer", "WSGIRequestHandler", "demo_app", "make_server"]


class WSGIServer(HTTPServer):
    """wsgiref.simple_server.WSGIServer on pyfast: a single-threaded HTTP
    server for one WSGI application (set_app / get_app); server_bind()
    also fills base_environ, as there."""

    application = None

    def server_bind(self) -> None:
        """Override server_bind to store the server name and set up the
        base WSGI environment."""
        HTTPServer.server_bind(self)
        self.setup_environ()

    # The stdlib's own methods (they use only self).
    setup_environ = _simple_server.WSGIServer.setup_environ
    get_app = _simple_server.WSGIServer.get_app
    set_app = _simple_server.WSGIServer.set_app


def make_server(host: str, port: int, app: Any, server_class: type[WSGIServer] = WSGIServer,
                handler_class: Callable[..., object] = WSGIRequestHandler) -> WSGIServer:
    """Create a new WSGI server listening on host and port (int) for app,
    as wsgiref.simple_server.make_server."""
    server = server_class((host, port), handler_class)
    server.set_app(app)
    return server
