"""pyfast in place of the standard library's socketserver, for programs and
libraries that are not changed (``python -m pyfast run``, pyfast.install()).

install() makes ``import socketserver`` give pyfast.socketserver (an entry
in sys.modules), so every module imported afterwards that builds on
socketserver builds on pyfast's classes: http.server, xmlrpc.server,
wsgiref.simple_server and logging.config's listener in the standard
library; werkzeug's, bottle's and other frameworks' development servers,
which build on those.  A finder on sys.meta_path adjusts the standard
library's HTTP servers as they are imported (the only modules that need
more than the alias):

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

__all__ = ["install", "uninstall", "installed"]

_MISSING = object()
_lock = threading.Lock()
_state = None       # _Installed while installed


def _set_coalescing(*class_names):
    def fix(module, state):
        for name in class_names:
            getattr(module, name).coalesce_header_blocks = True
        return f"{', '.join(class_names)}: header block and body in one send"
    return fix


def _fix_http_server(module, state):
    done = _set_coalescing("HTTPServer")(module, state)
    from pyfast.http import headers
    if not headers.installed():
        headers._install_from_environment()
        state.headers_installed = headers.installed()
    if headers.installed():
        done += ", request headers parsed in C"
    return done


# Standard library modules whose classes get more than the alias, as they
# are imported: name -> fixup(module, state) -> what it did (for --verbose).
_FIXUPS = {
    "http.server": _fix_http_server,
    "xmlrpc.server": _set_coalescing("SimpleXMLRPCServer"),
}


def _socketserver_user(module, ss):
    """True when module (by its globals) uses the socketserver module ss:
    holds ss itself, or a class of ss or a class built on one."""
    try:
        values = list(vars(module).values())
    except TypeError:
        return False
    name = ss.__name__
    for value in values:
        if value is ss:
            return True
        if isinstance(value, type):
            try:
                if any(c.__module__ == name for c in value.__mro__):
                    return True
            except (AttributeError, TypeError):
                pass
    return False


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
    """sys.meta_path entry: finds modules with the finders after it and
    wraps the loader of those that need a fixup (all of them with
    verbose, to report the ones built on pyfast)."""

    def __init__(self, state):
        self.state = state
        self.local = threading.local()

    def find_spec(self, name, path=None, target=None):
        state = self.state
        if name not in _FIXUPS and not state.verbose:
            return None
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
        fixup = _FIXUPS.get(name)
        if fixup is not None:
            self.say(f"{name} on pyfast ({fixup(module, self)})")
        elif _socketserver_user(module, self.pyfast_ss):
            self.say(f"{name} on pyfast")


def _stderr(message):
    print(message, file=sys.stderr, flush=True)


def install(verbose=False, log=_stderr):
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
        sys.modules["socketserver"] = state.pyfast_ss
        sys.meta_path.insert(0, state.finder)
        _state = state
    state.say("socketserver is pyfast.socketserver")


def uninstall():
    """Undo install(): ``import socketserver`` gives what it gave before,
    the finder leaves sys.meta_path, and the standard library's modules
    imported since install() that were built on pyfast (http.server, ...)
    leave sys.modules, so that importing them again builds them on the
    standard library (objects already made from them stay as they are).
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
        stdlib_names = getattr(sys, "stdlib_module_names", ())
        added = [name for name in set(sys.modules) - state.modules_before
                 if name.split(".")[0] in stdlib_names]
        for name in _users(state.pyfast_ss, added):
            del sys.modules[name]
        if state.previous is _MISSING:
            sys.modules.pop("socketserver", None)
        else:
            sys.modules["socketserver"] = state.previous
        if state.headers_installed and "pyfast.http.server" not in sys.modules:
            from pyfast.http import headers
            headers.uninstall()


def installed():
    """True between install() and uninstall()."""
    return _state is not None
