"""The installed distribution: one version, and no source tree that borrows
an installed copy's compiled modules.

Run from tests/ as the rest of the suite, so ``pyfast`` here is the
installed copy (a wheel, or an editable install of this checkout).
"""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pyfast

ROOT = Path(__file__).resolve().parents[1]

_PROBE = "import pyfast, pyfast._core as c; print(pyfast.__file__); print(c.__file__)"


def test_version_is_the_distributions_version():
    # pyproject.toml reads the version from pyfast/__init__.py: one source.
    assert pyfast.__version__ == importlib.metadata.version("pyfast")


def test_source_checkout_does_not_borrow_an_installed_copys_extensions():
    """`import pyfast` with the checkout's root as the working directory (as
    `python -m pyfast.bench` run there does) must not take the .py files from
    the source tree and the compiled modules from an installed copy: either
    the checkout is itself installed (editable: both are its own) or the
    import fails and says how to install it."""
    installed_dir = Path(pyfast.__file__).resolve().parent
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    if proc.returncode:
        assert "pip install -e ." in proc.stderr, proc.stderr
        assert "ImportError" in proc.stderr, proc.stderr
        return
    init_file, core_file = proc.stdout.split("\n")[:2]
    if Path(init_file).resolve().is_relative_to(ROOT) and not installed_dir.is_relative_to(ROOT):
        # Source .py files: the compiled modules must not be the installed copy's.
        assert not Path(core_file).resolve().is_relative_to(installed_dir), (
            f"the checkout's {init_file} runs with the installed copy's {core_file}")


def test_importing_pyfast_loads_no_more_than_socketserver_does():
    """`import pyfast` (and its socketserver and message modules) loads ssl
    only when TLS is used, as `import socketserver` does not load it: a
    plaintext server pays neither its import time nor its memory, and an
    interpreter built without ssl can import pyfast.  (The HTTP servers load
    it as the stdlib's http.server does, through http.client.)"""
    probe = ("import sys, {mod}; print(sorted(m for m in ('ssl', '_ssl') "
             "if m in sys.modules))")
    for mod in ("socketserver", "pyfast", "pyfast.socketserver", "pyfast.message"):
        out = subprocess.run([sys.executable, "-c", probe.format(mod=mod)],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", (mod, out)
