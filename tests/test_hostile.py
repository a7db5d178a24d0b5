"""Hostile peers over real sockets: slow, huge, flooding, deaf, vanishing; hostile handlers.

Every test also proves that the server keeps serving a well-behaved client during or after the
attack (``echo_once``), that the attacked connection is released (``released``), and that our
code logged no error of its own (``Logs``: the platform's log functions are recorded).
Clients are raw sockets with hand-built frames (tests/wire.py), so they can misbehave freely.
"""

# micropython: timeout 90

import asyncio
import gc
import socket
import struct

from wsio import App, ConnectionClosed, with_websocket
from wscore.aio import runtime

import support
from wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    client_frame,
    close_payload,
    close_writer,
    echo_and_close,
    read_frame,
    read_until_close,
    read_until_eof,
    serving,
    upgrade,
    upgrade_request,
)


class Logs:
    """Record what the server logs (``runtime.impl.log`` / ``log_exception``) while active."""

    def __init__(self):
        self.messages = []
        self.errors = []

    def __enter__(self):
        impl = runtime.impl
        self._saved = (impl.log, impl.log_exception)
        impl.log = self.messages.append
        impl.log_exception = lambda message, exc: self.errors.append((message, exc))
        return self

    def __exit__(self, *exc):
        runtime.impl.log, runtime.impl.log_exception = self._saved
        return False


def hostile_app(record, **options):
    """Routes for the attacks; ``record`` collects what handlers went through."""
    options.setdefault("ping_interval", None)
    app = App(**options)
    release = asyncio.Event()
    app.release = release  # lets a test end the stubborn handler

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        async for message in ws:
            await ws.send(message)

    @app.route("/raise")
    @with_websocket
    async def fail(request, ws):
        await ws.receive()
        raise ValueError("handler failed")

    @app.route("/stubborn")
    @with_websocket
    async def stubborn(request, ws):
        # Swallows every cancellation until the test releases it: a handler that never ends.
        await ws.send("ready")
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                record.append("swallowed")
        record.append("released")

    @app.route("/late")
    @with_websocket
    async def late(request, ws):
        async def ticker():
            try:
                while True:
                    await ws.send("tick")
                    await asyncio.sleep(0.01)
            except ConnectionClosed as exc:
                record.append(("ticker", exc.code))

        task = asyncio.create_task(ticker())
        try:
            await ws.receive()
        except asyncio.CancelledError:
            try:
                await ws.send("too late")
            except ConnectionClosed as exc:
                record.append(("late send", exc.code))
            await task
            raise

    @app.route("/flood")
    @with_websocket
    async def flood(request, ws):
        block = bytes(64 * 1024)
        await ws.receive()  # "go": the test first shrinks the socket buffers
        try:
            while True:
                await ws.send(block)
                record.append("sent")
        except asyncio.CancelledError:
            record.append("flood cancelled")
            raise

    @app.route("/bye")
    @with_websocket
    async def bye(request, ws):
        record.append("bye")

    return app


async def echo_once(port, message=b"still serving"):
    """A well-behaved client: upgrade, one echo, a clean close. Proves the server serves."""
    reader, writer = await upgrade(port, "/echo")
    await echo_and_close(reader, writer, message)


async def released(app, handlers=True, timeout=5):
    """Wait until the server holds no connection (and, with ``handlers``, no handler) any more."""

    def idle():
        return not app._connections and not app._websockets and (not handlers or not app._handlers)

    await support.wait_until(idle, timeout=timeout)


def raw_socket(writer):
    return writer.s if support.ON_MICROPYTHON else writer.get_extra_info("socket")


async def reset(writer):
    """Drop the connection with a TCP RST (SO_LINGER with a zero timeout), not a FIN.

    Both interpreters have SO_LINGER (MicroPython's unix port too); the MicroPython stream only
    closes its socket in wait_closed(), which close_writer awaits.
    """
    raw_socket(writer).setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await close_writer(writer)


def shrink_buffers(sock, size=32 * 1024):
    """Small kernel socket buffers, so that a flood stalls after a few MiB instead of ~70 MiB.

    SO_RCVBUF (8) and SO_SNDBUF (7) by number: MicroPython's socket module lacks the names.
    """
    for option in (8, 7):
        sock.setsockopt(socket.SOL_SOCKET, option, size)


async def wait_stalled(get, polls=15, interval=0.05, timeout=30):
    """Wait until ``get()`` has not changed across ``polls`` polls; return its value."""
    state = [get(), 0]

    def unchanged():
        value = get()
        if value == state[0]:
            state[1] += 1
        else:
            state[0] = value
            state[1] = 0
        return state[1] >= polls

    await support.wait_until(unchanged, timeout=timeout, interval=interval)
    return state[0]


