"""Run CPython's own test_socketserver with pyfast in place of socketserver.

    python tests/cpython_socketserver.py [--stdlib] [unittest args...]

pyfast.install() puts pyfast.socketserver in sys.modules["socketserver"]
before the running Python's test.test_socketserver (its `test` package) is
imported,
so the suite's `import socketserver` gets pyfast; --stdlib runs it on the
stdlib instead, for comparison.  Verbose unittest output on stderr; exit
status 0 when nothing failed.  (The official zero-change entry point is
`python -m pyfast run`, which calls install() too; this runs the one
suite in-process, for the parity tests.)
"""

import sys
import unittest


def main(argv):
    stdlib = "--stdlib" in argv
    argv = [a for a in argv if a != "--stdlib"]
    if not stdlib:
        import pyfast
        pyfast.install()
    from test import test_socketserver
    expected = "pyfast.socketserver" if not stdlib else "socketserver"
    if test_socketserver.socketserver.__name__ != expected:
        raise SystemExit(f"test_socketserver imported {test_socketserver.socketserver!r}")
    program = unittest.main(module=test_socketserver, argv=["test_socketserver", "-v"] + argv,
                            exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
