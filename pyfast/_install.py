"""pyfast in place of the standard library's socketserver, for programs and
libraries that are not changed (``python -m pyfast run``, pyfast.install()).

install() makes ``import socketserver`` give pyfast.socketserver (an entry
in sys.modules), so every module imported afterwards that builds on
socketserver builds on pyfast's classes: http.server, xmlrpc.server,
wsgiref.simple_server and logging.config's listener in the standard
library; werkzeug's, bottle's and other frameworks' development servers,
which build on those.  The standard library's HTTP servers need more than
the alias; while installed, pyfast's TCPServer.__init_subclass__ adjusts
them as they are made (imported, or run as __main__ by
``python -m pyfast run -m http.server``):

- http.server: HTTPServer (and so ThreadingHTTPServer,
  wsgiref.simple_server.WSGIServer and every subclass) gets
  ``coalesce_header_blocks = True``: a response's header block and body
  leave in one send (no Nagle/delayed-ACK stall of ~40 ms per keep-alive
  response; see pyfast.http.server.CoalescingMixIn), and pyfast's request
  header parser is put in place (pyfast.http.headers, unless
  PYFAST_HTTP_HEADERS=stdlib);
- xmlrpc.server: SimpleXMLRPCServer (and its subclasses) the same.

A module imported before install() keeps the standard library's classes:
install() warns (RuntimeWarning) naming each module that holds the
standard library's socketserver or a class built on it.  uninstall() puts
back what install() changed.
"""

import sys
import threading
import warnings
from typing import Callable

__all__ = ["install", "uninstall", "installed"]

_MISSING = object()
_lock = threading.Lock()
_state = None       # _Installed while installed


def _coalesce(cls, state):
    cls.coalesce_header_blocks = True
    return "header block and body in one send"


def _coalesce_and_parse_headers(cls, state):
    done = _coalesce(cls, state)
    from pyfast.http import headers
    if not headers.installed():
        headers._install_from_environment()
        state.headers_installed = headers.installed()
    if headers.installed():
        done += ", request headers parsed in C"
    return done


# Standard library classes that get more than the alias, as they are made
# (by import, or run as __main__ by `python -m pyfast run -m http.server`):
# (module, class) -> fixup(cls, state) -> what it did (for --verbose).
# Their subclasses (ThreadingHTTPServer, wsgiref's WSGIServer, DocXMLRPCServer,
# werkzeug's servers...) inherit the class attributes.
_FIXUPS = {
    ("http.server", "HTTPServer"): _coalesce_and_parse_headers,
    ("xmlrpc.server", "SimpleXMLRPCServer"): _coalesce,
}


def _module_name(cls):
    """The module cls is made in, by its spec: a module run as __main__
    by runpy (python -m http.server) has the name it was found under."""
    module = sys.modules.get(cls.__module__)
    spec = getattr(module, "__spec__", None)
    return getattr(spec, "name", None) or cls.__module__


def _init_subclass(cls, **kwargs):
    """pyfast.socketserver.TCPServer.__init_subclass__ while installed:
    applies _FIXUPS to the standard library's server classes as they are
    made."""
    from pyfast.socketserver import TCPServer
    super(TCPServer, cls).__init_subclass__(**kwargs)
    state = _state
    if state is None:
        return
    fixup = _FIXUPS.get((_module_name(cls), cls.__qualname__))
    if fixup is not None:
        done = fixup(cls, state)
        state.say(f"{_module_name(cls)}.{cls.__qualname__} on pyfast ({done})")


def _socketserver_user(module, ss):
    """True when module (by its globals) uses the socketserver module ss:
    holds ss itself, or a class of ss or a class built on one."""
    try:
        values = list(vars(module).values())
    except TypeError:
        return False
    own = _own_classes(ss)
    for value in values:
        if value is ss:
            return True
        if isinstance(value, type):
            try:
                if any(c in own for c in value.__mro__):
                    return True
            except (AttributeError, TypeError):
                pass
    return False


def _own_classes(ss):
    """The classes the socketserver module ss defines (by identity: while
    installed, pyfast's report the module name "socketserver" too)."""
    names = {ss.__name__, "socketserver"}
    return {v for v in vars(ss).values()
            if isinstance(v, type) and v.__module__ in names}


def _set_module_names(ss, module):
    """The classes of ss that stand in for socketserver's own (exactly its
    __all__) report module as their __module__."""
    for name in ss.__all__:
        getattr(ss, name).__module__ = module