def write_buffered(ws):
    """Bytes the server holds for the peer in its stream (not yet taken by the kernel)."""
    writer = ws._writer
    if support.ON_MICROPYTHON:
        return len(writer.out_buf)
    return writer.transport.get_write_buffer_size()


class AllocationProbe:
    """Upper bound of what the process allocates between ``start()`` and ``stop()``.

    MicroPython: collector off, ``gc.mem_alloc()`` after - before counts every allocation.
    CPython: the peak of tracemalloc.
    """

    def start(self):
        if support.ON_MICROPYTHON:
            gc.collect()
            gc.disable()
            self._before = gc.mem_alloc()
        else:
            import tracemalloc

            tracemalloc.start()

    def stop(self):
        if support.ON_MICROPYTHON:
            grown = gc.mem_alloc() - self._before
            gc.enable()
            return grown
        import tracemalloc

        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak


# ---- slow peers --------------------------------------------------------------------------------


async def test_slowloris_heads_are_dropped_at_the_handshake_timeout():
    record = []
    app = hostile_app(record, handshake_timeout=0.5)
    with Logs() as logs:
        async with serving(app) as port:
            request = upgrade_request(port)
            clients = []
            for _ in range(10):
                clients.append(await asyncio.open_connection("127.0.0.1", port))
            stop = []

            async def trickle(writer):
                # One byte every 20 ms: the ~150-byte head would take 3 s; every byte resets
                # any per-read timer, so only a deadline on the whole head stops this.
                for i in range(len(request)):
                    if stop:
                        return
                    try:
                        writer.write(request[i : i + 1])
                        await writer.drain()
                    except OSError:
                        return
                    await asyncio.sleep(0.02)

            start = support.monotonic()
            tasks = [asyncio.create_task(trickle(writer)) for _, writer in clients]
            try:
                await echo_once(port)  # served while ten heads trickle in
                for reader, _ in clients:
                    assert await read_until_eof(reader, timeout=5) == b""  # dropped, no answer
                elapsed = support.monotonic() - start
                assert 0.45 <= elapsed < 2.5, elapsed
                assert not any(task.done() for task in tasks)  # still trickling when dropped
            finally:
                stop.append(True)
                for task in tasks:
                    await task
                for _, writer in clients:
                    await close_writer(writer)
            await released(app)
            await echo_once(port)
    assert logs.errors == [] and record == []


async def test_frame_stalled_mid_payload_is_dropped_at_the_idle_timeout():
    record = []
    app = hostile_app(record, idle_timeout=0.5)
    with Logs() as logs:
        async with serving(app) as port:
            reader, writer = await upgrade(port, "/echo")
            try:
                # 1 MiB announced (max_size exactly), 10 bytes sent, then silence.
                writer.write(client_frame(OP_BINARY, b"0123456789", length=1 << 20))
                await writer.drain()
                start = support.monotonic()
                await echo_once(port)
                await echo_once(port)
                code, reason, before = await read_until_close(reader)
                assert (code, reason, before) == (1001, "idle timeout", [])
                assert await read_until_eof(reader) == b""
                assert 0.45 <= support.monotonic() - start < 3
            finally:
                await close_writer(writer)
            await released(app)
            await echo_once(port)
    assert logs.errors == []


# ---- huge announcements --------------------------------------------------------------------


async def test_huge_frame_length_is_refused_from_its_header_without_allocating():
    record = []
    app = hostile_app(record)  # max_size 1 MiB
    probe = AllocationProbe()
    with Logs() as logs:
        async with serving(app) as port:
            for length, expected in (((1 << 63) - 1, 1009), (1 << 63, 1002), ((1 << 64) - 1, 1002), ((1 << 20) + 1, 1009)):
                reader, writer = await upgrade(port, "/echo")
                try:
                    probe.start()
                    writer.write(client_frame(OP_BINARY, b"", length=length))
                    await writer.drain()
                    code, _, before = await read_until_close(reader)
                    allocated = probe.stop()
                    assert (code, before) == (expected, []), (length, code)
                    assert await read_until_eof(reader) == b""
                    # Nothing near the announced size (or max_size) was allocated. CPython's
                    # transport receives into a 256 KiB buffer of its own; MicroPython reads
                    # into wsio's shared 16 KiB buffer.
                    assert allocated < (64 if support.ON_MICROPYTHON else 512) * 1024, (length, allocated)
                finally:
                    await close_writer(writer)
                await echo_once(port)
            await released(app)
    assert logs.errors == []


# ---- floods ------------------------------------------------------------------------------------


