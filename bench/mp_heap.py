"""Heap figures of wsio on MicroPython: import, per idle connection, per in-flight message.

    MICROPYPATH=packages/ws-core/src:packages/ws-micropython/src:.frozen \
        micropython [-X heapsize=2M] bench/mp_heap.py [--clients 50] [--sizes 1024,16384,...]

Everything runs in this one process: the server is an ``App`` with an echo route, and the
clients are raw sockets driven by hand, so that nothing on the client side is counted as the
server's:

- import: ``gc.mem_alloc()`` after ``gc.collect()``, before and after ``import wsio``;
- per idle connection: N client sockets are connected and their upgrade requests sent *before*
  the first measurement (the kernel holds them in the listen backlog), then the server accepts
  and upgrades all N and every handler parks in ``receive()``: (after - before) / N is what
  the server keeps per open, idle WebSocket (stream, tasks, request, WebSocket, Connection);
- garbage per small message: 500 echoes of a 64-byte text message with the collector off, by
  a client that allocates nothing; what the server allocates per message (mostly garbage)
  sets how often a busy board collects;
- per message of S bytes: a client frame is built beforehand; the echo then runs with the
  collector off, so ``gc.mem_alloc()`` after - before is every byte allocated to receive,
  unmask, queue and send it back (garbage included: an upper bound of the peak; the client's
  own share is a few hundred bytes of memoryview slices). How large a message fits a given
  heap is bench/mp_max_message.py's job (fragmentation decides it as much as the peak does).

``micropython.mem_peak()`` / ``mem_current()`` are not used: on this port they count every
allocation until an explicit free, and the collector's frees are not subtracted, so after the
first collection they no longer track the live heap.
"""

import asyncio
import gc
import socket
import struct
import sys
import time

gc.collect()
_BASE = gc.mem_alloc()
import wsio  # noqa: E402
from wsio import App, with_websocket  # noqa: E402

gc.collect()
IMPORT_COST = gc.mem_alloc() - _BASE

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x12\x34\x56\x78"


def request(port):
    return (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, KEY)
    ).encode()


def client_frame(payload, opcode=2):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    frame = bytearray(len(head) + 4 + n)
    frame[0 : len(head)] = head
    frame[len(head) : len(head) + 4] = MASK
    body = len(head) + 4
    for i in range(n):
        frame[body + i] = payload[i] ^ MASK[i & 3]
    return frame


def free_port():
    import random

    for _ in range(100):
        port = 20000 + random.getrandbits(16) % 12000
        s = socket.socket()
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            return port
        except OSError:
            pass
        finally:
            s.close()
    raise OSError("no free port")


def make_app():
    app = App(max_size=None, ping_interval=None)

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        while True:
            await ws.send(await ws.receive())

    return app


async def until(predicate, timeout=10):
    deadline = time.ticks_add(time.ticks_ms(), int(timeout * 1000))
    while not predicate():
        if time.ticks_diff(deadline, time.ticks_ms()) < 0:
            raise OSError("timed out")
        await asyncio.sleep_ms(1)


def blocking_client(addr, port):
    s = socket.socket()
    s.connect(addr)
    s.send(request(port))
    return s


async def read_upgrade(s, buf):
    """Read the 101 response (non-blocking) into ``buf``; returns its length."""
    stream = asyncio.StreamReader(s)
    n = 0
    while True:
        got = await stream.readinto(memoryview(buf)[n:])
        if not got:
            raise OSError("closed by the server")
        n += got
        if bytes(buf[:n]).find(b"\r\n\r\n") >= 0:
            return n


def slices(data, size=65536):
    """Memoryview slices of ``data``, made before a measurement so that sending allocates little.

    Large, as a peer writes a frame: the server then reads it in chunks of its read buffer. (In
    4 KiB slices a 4 KiB message arrived in two reads, which real peers rarely cause.)"""
    view = memoryview(data)
    return [view[i : i + size] for i in range(0, len(data), size)]


async def send_all(stream, chunks):
    for chunk in chunks:
        stream.write(chunk)  # writes at once what the socket takes; keeps (copies) only the rest
        await stream.drain()


async def recv_exactly(stream, view, n):
    pos = 0
    while pos < n:
        got = await stream.readinto(view[pos:n])  # waits for the socket: no polling loop
        if not got:
            raise OSError("closed by the server")
        pos += got


