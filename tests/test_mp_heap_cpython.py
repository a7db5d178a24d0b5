# micropython: skip drives the micropython binary with a fixed heap (-X heapsize) from CPython
"""examples/echo.py on MicroPython with a small heap, and the heap targets of the default 2 MiB.

- 320 KiB heap, --max-size 4096: five clients at once echo text and binary messages of up to
  4 KiB; a message over the limit is closed with 1009; a new client is served afterwards.
  (96 KiB is too small for the library to import at all on the unix port: its bytecode lives in
  the heap, ~70 KiB, and compiling a module needs ~16 KiB more; see the README, On a board.
  4 KiB, not 16 KiB: a message needs about twice its size of live heap, the one arriving and
  the previous one, in blocks that must be contiguous. 256 KiB serves five 4 KiB clients in
  most runs, but heap fragmentation failed it about once in ten; 320 KiB leaves the margin a
  test needs.)
- 192, 256 and 280 KiB heaps, the library's .py files as mip installs them: three clients
  echo up to 2 KiB;
- 176 KiB heap, the library precompiled with mpy-cross (.mpy): three clients echo up to 2 KiB;
- default heap (2 MiB): 512 KiB binary messages echo whole, back to back; a message the heap
  cannot hold at all is closed with 1009 and the server goes on;
- default heap: 150 and then 500 idle WebSockets (the target), opened by this process; the
  server must still serve a client when it is full; a flood of 800 at once gets 503s beyond
  what the heap holds, without a MemoryError (and 1000 on a 3 MiB heap).
"""

import asyncio
import os
import random
import socket

import pytest

import support
from cpython_support import MICROPYTHON_SOURCES, ROOT, MicroPythonProcess, compile_library, echo_round_trips, find_micropython, small_heap_exchanges, micropython_env
from wsio import ConnectionClosed, HandshakeError, InvalidStatus, connect

ECHO = os.path.join(ROOT, "examples", "echo.py")
UPGRADE = (
    "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def echo_server(heap=None, max_size=None):
    micropython = find_micropython()
    port = support.free_port()
    cmd = [micropython]
    if heap:
        cmd += ["-X", "heapsize=" + heap]
    cmd += [ECHO, "--port", str(port)]
    if max_size:
        cmd += ["--max-size", str(max_size)]
    process = MicroPythonProcess(cmd, cwd=ROOT, env=micropython_env(*MICROPYTHON_SOURCES))
    process.port = port
    return process


async def test_small_heap_serves_five_clients_rejects_oversize_and_goes_on():
    limit = 4096
    with echo_server("320K", limit) as mp:
        mp.wait_for_port(mp.port)
        await small_heap_exchanges(mp.port, limit, 5)
        assert mp.alive(), mp.output
        assert "MemoryError" not in mp.output, mp.output


async def test_library_from_source_serves_three_clients_from_192_kib():
    # What mip installs: .py files, compiled as they are imported. Before wscore.aio collected
    # the compiler's garbage after each import, fragmentation decided: 184-216 KiB served, but
    # 224-264 KiB, 280 and 288 KiB did not even start. Now every 8 KiB step from 176 to 400
    # KiB serves (bench/mp_small_heap.py --source); 192 KiB leaves a margin.
    limit = 2048
    for heap in ("192K", "256K", "280K"):
        with echo_server(heap, limit) as mp:
            mp.wait_for_port(mp.port)
            await small_heap_exchanges(mp.port, limit, 3)
            assert mp.alive(), heap + ": " + mp.output
            assert "Traceback" not in mp.output, heap + ": " + mp.output


async def test_precompiled_library_serves_three_clients_in_176_kib(tmp_path):
    # Precompiled, the library imports without compiling it (which takes ~16 KiB more for a
    # moment: from .py files examples/echo.py serves from 176 KiB). Three clients echo up to
    # 2 KiB, a message over the limit is closed with 1009, and a client is served afterwards.
    # (168 KiB passes 3 runs of 3 and 160 KiB 1 of 3; 176 KiB leaves a margin.)
    compile_library(str(tmp_path))
    limit = 2048
    port = support.free_port()
    cmd = [find_micropython(), "-X", "heapsize=176K", ECHO, "--port", str(port), "--max-size", str(limit)]
    with MicroPythonProcess(cmd, cwd=ROOT, env=micropython_env(str(tmp_path))) as mp:
        mp.wait_for_port(port)
        await small_heap_exchanges(port, limit, 3)
        assert mp.alive(), mp.output
        assert "Traceback" not in mp.output, mp.output


async def test_default_heap_echoes_512_kib_binary_back_to_back():
    with echo_server() as mp:
        mp.wait_for_port(mp.port)
        data = random.Random(1).randbytes(512 * 1024)
        async with connect("ws://127.0.0.1:%d/echo" % mp.port, max_size=None) as ws:
            # Back to back, the previous message is still referenced while the next one arrives
            # in pieces and is joined (3x its size live, two blocks of it contiguous). Without a
            # collection before a large frame, the second echo failed on fragmentation.
            for _ in range(4):
                await ws.send(data)
                assert await ws.receive() == data
        assert mp.alive(), mp.output


async def test_default_heap_answers_a_message_it_cannot_hold_with_1009_and_goes_on():
    # Within max_size (1 MiB by default) but beyond what 2 MiB can hold at once: the received
    # message and its bytes copy, while the handler still holds the previous one.
    with echo_server() as mp:
        mp.wait_for_port(mp.port)
        data = random.Random(2).randbytes(900 * 1024)
        async with connect("ws://127.0.0.1:%d/echo" % mp.port, max_size=None) as ws:
            with support.raises(ConnectionClosed) as caught:
                for _ in range(3):
                    await ws.send(data)
                    assert await ws.receive() == data
            assert caught.value.code == 1009, caught.value
            assert caught.value.reason == "message too big for the memory available"
        await echo_round_trips(mp.port, 3, 1024, 2)
        assert mp.alive(), mp.output
        assert "Traceback" not in mp.output, mp.output


def open_idle(port, limit):
    """Open up to `limit` upgraded connections; stop at the first the server refuses or drops."""
    sockets = []
    for _ in range(limit):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(UPGRADE)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1024)
                if not chunk:
                    break
                head += chunk
        except OSError:
            head = b""
        if not head.startswith(b"HTTP/1.1 101"):
            s.close()
            break
        sockets.append(s)
    return sockets


