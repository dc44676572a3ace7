"""C-level tests of the framing code (csrc/pf_frame.c).

Compiles tests/c/test_frame.c and the standalone driver of fuzz/fuzz_frame.c
with the system C compiler (ASan + UBSan when the compiler and the machine
support them) and runs both. No clang or libFuzzer needed; the long libFuzzer
run is ``fuzz/run.sh libfuzzer 600``.
"""
import os
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
FUZZ_SECONDS = os.environ.get("PF_FUZZ_SECONDS", "15")
BASE_FLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g", "-I", str(CSRC)]
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
SAN_ENV = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}

pytestmark = pytest.mark.timeout(120)


def find_cc():
    cands = []
    cc = sysconfig.get_config_var("CC")
    if cc:
        cands.append(shlex.split(cc)[0])
    cands += ["cc", "gcc"]
    for c in cands:
        path = shutil.which(c)
        if path:
            return path
    return None


def compile_c(cc, sources, out, flags, cwd):
    cmd = [cc, *flags, *map(str, sources), "-o", str(out)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return proc, cmd


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory):
    cc = find_cc()
    if cc is None:
        pytest.skip("no C compiler")
    tmp = tmp_path_factory.mktemp("sanprobe")
    src = tmp / "probe.c"
    src.write_text("#include <stdlib.h>\nint main(void){char *p = malloc(4); p[0] = 1; "
                   "int r = p[0] - 1; free(p); return r;}\n")
    proc, _ = compile_c(cc, [src], tmp / "probe", ["-O1", *SAN_FLAGS], tmp)
    san = False
    if proc.returncode == 0:
        run = subprocess.run([str(tmp / "probe")], capture_output=True,
                             env={**os.environ, **SAN_ENV}, timeout=30)
        san = run.returncode == 0
    flags = BASE_FLAGS + ["-O1"] + (SAN_FLAGS if san else [])
    env = {**os.environ, **(SAN_ENV if san else {})}
    return {"cc": cc, "flags": flags, "env": env, "sanitizers": san}


def test_pf_frame_builds_warning_free_with_extension_flags(toolchain, tmp_path):
    # The flags CMakeLists.txt uses for csrc/*.c with PYFAST_WERROR=ON.
    flags = ["-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE", "-O2", "-fPIC", "-c"]
    proc, cmd = compile_c(toolchain["cc"], [CSRC / "pf_frame.c"], tmp_path / "pf_frame.o",
                          flags, ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"


def run_c_tests(toolchain, tmp_path, name, csrc, time_scale=None, timeout=100):
    """Build tests/c/<name>.c with csrc/<each of csrc> (-pthread, the
    sanitizers where they work) and run it: it must exit 0 and report
    "N passed, 0 failed".  time_scale: PF_TEST_TIME_SCALE for it."""
    exe = tmp_path / name
    sources = [CSRC / f for f in csrc] + [ROOT / "tests" / "c" / f"{name}.c"]
    proc, cmd = compile_c(toolchain["cc"], sources, exe, [*toolchain["flags"], "-pthread"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    env = dict(toolchain["env"])
    if time_scale is not None:
        env["PF_TEST_TIME_SCALE"] = str(time_scale)
    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=timeout)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " passed, 0 failed" in run.stdout, out


def test_c_unit_tests_pass(toolchain, tmp_path):
    run_c_tests(toolchain, tmp_path, "test_frame", ["pf_frame.c", "pf_buf.c"], time_scale=4)


def test_fuzz_target_short_standalone_run_finds_nothing(toolchain, tmp_path):
    exe = tmp_path / "fuzz_frame"
    proc, cmd = compile_c(toolchain["cc"], [CSRC / "pf_frame.c", CSRC / "pf_buf.c",
                                             ROOT / "fuzz/fuzz_frame.c"],
                          exe, toolchain["flags"], ROOT)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    env = {**toolchain["env"], "PF_FUZZ_CRASH": str(tmp_path / "crash.bin")}
    run = subprocess.run([str(exe), "-t", FUZZ_SECONDS, "-s", "1", str(ROOT / "fuzz/corpus")],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=100)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert ", 0 failed" in run.stdout, out
    assert "replayed 0 files" not in run.stdout, "corpus seeds missing: " + out
