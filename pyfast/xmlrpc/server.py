"""XML-RPC servers on pyfast: xmlrpc.server's SimpleXMLRPCServer,
MultiPathXMLRPCServer and DocXMLRPCServer with pyfast's TCPServer
underneath (C accept loop, C-buffered request files, headers and body
sent together: coalesce_header_blocks, see pyfast.http.server).

Request handlers and dispatchers are the standard library's, re-exported
unchanged, so ``from pyfast.xmlrpc.server import SimpleXMLRPCServer`` is
the only change an xmlrpc.server program needs.
"""

from __future__ import annotations

import xmlrpc.server as _xmlrpc_server
from typing import Any, Callable
from xmlrpc.server import (SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler,  # noqa: F401
                           XMLRPCDocGenerator, DocXMLRPCRequestHandler,
                           CGIXMLRPCRequestHandler, DocCGIXMLRPCRequestHandler,
                           resolve_dotted_attribute, list_public_methods)

from pyfast import socketserver

__all__ = ["SimpleXMLRPCServer", "MultiPathXMLRPCServer", "DocXMLRPCServer",
           "SimpleXMLRPCRequestHandler", "SimpleXMLRPCDispatcher",
           "DocXMLRPCRequestHandler", "CGIXMLRPCRequestHandler"]


class SimpleXMLRPCServer(socketserver.TCPServer, SimpleXMLRPCDispatcher):
    """xmlrpc.server.SimpleXMLRPCServer on pyfast.TCPServer: same
    arguments, attributes and dispatching (register_function,
    register_instance, register_introspection_functions, ...)."""

    allow_reuse_address = True

    # Debugging only, as in xmlrpc.server: sends tracebacks to clients.
    _send_traceback_header = False

    # Header block and body in one send, whatever the concurrency model
    # (pyfast.http.server.coalescing_socket_class).
    coalesce_header_blocks = True

    def __init__(self, addr: Any, requestHandler: Callable[..., object] = SimpleXMLRPCRequestHandler,
                 logRequests: bool = True, allow_none: bool = False, encoding: str | None = None,
                 bind_and_activate: bool = True, use_builtin_types: bool = False) -> None:
        self.logRequests = logRequests
        SimpleXMLRPCDispatcher.__init__(self, allow_none, encoding, use_builtin_types)
        socketserver.TCPServer.__init__(self, addr, requestHandler, bind_and_activate)


class MultiPathXMLRPCServer(SimpleXMLRPCServer):
    """xmlrpc.server.MultiPathXMLRPCServer on pyfast: one dispatcher per
    request path (add_dispatcher / get_dispatcher)."""

    def __init__(self, addr: Any, requestHandler: Callable[..., object] = SimpleXMLRPCRequestHandler,
                 logRequests: bool = True, allow_none: bool = False, encoding: str | None = None,
                 bind_and_activate: bool = True, use_builtin_types: bool = False) -> None:
        SimpleXMLRPCServer.__init__(self, addr, requestHandler, logRequests, allow_none,
                                    encoding, bind_and_activate, use_builtin_types)
        self.dispatchers = {}
        self.allow_none = allow_none
        self.encoding = encoding or "utf-8"

    # The stdlib's own methods (they use only self and their module's names).
    add_dispatcher = _xmlrpc_server.MultiPathXMLRPCServer.add_dispatcher
    get_dispatcher = _xmlrpc_server.MultiPathXMLRPCServer.get_dispatcher
    _marshaled_dispatch = _xmlrpc_server.MultiPathXMLRPCServer._marshaled_dispatch


class DocXMLRPCServer(SimpleXMLRPCServer, XMLRPCDocGenerator):
    """xmlrpc.server.DocXMLRPCServer on pyfast: XML-RPC plus HTML
    documentation of the registered functions on GET."""

    def __init__(self, addr: Any, requestHandler: Callable[..., object] = DocXMLRPCRequestHandler,
                 logRequests: bool = True, allow_none: bool = False, encoding: str | None = None,
                 bind_and_activate: bool = True, use_builtin_types: bool = False) -> None:
        SimpleXMLRPCServer.__init__(self, addr, requestHandler, logRequests,
                                    allow_none, encoding, bind_and_activate,
                                    use_builtin_types)
        XMLRPCDocGenerator.__init__(self)
