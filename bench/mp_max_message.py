"""The largest message examples/echo.py echoes on MicroPython, per heap size (CPython driver).

    python bench/mp_max_message.py [--repeat N] [96K 256K 2M ...]

For each heap, a fresh `micropython -X heapsize=H examples/echo.py --max-size 16M` per try; one
client sends one binary (or text) message of S bytes and checks the echo (``--repeat N``: N
messages back to back, each echoed before the next); S is bisected to 1 KiB. Prints a table.
The library is run from packages/*/src (.py files, compiled at import).
"""

import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "packages", "ws-core", "src"), os.path.join(ROOT, "packages", "ws-cpython", "src")]

import support  # noqa: E402
from cpython_support import MICROPYTHON_SOURCES, MicroPythonProcess, find_micropython, micropython_env  # noqa: E402
from wsio import connect  # noqa: E402


def parse_size(text):
    units = {"K": 1024, "M": 1 << 20}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


async def echoes(micropython, heap, size, text, repeat=1):
    port = support.free_port()
    cmd = [micropython, "-X", "heapsize=" + heap, os.path.join(ROOT, "examples", "echo.py"), "--port", str(port), "--max-size", str(16 << 20)]
    with MicroPythonProcess(cmd, cwd=ROOT, env=micropython_env(*MICROPYTHON_SOURCES)) as mp:
        try:
            mp.wait_for_port(port, 10)
        except AssertionError:
            return None  # the server did not start
        message = ("a" * size) if text else os.urandom(size)
        try:
            async with connect("ws://127.0.0.1:%d/echo" % port, max_size=None, open_timeout=5) as ws:
                for _ in range(repeat):
                    await ws.send(message)
                    if await asyncio.wait_for(ws.receive(), 10) != message:
                        return False
                return True
        except Exception:
            return False


async def largest(micropython, heap, text, repeat):
    if await echoes(micropython, heap, 1, text) is None:
        return None
    low, high = 1, parse_size(heap)
    while high - low > 1024:
        mid = (low + high) // 2
        if await echoes(micropython, heap, mid, text, repeat):
            low = mid
        else:
            high = mid
    return low


async def main(heaps, repeat):
    micropython = find_micropython()
    times = "" if repeat == 1 else " (%d back to back)" % repeat
    print("| heap | largest binary echo%s | largest text echo%s |" % (times, times))
    print("|---|---|---|")
    for heap in heaps:
        binary = await largest(micropython, heap, False, repeat)
        if binary is None:
            print("| %s | server does not start (MemoryError at import) | |" % heap)
            continue
        text = await largest(micropython, heap, True, repeat)
        print("| %s | %d KiB | %d KiB |" % (heap, binary // 1024, text // 1024))


if __name__ == "__main__":
    args = sys.argv[1:]
    repeat = 1
    if args[:1] == ["--repeat"]:
        repeat = int(args[1])
        del args[:2]
    asyncio.run(main(args or ["96K", "128K", "192K", "256K", "512K", "2M"], repeat))
