# micropython: skip drives the micropython binary in a thread of a chosen stack size from CPython
"""How much C stack ``import wsio`` takes on MicroPython, which runs each import on it.

A board's main task may have 16 KiB of stack or less. MicroPython runs a module's imports
inside it, so every level of a chain of imports takes stack (on the unix port ~5 KB a level:
its import keeps a path buffer of PATH_MAX). ``wscore.aio`` loads the core bottom-up to keep
chains short: ``import wsio`` from ``.py`` files, compiling them, fits a thread of 36 KiB here
(the port leaves it a limit of 28 KiB) where it needed 51 KiB before.
"""

import subprocess

from cpython_support import MICROPYTHON_SOURCES, ROOT, find_micropython, micropython_env

IMPORT_IN_A_THREAD = """
import _thread, time
_thread.stack_size({size})
result = []
def run():
    try:
        import wsio
        result.append("imported")
    except BaseException as exc:
        result.append(repr(exc))
_thread.start_new_thread(run, ())
for _ in range(500):
    if result:
        break
    time.sleep_ms(10)
print(result)
"""


def import_in_a_thread(stack_size):
    script = IMPORT_IN_A_THREAD.format(size=stack_size)
    done = subprocess.run([find_micropython(), "-c", script], cwd=ROOT, env=micropython_env(*MICROPYTHON_SOURCES), capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout + done.stderr


def test_import_wsio_fits_a_36_kib_thread():
    returncode, output = import_in_a_thread(36 * 1024)
    assert returncode == 0 and "['imported']" in output, output


def test_the_probe_fails_where_the_stack_is_too_small():
    # The same probe in 16 KiB (an 8 KiB limit) must not import: it measures the stack. The
    # import stops with a RecursionError, or overflows the thread's stack before its check and
    # takes the process down (SIGSEGV, a few runs in ten).
    returncode, output = import_in_a_thread(16 * 1024)
    assert "['imported']" not in output, (returncode, output)
    assert "maximum recursion depth exceeded" in output or returncode == -11, (returncode, output)
