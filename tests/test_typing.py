"""pyfast's types, as a user's type checker sees them: ``mypy --strict`` on
the typed handlers of tests/typing/ (the README's examples and one handler
per model) against the INSTALLED package (its .pyi stubs, inline
annotations and py.typed), and a file with type errors that mypy must
report through those types."""

import os
import subprocess
import sys
import textwrap

import pytest

TYPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typing")

# Each line is an error mypy can only find through pyfast's types.
WRONG = textwrap.dedent('''\
    import pyfast
    from pyfast.cooperative import sleep

    class Echo(pyfast.MessageHandler):
        def handle_message(self, message: bytes) -> None:
            self.send_message("text")                       # str, not bytes

    class Lines(pyfast.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.readline().decode())  # str, not bytes

    def serve() -> None:
        with pyfast.TCPServer(("127.0.0.1", 0), Echo) as server:
            server.serve_forever(poll_interval="0.5")          # str, not float
        sleep("1")                                             # str, not float
''')
WRONG_LINES = {6, 10, 14, 15}


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    """Run ``python -m mypy --strict`` on paths from a directory outside the
    source tree, so that ``import pyfast`` is the installed package; returns
    (exit status, output)."""
    work = tmp_path_factory.mktemp("mypy")
    cache = work / "cache"

    def run(*paths):
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
             "--cache-dir", str(cache), *map(str, paths)],
            cwd=work, capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr
    return run


@pytest.mark.timeout(600)
def test_typed_handlers_pass_strict(mypy):
    files = sorted(os.path.join(TYPED, f) for f in os.listdir(TYPED) if f.endswith(".py"))
    assert len(files) >= 5
    status, out = mypy(*files)
    assert status == 0, out


@pytest.mark.timeout(600)
def test_type_errors_are_reported(mypy, tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text(WRONG)
    status, out = mypy(wrong)
    assert status == 1, out
    lines = {int(line.split(":")[1]) for line in out.splitlines()
             if line.startswith(str(wrong)) and ": error:" in line}
    assert lines == WRONG_LINES, out