async def idle_connections(app, addr, port, count):
    """(after - before) / count for `count` idle WebSockets, server side only."""
    clients = [blocking_client(addr, port) for _ in range(count)]
    for s in clients:
        s.setblocking(False)
    scratch = bytearray(256)
    gc.collect()
    before = gc.mem_alloc()
    await until(lambda: len(app._websockets) == count, 30)
    for s in clients:
        await read_upgrade(s, scratch)
    for _ in range(5):
        await asyncio.sleep_ms(1)
    gc.collect()
    after = gc.mem_alloc()
    return clients, (after - before) / count


async def open_client(addr, port):
    s = socket.socket()
    s.connect(addr)
    s.send(request(port))
    s.setblocking(False)
    await read_upgrade(s, bytearray(256))
    return s, asyncio.StreamReader(s)


async def echo_once(stream, chunks, reply, size):
    await send_all(stream, chunks)
    head = 2 if size < 126 else (4 if size < 65536 else 10)
    await recv_exactly(stream, reply, head + size)


async def allocated_by(step):
    """Bytes allocated while ``await step()`` runs with the collector off (garbage included)."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        await step()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


async def allocated_per_message(addr, port, size):
    frame = client_frame(bytes(i & 255 for i in range(size)))
    chunks = slices(frame)
    reply = memoryview(bytearray(size + 10))
    s, stream = await open_client(addr, port)
    try:
        await echo_once(stream, chunks, reply, size)  # warm up (first send, lazily built state)
        return await allocated_by(lambda: echo_once(stream, chunks, reply, size))
    finally:
        s.close()


async def garbage_per_small_message(addr, port):
    """Bytes allocated per echo of a 64-byte text message, the mean of up to 500 echoes with the
    collector off (as many as a quarter of the free heap holds at 2 KB each): the garbage that
    decides how often a busy board collects. The client writes a prepared frame to its socket
    and reads the reply into a prepared buffer, waiting with ``sleep_ms(0)`` (asyncio's
    singleton): it allocates nothing, so the figure is the server's."""
    frame = client_frame(b"0123456789abcdef" * 4, opcode=1)
    reply = bytearray(66)
    s, _ = await open_client(addr, port)

    async def echoes(rounds):
        for _ in range(rounds):
            s.write(frame)
            got = None
            while got is None:
                await asyncio.sleep_ms(0)
                got = s.readinto(reply)
            if got != 66:
                raise OSError("reply cut short (%r bytes)" % got)

    try:
        await echoes(20)  # warm up (first send, lazily built state)
        gc.collect()
        count = max(20, min(500, gc.mem_free() // 4 // 2048))
        return await allocated_by(lambda: echoes(count)) / count
    finally:
        s.close()


def report(name, value, unit="bytes"):
    print("%-44s %10d %s" % (name, value, unit))


async def main(argv):
    count = 50
    sizes = [1024, 16384, 65536, 262144, 524288]
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--clients":
            count = int(args.pop(0))
        elif arg == "--sizes":
            sizes = [int(x) for x in args.pop(0).split(",")]
        else:
            raise SystemExit("unknown argument " + arg)
    from wsio import _micropython

    gc.collect()
    heap = gc.mem_alloc() + gc.mem_free()
    print("MicroPython %s, heap %d KiB, read buffer %d bytes" % (sys.version.split(";")[-1].strip(), heap // 1024, _micropython._READ_SIZE))
    report("import wsio (incl. read buffer)", IMPORT_COST)
    app = make_app()
    port = free_port()
    addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    gc.collect()
    before = gc.mem_alloc()
    await app.start("127.0.0.1", port, backlog=max(count, 8))
    gc.collect()
    report("App() + listening server", gc.mem_alloc() - before)
    if app._limit is not None and count > app._limit:
        count = app._limit  # past the server's connection limit the clients would get 503
    clients, per_conn = await idle_connections(app, addr, port, count)
    report("per idle connection (N=%d)" % count, int(per_conn))
    for s in clients:
        s.close()
    await until(lambda: not app._websockets, 30)
    clients = None
    try:
        report("allocated per echo of 64 bytes of text (mean)", await garbage_per_small_message(addr, port))
    except OSError:
        print("allocated per echo of 64 bytes of text: closed by the server (heap full, collector off)")
    await until(lambda: not app._websockets, 10)
    for size in sizes:
        try:
            report("allocated per echo of %d bytes" % size, await allocated_per_message(addr, port, size))
        except OSError:
            # With the collector off, the garbage stays too: a size that fits the heap in
            # service (bench/mp_max_message.py) can close with 1009 here.
            print("allocated per echo of %d bytes: closed by the server (heap full, collector off)" % size)
        await until(lambda: not app._websockets, 10)
    gc.collect()
    print("free after the run: %d bytes" % gc.mem_free())
    await app.shutdown(1)


asyncio.run(main(sys.argv[1:]))
