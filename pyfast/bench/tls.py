"""python -m pyfast.bench.tls: the TLS scenarios of python -m pyfast.bench.

    python -m pyfast.bench.tls [--scenarios tls-echo-1k,tls-connect,https]
                               [--servers pyfast,pyfast-coop,stdlib,uvloop,c]
                               [--rounds 3] [--seconds 4] [other pyfast.bench options]

A shortcut for ``python -m pyfast.bench --scenarios
tls-echo-1k,tls-connect,https --duration SECONDS ...``: the same runs, table
and reports (every other option of python -m pyfast.bench is passed on).
The scenarios, servers, load generator (tlsgen.c, OpenSSL in C) and C
reference TLS server (tlsref.c) are described in pyfast.bench.scenarios
and pyfast.bench.cbuild; they need the openssl command and OpenSSL's
headers (Debian: libssl-dev) to build on first use.
"""
from __future__ import annotations

import argparse
import sys

from .scenarios import SCENARIOS

TLS_SCENARIOS = tuple(name for name, sc in SCENARIOS.items() if sc.tls)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyfast.bench.tls", description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(TLS_SCENARIOS),
                    help=f"comma-separated subset of {','.join(TLS_SCENARIOS)} (default: all three)")
    ap.add_argument("--seconds", type=float, default=None, help="measure seconds per run (--duration)")
    args, rest = ap.parse_known_args(argv)
    forward = ["--scenarios", args.scenarios, *rest]
    if args.seconds is not None:
        forward += ["--duration", str(args.seconds)]
    from .__main__ import main as bench_main
    return bench_main(forward)


if __name__ == "__main__":
    sys.exit(main())