def idle_connections_held(target):
    with echo_server() as mp:
        mp.wait_for_port(mp.port)
        sockets = open_idle(mp.port, target)
        held = len(sockets)
        # Every connection still open is alive: the first and the last echo.
        for s in (sockets[0], sockets[-1]):
            s.sendall(bytes([0x82, 0x82, 1, 2, 3, 4, 1 ^ 7, 2 ^ 8]))  # masked b'\x07\x08'
            assert s.recv(16) == bytes([0x82, 0x02, 7, 8])
        for s in sockets[held // 2 :]:
            s.close()
        # With half of them closed, a new client is served.
        asyncio.run(echo_round_trips(mp.port, 7, 1024, 2))
        for s in sockets[: held // 2]:
            s.close()
        assert mp.alive(), mp.output
        print("\nMicroPython, 2 MiB heap: %d idle WebSocket connections held (target %d)" % (held, target))
        return held


def test_default_heap_holds_idle_connections_and_recovers():
    assert idle_connections_held(150) == 150


def test_default_heap_holds_500_idle_connections():
    assert idle_connections_held(500) == 500


@pytest.mark.parametrize(
    "heap, flood",
    [
        (None, 800),
        # 780 connections fit: the poller, sized for them alone, had to grow for the 503s in the
        # fragmented heap, and its MemoryError crashed the unix port (SIGSEGV) in most runs.
        ("3M", 1000),
    ],
)
async def test_a_flood_gets_503_beyond_what_the_heap_holds_and_the_server_survives(heap, flood):
    # Upgrades at once: without a limit the heap ran out mid-accept and the unix port crashed
    # (SIGSEGV in its asyncio). The server takes what its heap allows and answers 503.
    with echo_server(heap) as mp:
        mp.wait_for_port(mp.port)

        async def one():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", mp.port)
                writer.write(UPGRADE)
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
                return head.split(b" ", 2)[1], writer
            except (OSError, asyncio.IncompleteReadError):
                return b"reset", None

        results = await asyncio.gather(*(one() for _ in range(flood)))
        statuses = [status for status, _ in results]
        # Every answer is an upgrade or a 503 (a connect the kernel's listen queue resets during
        # the flood gets no answer at all, which is not the server's doing).
        assert statuses.count(b"101") >= 150, statuses.count(b"101")
        assert statuses.count(b"503") >= 1, "the connection limit never engaged"
        assert set(statuses) <= {b"101", b"503", b"reset"}, set(statuses)
        for _, writer in results:
            if writer is not None:
                writer.close()
        assert mp.alive(), mp.output
        # Once the server has seen those connections go, a new client is served. Until then a
        # try may get 503, or lose its TCP connection in the kernel's queue behind the flood.
        deadline = support.monotonic() + 20
        while True:
            try:
                await echo_round_trips(mp.port, 5, 1024, 2)
                break
            except (InvalidStatus, HandshakeError, OSError) as exc:
                assert getattr(exc, "status", 503) in (0, 503), (exc, mp.output)
                assert support.monotonic() < deadline, (exc, mp.output)
                await asyncio.sleep(0.05)  # bounded polling until the slots are released
        assert "MemoryError" not in mp.output, mp.output
