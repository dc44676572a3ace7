"""pyfast: the standard library's socketserver, made fast.

``import pyfast as socketserver`` is the only change a socketserver program
needs: the same classes, hooks and attributes (see pyfast.socketserver),
with the accept loop, waits and stream buffers in C (epoll, accept4, a
reusable thread pool) instead of Python.
"""

import importlib as _importlib
from typing import TYPE_CHECKING, Any

# The one source of the version: the wheel's metadata is read from this line
# ([tool.scikit-build.metadata.version] in pyproject.toml).
__version__ = "0.1.0"

try:
    _importlib.import_module("pyfast._core")  # first, for the clearest error
except ModuleNotFoundError as exc:  # pragma: no cover - a source tree imported by mistake
    if exc.name != "pyfast._core":
        raise
    raise ImportError(
        f"pyfast's compiled modules are missing from {__path__[0]}: this is a source "
        "checkout that was never built. Install it in place with `pip install -e .` "
        "(to work on pyfast, with the options in CONTRIBUTING.md), or run from "
        "outside the checkout to use an installed pyfast.") from exc

from pyfast import socketserver
from pyfast.socketserver import *  # noqa: F401,F403
from pyfast.socketserver import RequestSocket as RequestSocket, __all__ as _server_all

# (``X as X``: re-exported, for type checkers.)
from pyfast.message import (MessageHandler as MessageHandler,
                            EchoMessageHandler as EchoMessageHandler,
                            FramingError as FramingError)
from pyfast._install import install as install, uninstall as uninstall

__all__ = list(_server_all) + ["RequestSocket", "MessageHandler",
                               "EchoMessageHandler", "FramingError"]
__all__ += ["install", "uninstall"]

# Cooperative handlers (greenlets on C hubs), imported on first use so that
# ``import pyfast`` does not import greenlet: see pyfast.cooperative.
_COOPERATIVE = ("CooperativeMixIn", "CooperativeTCPServer", "CooperativeUnixStreamServer",
                "CooperativeHTTPServer", "CooperativeSocket", "run_in_thread")


if TYPE_CHECKING:
    from pyfast.cooperative import (
        CooperativeMixIn as CooperativeMixIn, CooperativeTCPServer as CooperativeTCPServer,
        CooperativeUnixStreamServer as CooperativeUnixStreamServer,
        CooperativeHTTPServer as CooperativeHTTPServer,
        CooperativeSocket as CooperativeSocket, run_in_thread as run_in_thread)


def __getattr__(name: str) -> Any:
    if name in _COOPERATIVE:
        from pyfast import cooperative
        return getattr(cooperative, name)
    raise AttributeError(f"module 'pyfast' has no attribute {name!r}")
