"""Heap cost on MicroPython, as the README's table (On a board, Heap) gives it.

``gc.mem_alloc()`` with the collector off counts every byte allocated, garbage included: an
upper bound of the peak. The client lives in the same process, so it uses a raw socket, a
frame built beforehand and a preallocated reply buffer, and allocates almost nothing itself.
"""

import asyncio
import gc
import socket

import support
from wire import client_frame, echo_app, pattern, serving, upgrade_request

from wscore.protocol import Connection

NOT_MICROPYTHON = "gc.mem_alloc() is MicroPython's (tracemalloc on CPython would count asyncio's 256 KiB read buffer)"


async def _read_into(stream, view):
    """Fill ``view`` from ``stream``; returns how many bytes came before the end of stream."""
    got = 0
    while got < len(view):
        n = await stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


async def _raw_upgrade(port):
    """A non-blocking socket past the opening handshake, and its asyncio stream."""
    sock = socket.socket()
    sock.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    sock.setblocking(False)
    stream = asyncio.StreamReader(sock)  # MicroPython's one Stream class
    stream.write(upgrade_request(port))
    await stream.drain()
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.read(256)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, stream


async def _echo_allocates(stream, size):
    """What the process allocates to echo one binary message of ``size`` bytes (the second:
    the first warms up what is made once)."""
    frame = client_frame(0x2, pattern(size))
    head = 4 if size < 65536 else 10
    reply = memoryview(bytearray(size + head))
    for measured in (False, True):
        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()
            stream.write(frame)
            await stream.drain()
            got = await _read_into(stream, reply)
            allocated = gc.mem_alloc() - before
        finally:
            gc.enable()
        assert got == len(reply) and bytes(reply[head:]) == pattern(size)
    print("echo of %d bytes: %d bytes allocated" % (size, allocated))
    return allocated


@support.skip_if(not support.ON_MICROPYTHON, NOT_MICROPYTHON)
async def test_a_message_in_one_read_costs_its_size_plus_a_constant():
    # Up to the 16 KiB read buffer, a message is unmasked where it arrived and copied once, into
    # the bytes handed to the handler; the echo goes out without a copy (over 8 KiB). Before,
    # the unmasked payload got a buffer of its own first: twice the size.
    async with serving(echo_app(max_size=None, ping_interval=None)) as port:
        sock, stream = await _raw_upgrade(port)
        try:
            for size in (9000, 16000):
                allocated = await _echo_allocates(stream, size)
                assert allocated < size + 6 * 1024, (size, allocated)
        finally:
            sock.close()


@support.skip_if(not support.ON_MICROPYTHON, NOT_MICROPYTHON)
async def test_a_message_larger_than_a_read_costs_its_size_plus_a_constant():
    # Unmasked read by read into the bytes that the message becomes (wscore._inplace). Before,
    # into pieces then joined: 136,032 bytes for 64 KiB.
    async with serving(echo_app(max_size=1 << 20, ping_interval=None)) as port:
        sock, stream = await _raw_upgrade(port)
        try:
            allocated = await _echo_allocates(stream, 65536)
            assert allocated < 65536 + 8 * 1024, allocated
        finally:
            sock.close()


@support.skip_if(not support.ON_MICROPYTHON, NOT_MICROPYTHON)
def test_the_protocol_holds_a_large_message_once():
    # 512 KiB in 16 KiB reads through one reused buffer, as the MicroPython layer feeds them:
    # the message itself, and a few memoryviews per read (6.3 KB in all, measured).
    size = 512 * 1024
    frame = client_frame(0x2, bytes(size))
    source = memoryview(frame)
    buffer = bytearray(16384)
    view = memoryview(buffer)
    conn = Connection(max_size=None)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for start in range(0, len(frame), len(buffer)):
            n = min(len(buffer), len(frame) - start)
            buffer[:n] = source[start : start + n]
            conn.receive_data(view[:n], True)
        events = conn.events()
        allocated = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert len(events) == 1 and len(events[0]) == size
    print("512 KiB through the protocol: %d bytes allocated" % allocated)
    assert allocated < size + 8 * 1024, allocated


@support.skip_if(not support.ON_MICROPYTHON, NOT_MICROPYTHON)
async def test_an_idle_websocket_costs_under_3_kb():
    count = 20
    app = echo_app(ping_interval=None)
    async with serving(app) as port:
        # The client sockets and their requests exist before the first measurement; the
        # server accepts and upgrades them all after it.
        addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
        request = upgrade_request(port)
        sockets = []
        try:
            for _ in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.connect(addr)
                sock.send(request)
                sock.setblocking(False)
            gc.collect()
            before = gc.mem_alloc()
            await support.wait_until(lambda: len(app._websockets) == count, 10)
            gc.collect()
            per_connection = (gc.mem_alloc() - before) // count
            print("idle WebSocket: %d bytes" % per_connection)
            assert per_connection < 3 * 1024, per_connection
        finally:
            for sock in sockets:
                sock.close()
