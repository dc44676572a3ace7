"""CPython's own test suites for the modules built on socketserver, run with
pyfast in place through the zero-change entry point, and compared with the
same suites on the standard library.

    python tests/cpython_suites.py [SUITE ...]

Runs ``python -m pyfast run -m test -u network --junit-xml ... SUITES`` and
``python -m test -u network --junit-xml ... SUITES`` with the running
Python (each pyenv Python ships its ``test`` package), one after the
other, and reads both JUnit reports.  Exit status 0 when every test passes
on pyfast and the tests skipped on pyfast are exactly those skipped on the
standard library (by name where the report marks skips, 3.10 and 3.11; by
regrtest's skipped count where it prints one, 3.11 and later); otherwise
1, with each differing test and its message.
The nox session ``tests`` runs it after pytest (see noxfile.py).
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

SUITES = ["test_socketserver", "test_httpservers", "test_xmlrpc", "test_docxmlrpc",
          "test_wsgiref", "test_logging", "test_imaplib", "test_urllib2_localnet"]

# A run taking longer than this (seconds) is stopped and fails.
RUN_TIMEOUT = 900


def run_suites(prefix, suites, report, cwd):
    """Run regrtest (prefix: the arguments before `-m test`) on suites,
    writing a JUnit report; returns (exit status, seconds, output tail,
    the skipped count of regrtest's summary or None)."""
    cmd = [sys.executable, *prefix, "-m", "test", "-u", "network",
           "--junit-xml", report, *suites]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    output = proc.stdout + proc.stderr
    tail = "\n".join(output.splitlines()[-25:])
    # "Total tests: run=586 skipped=37" (3.11+): the JUnit report of 3.12
    # and later does not mark skipped tests.
    summary = re.search(r"^Total tests: run=\d+.*?(?:skipped=(\d+))?$", output, re.M)
    skipped = int(summary.group(1) or 0) if summary else None
    return proc.returncode, time.monotonic() - start, tail, skipped


def outcomes(report):
    """{test id: (outcome, message)} from a regrtest JUnit report; outcome
    is 'passed', 'skipped', 'failure' or 'error'."""
    found = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = ".".join(p for p in (case.get("classname"), case.get("name")) if p)
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                outcome = child.tag
                message = child.get("message") or (child.text or "")
                message = message.strip().splitlines()[-1] if message.strip() else ""
                break
        found[test_id] = (outcome, message)
    return found


def compare(on_pyfast, on_stdlib):
    """Lines describing every difference that fails the comparison."""
    problems = []
    for test_id, (outcome, message) in sorted(on_pyfast.items()):
        if outcome in ("failure", "error"):
            problems.append(f"{outcome.upper()} on pyfast: {test_id}: {message}")
    skipped_pf = {t for t, (o, _) in on_pyfast.items() if o == "skipped"}
    skipped_std = {t for t, (o, _) in on_stdlib.items() if o == "skipped"}
    for test_id in sorted(skipped_pf - skipped_std):
        problems.append(f"SKIPPED on pyfast only: {test_id}: {on_pyfast[test_id][1]}")
    for test_id in sorted(skipped_std - skipped_pf):
        problems.append(f"SKIPPED on the stdlib only: {test_id}: {on_stdlib[test_id][1]}")
    for test_id in sorted(set(on_stdlib) - set(on_pyfast)):
        problems.append(f"NOT RUN on pyfast: {test_id}")
    return problems


def main(argv):
    suites = argv or SUITES
    version = ".".join(map(str, sys.version_info[:3]))
    with tempfile.TemporaryDirectory(prefix="pyfast-cpython-suites-") as tmp:
        reports, skipped = {}, {}
        for label, prefix in (("pyfast", ["-m", "pyfast", "run"]), ("stdlib", [])):
            report = os.path.join(tmp, f"{label}.xml")
            status, seconds, tail, skipped[label] = run_suites(prefix, suites, report, tmp)
            print(f"CPython {version} {' '.join(suites)} on {label}: exit {status} "
                  f"in {seconds:.1f} s, {skipped[label]} skipped", flush=True)
            if status != 0 or not os.path.exists(report):
                print(tail, flush=True)
            if not os.path.exists(report):
                return 1
            reports[label] = outcomes(report)
    on_pyfast, on_stdlib = reports["pyfast"], reports["stdlib"]
    counts = {o: sum(1 for v in on_pyfast.values() if v[0] == o)
              for o in ("passed", "skipped", "failure", "error")}
    print(f"on pyfast: {counts}; on the stdlib: {len(on_stdlib)} tests")
    problems = compare(on_pyfast, on_stdlib)
    if skipped["pyfast"] != skipped["stdlib"]:
        problems.append(f"SKIPPED {skipped['pyfast']} tests on pyfast, "
                        f"{skipped['stdlib']} on the stdlib")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
