"""Run the shared test suite on MicroPython.

    MICROPYPATH=tests:packages/ws-core/src:packages/ws-micropython/src:.frozen \\
        micropython -X heapsize=64M tests/mprun.py [-k SUBSTRING] [FILE[::TEST] ...]

(tests/mp_launch.py does this for you, one process per file; `hatch run mp:run` calls it.)

With no FILE, every tests/test_*.py is run. A test is a top-level function whose name starts
with `test_`; functions run in the order they are defined in the file. `def` tests are called;
`async def` tests run on a fresh event loop with a timeout (TEST_TIMEOUT_S, or a
`# micropython: timeout SECONDS` line in the file's first 20 lines). An exception in a task
that nobody awaits fails the test that was running.

A file with a line `# micropython: skip REASON` in its first 20 lines is not imported: each of
its `def test_*` counts as skipped with that reason.

Output: one line per test (`PASS file::name`, `FAIL file::name` + traceback,
`SKIP file::name (reason)`), then, as the last line,
`micropython: N passed, N failed, N skipped`. Exit status 1 when anything failed.
"""

import sys
import os
import gc

import asyncio

TEST_TIMEOUT_S = 30
HEADER_LINES = 20
DIRECTIVE = "# micropython:"


# --- paths (MicroPython has no os.path) ---------------------------------------------------


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    return path[:i] or "/"


def _basename(path):
    return path[path.rfind("/") + 1 :]


def _is_file(path):
    try:
        return os.stat(path)[0] & 0x8000 != 0
    except OSError:
        return False


# --- reading a test file as text -----------------------------------------------------------


def read_directives(path):
    """The `# micropython: WORD rest` lines of the file's head, as {WORD: rest}."""
    found = {}
    with open(path) as f:
        for _ in range(HEADER_LINES):
            line = f.readline()
            if not line:
                break
            if line.startswith(DIRECTIVE):
                rest = line[len(DIRECTIVE) :].strip()
                word, _, arg = rest.partition(" ")
                found[word] = arg.strip()
    return found


def source_test_names(path):
    """Names of top-level `def test_*` / `async def test_*`, in definition order."""
    names = []
    with open(path) as f:
        for line in f:
            if line.startswith("async def test_"):
                line = line[len("async ") :]
            elif not line.startswith("def test_"):
                continue
            name = line[len("def ") :].split("(")[0].strip()
            if name not in names:
                names.append(name)
    return names


# --- running ---------------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def summary(self):
        return "micropython: %d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped)


def _is_skip(exc):
    # support.SkipTest, without importing support (a test file may not use it).
    return type(exc).__name__ == "SkipTest"


def _run_async(coro, timeout, background_errors):
    loop = asyncio.new_event_loop()  # drops tasks left over by the previous test

    def on_error(loop, context):
        background_errors.append(context)

    loop.set_exception_handler(on_error)

    async def main():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise AssertionError("test timed out after %s s" % timeout)

    async def settle():
        # Let tasks that have just finished with an exception reach the exception handler.
        for _ in range(3):
            await asyncio.sleep(0)

    try:
        asyncio.run(main())
    finally:
        asyncio.run(settle())


def run_test(label, fn, timeout, results):
    reason = getattr(fn, "_mp_skip_reason", None)
    if reason is not None:
        print("SKIP %s (%s)" % (label, reason))
        results.skipped += 1
        return
    background_errors = []
    try:
        outcome = fn()
        if outcome is not None and hasattr(outcome, "send"):  # coroutine (a generator here)
            _run_async(outcome, timeout, background_errors)
    except Exception as e:
        if _is_skip(e):
            print("SKIP %s (%s)" % (label, e))
            results.skipped += 1
        else:
            print("FAIL %s" % label)
            sys.print_exception(e)
            results.failed += 1
        return
    if background_errors:
        print("FAIL %s" % label)
        for context in background_errors:
            print("  %s:" % context.get("message", "exception in a task"))
            exc = context.get("exception")
            if exc is not None:
                sys.print_exception(exc)
        results.failed += 1
        return
    print("PASS %s" % label)
    results.passed += 1


def run_file(path, only, keyword, results):
    directives = read_directives(path)
    names = source_test_names(path)
    if "skip" in directives:
        reason = directives["skip"] or "file marked '# micropython: skip'"
        for name in names:
            if _selected(name, only, keyword):
                print("SKIP %s::%s (%s)" % (path, name, reason))
                results.skipped += 1
        return
    timeout = TEST_TIMEOUT_S
    if "timeout" in directives:
        timeout = float(directives["timeout"])

    folder = _dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    modname = _basename(path)[:-3]
    try:
        module = __import__(modname)
    except Exception as e:
        print("FAIL %s (import failed)" % path)
        sys.print_exception(e)
        results.failed += 1
        return

    # Text order first; then any test_ attribute the text scan could not see (assigned, not def'd).
    extra = sorted(n for n in dir(module) if n.startswith("test_") and n not in names)
    for name in names + extra:
        if not _selected(name, only, keyword):
            continue
        fn = getattr(module, name, None)
        if fn is None or not (callable(fn) or hasattr(fn, "_mp_skip_reason")):
            continue
        run_test("%s::%s" % (path, name), fn, timeout, results)
        gc.collect()

    del sys.modules[modname]
    gc.collect()


def _selected(name, only, keyword):
    if only is not None and name != only:
        return False
    return keyword is None or keyword in name


def discover(tests_dir):
    files = [n for n in os.listdir(tests_dir) if n.startswith("test_") and n.endswith(".py")]
    files.sort()
    return [tests_dir + "/" + n for n in files]


def main(argv):
    keyword = None
    targets = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-k":
            i += 1
            keyword = argv[i]
        elif arg.startswith("-"):
            print("mprun: unknown option %s" % arg)
            return 2
        else:
            targets.append(arg)
        i += 1
    if not targets:
        targets = discover(_dirname(sys.argv[0]))

    results = Results()
    for target in targets:
        path, _, only = target.partition("::")
        if not _is_file(path):
            print("FAIL %s (no such file)" % path)
            results.failed += 1
            continue
        run_file(path, only or None, keyword, results)
    print(results.summary())
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
