"""pyfast: the standard library's socketserver, made fast.

``import pyfast as socketserver`` is the only change a socketserver program
needs: the same classes, hooks and attributes (see pyfast.socketserver),
with the accept loop, waits and stream buffers in C (epoll, accept4, a
reusable thread pool) instead of Python.
"""

# Run from a source checkout (e.g. `python -m pyfast.bench` in the repo
# after `pip install .`), this directory has no compiled extensions: let the
# installed copy of the package supply them (the stdlib's mechanism for a
# package split across sys.path entries).
import pkgutil as _pkgutil
__path__ = _pkgutil.extend_path(__path__, __name__)

from pyfast import socketserver
from pyfast.socketserver import *  # noqa: F401,F403
from pyfast.socketserver import RequestSocket, __all__ as _server_all

from pyfast.message import MessageHandler, EchoMessageHandler, FramingError
from pyfast._install import install, uninstall

__version__ = "0.1.0"

__all__ = list(_server_all) + ["RequestSocket", "MessageHandler",
                               "EchoMessageHandler", "FramingError"]
__all__ += ["install", "uninstall"]

# Cooperative handlers (greenlets on C hubs), imported on first use so that
# ``import pyfast`` does not import greenlet: see pyfast.cooperative.
_COOPERATIVE = ("CooperativeMixIn", "CooperativeTCPServer", "CooperativeUnixStreamServer",
                "CooperativeHTTPServer", "CooperativeSocket", "run_in_thread")


def __getattr__(name):
    if name in _COOPERATIVE:
        from pyfast import cooperative
        return getattr(cooperative, name)
    raise AttributeError(f"module 'pyfast' has no attribute {name!r}")
