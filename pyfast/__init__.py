"""pyfast: the standard library's socketserver, made fast.

``import pyfast as socketserver`` is the only change a socketserver program
needs: the same classes, hooks and attributes (see pyfast.socketserver),
with the accept loop, waits and stream buffers in C (epoll, accept4, a
reusable thread pool) instead of Python.
"""

from pyfast import socketserver
from pyfast.socketserver import *  # noqa: F401,F403
from pyfast.socketserver import RequestSocket, __all__ as _server_all

from pyfast.message import MessageHandler, EchoMessageHandler, FramingError

__version__ = "0.1.0"

__all__ = list(_server_all) + ["RequestSocket", "MessageHandler",
                               "EchoMessageHandler", "FramingError"]
