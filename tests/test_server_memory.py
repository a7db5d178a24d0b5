"""A heap with no room left (a board's, under a flood): the server drops what it cannot hold,
never itself, and lets nothing leak.

MicroPython raises ``MemoryError`` wherever an allocation fails, and on a small heap a flood of
clients makes that happen in the server's own machinery. These tests make it fail there on
purpose, once, and check that the server goes on.
"""

import asyncio

import support
from wire import OP_TEXT, client_frame, close_writer, echo_app, http_get, read_frame, read_until_eof, serving, upgrade

MICROPYTHON_LISTENER = "MicroPython's own listener (CPython's asyncio server outlives a failing connection callback by itself)"


async def _echoes(port, text=b"still serving"):
    reader, writer = await upgrade(port)
    try:
        writer.write(client_frame(OP_TEXT, text))
        return await read_frame(reader) == (OP_TEXT, text)
    finally:
        await close_writer(writer)


@support.skip_if(not support.ON_MICROPYTHON, MICROPYTHON_LISTENER)
async def test_a_connection_the_heap_has_no_room_for_is_closed_and_the_next_one_is_served():
    app = echo_app()
    serve = app._serve_connection
    failed = []

    def out_of_memory_once(reader, writer):
        if not failed:
            failed.append(True)
            raise MemoryError("no room for the connection's task")
        return serve(reader, writer)

    app._serve_connection = out_of_memory_once  # what start() hands to the listener
    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await read_until_eof(reader) == b""  # closed at once, not left hanging
        finally:
            await close_writer(writer)
        assert failed
        assert await _echoes(port)


def _app_failing_once(patch):
    """An echo App whose handler calls ``patch(ws, fail)`` first; ``fail()`` raises MemoryError
    the first time only. Returns the App and the list of the failures that happened."""
    from wsio import App, with_websocket

    app = App(close_timeout=0.5, ping_interval=None)
    failures = []

    def fail():
        if not failures:
            failures.append(True)
            raise MemoryError("no room on the heap (made by the test)")

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        patch(ws, fail)
        async for message in ws:
            await ws.send(message)

    return app, failures


async def _closed_by_the_server(port):
    """A client says hello, closes, and returns the frames it got before TCP closed."""
    reader, writer = await upgrade(port)
    try:
        writer.write(client_frame(OP_TEXT, b"hello"))
        assert await read_frame(reader) == (OP_TEXT, b"hello")
        writer.write(client_frame(0x8, b"\x03\xe8"))
        return await read_until_eof(reader)  # fails (timeout) if the socket is never closed
    finally:
        await close_writer(writer)


def _fail_first(name):
    """A patch for ``_app_failing_once``: the WebSocket's method ``name`` fails once, first."""

    def patch(ws, fail):
        method = getattr(ws, name)

        def fail_then_call(*args):
            fail()
            return method(*args)

        setattr(ws, name, fail_then_call)

    return patch


async def _ends_and_serves_on(patch):
    app, failures = _app_failing_once(patch)
    async with serving(app) as port:
        await _closed_by_the_server(port)
        assert failures
        await support.wait_until(lambda: not app._websockets and not app._handlers)
        assert await _echoes(port)


async def test_no_room_for_the_task_ending_a_connection_it_ends_at_the_next_timer_tick():
    await _ends_and_serves_on(_fail_first("_release"))


async def test_no_room_while_ending_a_connection_it_is_tried_again():
    await _ends_and_serves_on(_fail_first("_finish"))


@support.skip_if(not support.ON_MICROPYTHON, "MicroPython's feed (on CPython the transport closes a connection whose callback raised)")
async def test_no_room_while_reading_a_connection_drops_it_and_nothing_else():
    def patch(ws, fail):
        conn = ws._conn
        received, emit = ws._received, conn._emit

        def receive_or_fail(data, scratch=False):
            if not failures:
                conn._emit = emit_or_fail  # and once more while the connection is dropped
                fail()
            return received(data, scratch)

        def emit_or_fail(event):
            conn._emit = emit
            raise MemoryError("no room for the close event (made by the test)")

        ws._received = receive_or_fail

    app, failures = _app_failing_once(patch)
    async with serving(app) as port:
        reader, writer = await upgrade(port)
        try:
            writer.write(client_frame(OP_TEXT, b"hello"))
            assert await read_until_eof(reader) == b""  # dropped: no echo, TCP closed
        finally:
            await close_writer(writer)
        assert failures
        await support.wait_until(lambda: not app._websockets and not app._handlers)
        assert await _echoes(port)


async def test_no_room_for_a_request_gets_503_and_the_server_goes_on():
    app = echo_app()

    async def out_of_memory(reader, writer):
        raise MemoryError("no room for the request head (made by the test)")

    read_request = app._read_request
    app._read_request = out_of_memory
    async with serving(app) as port:
        status, _, _ = await http_get(port, "/echo")
        assert status == 503
        app._read_request = read_request
        assert await _echoes(port)


async def test_no_room_after_the_upgrade_writes_nothing_more_and_ends_the_handler():
    from wsio import App, with_websocket

    app = App(close_timeout=0.5, ping_interval=None)
    events = []

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        def no_room(*args):
            raise MemoryError("no room to start the WebSocket (made by the test)")

        ws._start = no_room  # after the 101: the server cannot serve the WebSocket
        try:
            await ws.receive()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async with serving(app) as port:
        reader, writer = await upgrade(port)
        try:
            assert await read_until_eof(reader) == b""  # no 503 inside the WebSocket's stream
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events == ["cancelled"] and not app._handlers)


@support.skip_if(not support.ON_MICROPYTHON, "MicroPython's own listener (CPython's comes from asyncio's create_server)")
async def test_a_start_cancelled_while_it_starts_listens_no_more():
    app = echo_app()
    port = support.free_port()
    starting = asyncio.create_task(app.start(host="127.0.0.1", port=port))
    await asyncio.sleep(0)  # start() runs up to its first wait, the listener made
    starting.cancel()
    with support.raises(asyncio.CancelledError):
        await starting
    await asyncio.sleep(0)  # the listener's task sees its cancel
    # (MicroPython's open_connection does not report a refused connect: ask, and get no answer.)
    answer = b""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            answer = await read_until_eof(reader)
        finally:
            await close_writer(writer)
    except OSError:
        pass  # refused
    assert answer == b"", answer