def _users(ss, names):
    """Names (sorted) of the modules among names that use ss."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        if module is None or module is ss or name.split(".")[0] == "pyfast":
            continue
        if _socketserver_user(module, ss):
            found.append(name)
    return sorted(found)


class _Loader:
    """Wraps a module's loader: runs the module, then after(module)."""

    def __init__(self, loader, after):
        self._loader = loader
        self._after = after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        loader = self._loader
        try:
            loader.exec_module(module)
        finally:
            # What the module and its spec show is the real loader.
            module.__loader__ = loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = loader
        self._after(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder:
    """sys.meta_path entry (with verbose only): finds modules with the
    finders after it and wraps their loaders, to report each module that
    is built on pyfast once it has run."""

    def __init__(self, state):
        self.state = state
        self.local = threading.local()

    def find_spec(self, name, path=None, target=None):
        state = self.state
        if getattr(self.local, "busy", False):
            return None
        self.local.busy = True
        try:
            spec = None
            finders = sys.meta_path
            start = finders.index(self) + 1 if self in finders else len(finders)
            for finder in finders[start:]:
                find = getattr(finder, "find_spec", None)
                if find is not None:
                    spec = find(name, path, target)
                    if spec is not None:
                        break
        finally:
            self.local.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, lambda module: state.imported(name, module))
        return spec


class _Installed:
    def __init__(self, verbose, log):
        import pyfast.socketserver
        self.pyfast_ss = pyfast.socketserver
        self.verbose = verbose
        self.log = log
        self.previous = sys.modules.get("socketserver", _MISSING)
        self.modules_before = set(sys.modules)
        self.finder = _Finder(self)
        self.headers_installed = False   # by an http.server fixup

    def say(self, message):
        if self.verbose:
            self.log(f"pyfast: {message}")

    def imported(self, name, module):
        if name.split(".")[0] != "pyfast" and _socketserver_user(module, self.pyfast_ss):
            self.say(f"{name} on pyfast")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def install(verbose: bool = False, log: Callable[[str], object] = _stderr) -> None:
    """Put pyfast in place of the standard library's socketserver for the
    modules imported from now on (see the module's docstring).

    verbose (bool): report each module put on pyfast through log (a
    callable taking a str; default: print to stderr).  Warns
    (RuntimeWarning) for each module imported earlier that keeps the
    standard library's socketserver classes.  Calling it again while
    installed does nothing.  Returns None.
    """
    global _state
    with _lock:
        if _state is not None:
            return
        state = _Installed(bool(verbose), log)
        stdlib = state.previous
        if stdlib is not _MISSING and stdlib is not None and stdlib is not state.pyfast_ss:
            for name in _users(stdlib, list(sys.modules)):
                warnings.warn(
                    f"pyfast.install(): {name} was imported before pyfast.install() "
                    f"and keeps the standard library's socketserver classes "
                    f"(install pyfast before importing it, or run the program "
                    f"with python -m pyfast run)", RuntimeWarning, stacklevel=2)
        tcp_server = state.pyfast_ss.TCPServer
        state.previous_init_subclass = tcp_server.__dict__.get("__init_subclass__", _MISSING)
        _state = state
        tcp_server.__init_subclass__ = classmethod(_init_subclass)
        sys.modules["socketserver"] = state.pyfast_ss
        # Found, printed and pickled under socketserver's name while they
        # stand in for it (CPython's test_socketserver.MiscTestCase.test_all
        # asks for this); pyfast.socketserver's own name otherwise.
        _set_module_names(state.pyfast_ss, "socketserver")
        if state.verbose:
            sys.meta_path.insert(0, state.finder)
    state.say("socketserver is pyfast.socketserver")


def uninstall() -> None:
    """Undo install(): ``import socketserver`` gives what it gave before,
    the finder leaves sys.meta_path, and the standard library's modules
    imported since install() that were built on pyfast (http.server, ...)
    leave sys.modules, so that importing them again builds them on the
    standard library (objects already made from them stay as they are).
    http.client.parse_headers is put back when install() put pyfast's
    there, unless pyfast.http.server (which wants it) has been imported.
    Does nothing when not installed.  Returns None.
    """
    global _state
    with _lock:
        state, _state = _state, None
        if state is None:
            return
        try:
            sys.meta_path.remove(state.finder)
        except ValueError:
            pass
        tcp_server = state.pyfast_ss.TCPServer
        if state.previous_init_subclass is _MISSING:
            del tcp_server.__init_subclass__
        else:
            tcp_server.__init_subclass__ = state.previous_init_subclass
        stdlib_names = getattr(sys, "stdlib_module_names", ())
        added = [name for name in set(sys.modules) - state.modules_before
                 if name.split(".")[0] in stdlib_names]
        for name in _users(state.pyfast_ss, added):
            del sys.modules[name]
        _set_module_names(state.pyfast_ss, state.pyfast_ss.__name__)
        if state.previous is _MISSING:
            sys.modules.pop("socketserver", None)
        else:
            sys.modules["socketserver"] = state.previous
        if state.headers_installed and "pyfast.http.server" not in sys.modules:
            from pyfast.http import headers
            headers.uninstall()


def installed() -> bool:
    """True between install() and uninstall()."""
    return _state is not None
