"""Bench-only C programs linked with OpenSSL, compiled on first use.

tlsgen.c (the TLS load generator) and tlsref.c (the C reference TLS
server) link libssl and libcrypto; pyfast's wheel does not build them or
link OpenSSL.  compiled() builds one with ``$CC -O2 ... -lssl -lcrypto
-lpthread`` (Debian: the libssl-dev package) into ~/.cache/pyfast (or
$XDG_CACHE_HOME/pyfast), once per version of its source, and
certificate() makes the self-signed certificate the TLS servers use with
the ``openssl`` command.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_CERT: tuple[str, str] | None = None


class BuildError(RuntimeError):
    """A bench C program or the certificate could not be made; says why."""


def compiled(name: str) -> str:
    """Path of the executable built from pyfast/bench/NAME.c (built if
    missing).  Raises BuildError, with the compiler's message, when it
    cannot be built (no C compiler, no OpenSSL headers)."""
    src = os.path.join(_HERE, name + ".c")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "pyfast")
    os.makedirs(cache, exist_ok=True)
    exe = os.path.join(cache, f"{name}-{digest}")
    if not os.path.exists(exe):
        cc = os.environ.get("CC", "cc")
        tmp = f"{exe}.{os.getpid()}"
        try:
            proc = subprocess.run([cc, "-O2", "-o", tmp, src, "-lssl", "-lcrypto", "-lpthread"],
                                  capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot build {name}.c: {e}") from e
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1:] or [f"{cc} exited {proc.returncode}"]
            raise BuildError(f"cannot build {name}.c (needs OpenSSL headers, Debian: libssl-dev): {last[0]}")
        os.replace(tmp, exe)   # atomic: concurrent first uses agree
    return exe


def certificate() -> tuple[str, str]:
    """(cert.pem, key.pem): a self-signed P-256 certificate for localhost,
    made once per process in a temporary directory removed at exit.
    Raises BuildError without the openssl command."""
    global _CERT
    if _CERT is None:
        if shutil.which("openssl") is None:
            raise BuildError("needs the openssl command to make the bench certificate")
        tmp = tempfile.mkdtemp(prefix="pyfast-bench-tls-")
        atexit.register(shutil.rmtree, tmp, True)
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                               "-days", "1", "-keyout", key, "-out", cert],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"openssl req failed: {proc.stderr.strip()}")
        _CERT = (cert, key)
    return _CERT