async def test_ping_flood_pauses_reading_then_every_ping_gets_its_pong():
    record = []
    app = hostile_app(record)
    ping = client_frame(OP_PING, b"p" * 125)
    pong = bytes([0x8A, 125]) + b"p" * 125
    block = ping * 256  # 33 KB of pings per write
    with Logs() as logs:
        async with serving(app) as port:
            reader, writer = await upgrade(port, "/echo")
            shrink_buffers(raw_socket(writer))
            await support.wait_until(lambda: app._websockets, timeout=5)
            ws = list(app._websockets)[0]
            shrink_buffers(raw_socket(ws._writer))
            written = [0]
            stop = []

            async def flood():
                # Never reads. Without backpressure the server would read all of this and
                # queue the pongs in memory; with it, the server stops reading once it cannot
                # write, TCP fills up, and this drain() blocks.
                while not stop:
                    writer.write(block)
                    await writer.drain()
                    written[0] += 1
                    if written[0] > 2048:  # 64 MiB: the server never pushed back
                        return

            task = asyncio.create_task(flood())
            try:
                stalled = await wait_stalled(lambda: written[0])
                assert not task.done(), "64 MiB of pings were read without backpressure"
                # Pongs held by the server for this peer stay bounded (one read's worth).
                assert write_buffered(ws) < 512 * 1024, write_buffered(ws)
                # The server stays responsive for others while the flooder is stalled.
                await echo_once(port)
                await echo_once(port)
                assert written[0] == stalled
                # Now read: the server resumes, and every ping sent gets its pong, in order.
                stop.append(True)
                expected = None
                received = 0
                buffer = b""
                while expected is None or received < expected:
                    chunk = await asyncio.wait_for(reader.read(65536), 10)
                    assert chunk, "the server closed the connection during the flood"
                    buffer += chunk
                    whole = len(buffer) - len(buffer) % len(pong)
                    assert buffer[:whole] == pong * (whole // len(pong))
                    received += whole // len(pong)
                    buffer = buffer[whole:]
                    if expected is None and task.done():
                        expected = written[0] * 256
                assert received == expected and buffer == b""
                writer.write(client_frame(OP_CLOSE, close_payload(1000)))
                await writer.drain()
                code, _, before = await read_until_close(reader)
                assert (code, before) == (1000, [])
            finally:
                stop.append(True)
                if not task.done():
                    task.cancel()
                    try:
                        await task
                    except (asyncio.CancelledError, OSError):
                        pass
                await close_writer(writer)
            await released(app)
            await echo_once(port)
    assert logs.errors == []


async def test_clients_that_never_read_block_only_their_own_handlers():
    record = []
    app = hostile_app(record)
    with Logs() as logs:
        async with serving(app) as port:
            flooders = []
            for _ in range(3):
                reader, writer = await upgrade(port, "/flood")
                shrink_buffers(raw_socket(writer))
                flooders.append((reader, writer))
            try:
                await support.wait_until(lambda: len(app._websockets) == 3, timeout=5)
                for ws in app._websockets:
                    shrink_buffers(raw_socket(ws._writer))
                for _, writer in flooders:
                    writer.write(client_frame(OP_TEXT, b"go"))
                    await writer.drain()
                stalled = await wait_stalled(lambda: len(record))
                # send() blocks on drain: each handler is stuck with a bounded backlog (with
                # 32 KiB socket buffers a few blocks each; without backpressure it runs away).
                assert stalled < 3 * 16, "%d x 64 KiB sent to peers that read nothing" % stalled
                for ws in app._websockets:
                    assert write_buffered(ws) < 256 * 1024, write_buffered(ws)
                for i in range(3):
                    await echo_once(port, b"meanwhile %d" % i)
                assert len(record) == stalled
            finally:
                for _, writer in flooders:
                    await reset(writer)
            # The flooders vanishing (RST) cancels their handlers in the middle of send().
            await support.wait_until(lambda: record.count("flood cancelled") == 3, timeout=5)
            await released(app)
            await echo_once(port)
    assert logs.errors == []


# ---- vanishing peers -----------------------------------------------------------------------


async def test_resets_in_every_state_release_the_connection():
    record = []
    app = hostile_app(record, close_timeout=3)
    with Logs() as logs:
        async with serving(app) as port:
            # 1. In the middle of the request head.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(upgrade_request(port)[:40])
            await writer.drain()
            await support.wait_until(lambda: app._connections, timeout=5)
            await reset(writer)
            await released(app)
            await echo_once(port)

            # 2. Right after the handshake, and in the middle of a frame's payload.
            for partial in (b"", client_frame(OP_TEXT, b"x" * 1000)[:300]):
                reader, writer = await upgrade(port, "/echo")
                if partial:
                    writer.write(partial)
                    await writer.drain()
                await support.wait_until(lambda: app._websockets, timeout=5)
                await reset(writer)
                await released(app)
                await echo_once(port)

            # 3. During the closing handshake the server started (its handler returned): the
            #    peer reads the close frame and resets instead of answering. The server does
            #    not wait for close_timeout (3 s) to let the connection go.
            reader, writer = await upgrade(port, "/bye")
            opcode, payload = await read_frame(reader)
            assert opcode == OP_CLOSE
            start = support.monotonic()
            await reset(writer)
            await released(app)
            assert support.monotonic() - start < 2
            await echo_once(port)

            # 4. During the closing handshake the client started: close frame sent, then RST
            #    before the server's answer is read.
            reader, writer = await upgrade(port, "/echo")
            writer.write(client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            await reset(writer)
            await released(app)
            await echo_once(port)
    assert logs.errors == []
    assert record == ["bye"]


# ---- hostile handlers ----------------------------------------------------------------------


async def test_handler_that_raises_gets_1011_and_other_connections_carry_on():
    record = []
    app = hostile_app(record)
    with Logs() as logs:
        async with serving(app) as port:
            # A conversation that is open before, during and after the failure.
            reader, writer = await upgrade(port, "/echo")
            try:
                for i in range(3):
                    failing_reader, failing_writer = await upgrade(port, "/raise")
                    try:
                        failing_writer.write(client_frame(OP_TEXT, b"trigger"))
                        await failing_writer.drain()
                        code, reason, before = await read_until_close(failing_reader)
                        assert (code, reason, before) == (1011, "internal error", [])
                        failing_writer.write(client_frame(OP_CLOSE, close_payload(1011)))
                        await failing_writer.drain()
                        assert await read_until_eof(failing_reader) == b""
                    finally:
                        await close_writer(failing_writer)
                    writer.write(client_frame(OP_BINARY, b"open %d" % i))
                    await writer.drain()
                    assert await read_frame(reader) == (OP_BINARY, b"open %d" % i)
                await echo_once(port)
            finally:
                await close_writer(writer)
            await released(app)
    assert [(m, type(e).__name__) for m, e in logs.errors] == [("error in handler of /raise", "ValueError")] * 3


async def test_handler_that_never_returns_does_not_hold_the_socket():
    record = []
    app = hostile_app(record, close_timeout=0.3)
    with Logs() as logs:
        async with serving(app) as port:
            try:
                for leave in ("close", "reset"):
                    reader, writer = await upgrade(port, "/stubborn")
                    assert await read_frame(reader) == (OP_TEXT, b"ready")
                    if leave == "close":
                        writer.write(client_frame(OP_CLOSE, close_payload(1000)))
                        await writer.drain()
                        code, _, _ = await read_until_close(reader)
                        assert code == 1000
                        assert await read_until_eof(reader) == b""  # the socket is let go
                        await close_writer(writer)
                    else:
                        await reset(writer)
                    # The connection is released although its handler refuses to end ...
                    await released(app, handlers=False)
                    await echo_once(port)
                # ... and the server says so.
                await support.wait_until(lambda: len(logs.messages) == 2, timeout=5)
                for message in logs.messages:
                    assert message.startswith("handler of /stubborn still running"), message
                assert len(app._handlers) == 2  # still running: they swallowed the cancellation
                assert record == ["swallowed", "swallowed"]
            finally:
                app.release.set()
            await released(app)
            await echo_once(port)
    assert record == ["swallowed", "swallowed", "released", "released"]
    assert logs.errors == []


async def test_sending_after_the_peer_closed_raises_connection_closed():
    record = []
    app = hostile_app(record)
    with Logs() as logs:
        async with serving(app) as port:
            reader, writer = await upgrade(port, "/late")
            try:
                assert await read_frame(reader) == (OP_TEXT, b"tick")
                writer.write(client_frame(OP_CLOSE, close_payload(1000)))
                await writer.drain()
                # Ticks may still arrive before the close answer; nothing after it.
                code, _, before = await read_until_close(reader)
                assert code == 1000
                assert all(frame == (OP_TEXT, b"tick") for frame in before)
                assert await read_until_eof(reader) == b""
            finally:
                await close_writer(writer)
            await support.wait_until(lambda: len(record) == 2, timeout=5)
            await released(app)
            await echo_once(port)
    # Both the handler (after its cancellation) and its background task got ConnectionClosed
    # with the final code; the server logged nothing: using a closed connection is no error.
    assert sorted(record) == [("late send", 1000), ("ticker", 1000)]
    assert logs.errors == [] and logs.messages == []
