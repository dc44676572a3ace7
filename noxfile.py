"""Test sessions: build pyfast and run the test suite on every supported
Python (3.10 to 3.13) that is installed, each in a fresh virtual environment.

    pip install nox && nox          # all versions
    nox -s tests-3.12               # one version

Interpreters are found on PATH; with pyenv, every installed 3.10-3.13 is made
visible to its shims first.  On CI (the CI environment variable set) a
missing interpreter is an error rather than a skip.
"""
import os
import shutil
import subprocess

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests", "bench"]
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


@nox.session(python=PYTHONS)
def tests(session):
    """Build the wheel (warnings are errors) and run pytest against it;
    then CPython's own suites for socketserver and the servers built on
    it, with pyfast in place through `python -m pyfast run`, compared with
    the same suites on the standard library (tests/cpython_suites.py)."""
    session.env["PYFAST_WERROR"] = "ON"
    _install_haproxy(session)
    session.install(".[test]")
    # The installed package, never the source tree: run from tests/.
    try:
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
