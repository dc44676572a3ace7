"""python -m pyfast: pyfast's command line.

    python -m pyfast run [--verbose] script.py [args ...]
    python -m pyfast run [--verbose] -m module [args ...]
    python -m pyfast serve module:Handler [--bind ADDRESS] [--workers N] ...

See USAGE below (``python -m pyfast --help``).
"""

import importlib.util
import os
import runpy
import sys
import zipfile

USAGE = """\
usage: python -m pyfast COMMAND ...

commands:
  run [--verbose] script.py [args ...]
  run [--verbose] -m module [args ...]
        Run an unchanged Python program with pyfast in place of the
        standard library's socketserver, as `python script.py [args]` or
        `python -m module [args]` would run it (same __main__, sys.argv and
        sys.path[0]).  `import socketserver` gives pyfast.socketserver, so
        the servers the program and its libraries build on socketserver run
        on pyfast's classes: the standard library's http.server (with
        HTTP header block and body sent together, and request headers
        parsed in C), xmlrpc.server, wsgiref.simple_server and
        logging.config's listener; werkzeug's and Flask's development
        server, bottle's WSGIRefServer, and other code built on them.
        The arguments after the script or module are the program's own.
        A program that re-executes itself with the same command line (such
        as werkzeug's reloader, which runs sys.orig_argv again) keeps
        running on pyfast.  In a program, pyfast.install() at its top does
        the same.

        --verbose, -v   report on stderr each module put on pyfast
        --help, -h      this text

  serve module:Handler [--bind HOST:PORT|unix:PATH] [--workers N]
        [--server threading|cooperative|message] [--reload] ...
        Serve a request handler class (or a MessageHandler) on a pyfast
        server, in N supervised worker processes: SIGTERM/SIGINT stop it
        gracefully, SIGHUP reloads it without refusing a connection,
        SIGTTIN/SIGTTOU add/remove a worker; systemd socket activation is
        used when systemd passes a socket.  `python -m pyfast serve --help`
        lists every option.

Environment: PYFAST_HTTP_HEADERS=stdlib keeps the standard library's
request header parser.
"""


class UsageError(Exception):
    pass


def _parse_run(argv):
    """argv after 'run' -> (verbose, kind, target, args): kind is 'script'
    or 'module'.  Options end at the script, at -m's module, or at '--'."""
    verbose = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            raise SystemExit(_help())
        if arg in ("-v", "--verbose"):
            verbose = True
        elif arg == "-m" or (arg.startswith("-m") and len(arg) > 2):
            module = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else None)
            if not module:
                raise UsageError("run: -m needs a module name")
            rest = argv[i + (1 if arg[2:] else 2):]
            return verbose, "module", module, rest
        elif arg == "--":
            i += 1
            break
        elif arg.startswith("-") and arg != "-":
            raise UsageError(f"run: unknown option {arg!r}")
        else:
            break
        i += 1
    if i >= len(argv):
        raise UsageError("run: a script or -m module is needed")
    return verbose, "script", argv[i], argv[i + 1:]


def _help():
    print(USAGE, end="")
    return 0


def run(argv):
    """`run`: install pyfast, then run the script or module as __main__."""
    verbose, kind, target, args = _parse_run(argv)
    from pyfast._install import install
    install(verbose=verbose)
    if kind == "module":
        # As `python -m module`: sys.path[0] is the current directory (as
        # for `python -m pyfast`), argv[0] the module's file (runpy).
        try:
            found = importlib.util.find_spec(target) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            print(f"python -m pyfast run: No module named {target}", file=sys.stderr)
            return 1
        sys.argv[:] = [target, *args]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
        return 0
    # As `python script.py`: sys.path[0] is the script's directory (symbolic
    # links resolved); a directory or zip file with __main__.py is put there
    # by runpy itself.
    if not os.path.exists(target):
        print(f"python -m pyfast run: can't open file {target!r}: "
              f"[Errno 2] No such file or directory", file=sys.stderr)
        return 2
    sys.argv[:] = [target, *args]
    if os.path.isdir(target) or zipfile.is_zipfile(target):
        del sys.path[0]
    else:
        sys.path[0] = os.path.dirname(os.path.realpath(target))
    runpy.run_path(target, run_name="__main__")
    return 0


def serve(argv):
    """`serve`: python -m pyfast serve module:Handler (pyfast.launcher)."""
    from pyfast.launcher import main as serve_main
    return serve_main(argv)


COMMANDS = {"run": run, "serve": serve}


def main(argv=None):
    """Entry point: returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        _help()
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    try:
        if command is None:
            raise UsageError(f"unknown command {argv[0]!r}")
        return command(argv[1:])
    except UsageError as e:
        print(f"python -m pyfast: {e}\n\n{USAGE}", end="", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
