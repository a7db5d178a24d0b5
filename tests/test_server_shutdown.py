"""App.shutdown(): connected clients get 1001, handlers are cancelled, and it returns."""

import asyncio

from wsio import App, connect, with_websocket

import support
from wire import close_writer, http_get, read_until_close, read_until_eof, upgrade


def app_recording(events, **options):
    app = App(**options)

    @app.route("/ws")
    @with_websocket
    async def handler(request, ws):
        try:
            await ws.send("hi")
            async for message in ws:
                await ws.send(message)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    return app


async def test_shutdown_closes_clients_with_1001_and_cancels_handlers():
    events = []
    app = app_recording(events)
    port = support.free_port()
    await app.start(host="127.0.0.1", port=port)
    clients = []
    try:
        for _ in range(2):
            ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
            clients.append(ws)
            assert await ws.receive() == "hi"
        start = support.monotonic()
        await app.shutdown(timeout=2)
        assert support.monotonic() - start < 1.9, "shutdown waited for its whole timeout"
        assert events == ["cancelled", "cancelled"]
        for ws in clients:
            await support.wait_until(lambda: ws.closed, timeout=5)
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutting down"
        # No longer listening.
        with support.raises(OSError):
            await connect("ws://127.0.0.1:%d/ws" % port, open_timeout=5).open()
    finally:
        for ws in clients:
            await ws.close()
        await app.shutdown(timeout=0.5)


async def test_shutdown_with_a_raw_client_that_never_answers_returns_in_time():
    events = []
    app = app_recording(events, close_timeout=0.3)
    port = support.free_port()
    await app.start(host="127.0.0.1", port=port)
    reader, writer = await upgrade(port, "/ws")
    try:
        start = support.monotonic()
        await app.shutdown(timeout=2)
        elapsed = support.monotonic() - start
        assert elapsed < 1.5, "shutdown took %.2f s: the close handshake outlived close_timeout" % elapsed
        assert events == ["cancelled"]
        code, reason, before = await read_until_close(reader)
        assert code == 1001
        assert reader is not None and before[:1] == [(1, b"hi")]
        assert await read_until_eof(reader) == b""  # and the TCP connection is gone
    finally:
        await close_writer(writer)
        await app.shutdown(timeout=0.5)


async def test_serve_returns_after_shutdown():
    app = app_recording([])
    port = support.free_port()
    serving = asyncio.create_task(app.serve(host="127.0.0.1", port=port))
    try:
        ws = None
        for _ in range(200):  # until the server listens
            try:
                ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
                break
            except OSError:
                await asyncio.sleep(0.01)
        assert ws is not None
        assert await ws.receive() == "hi"
        await app.shutdown(timeout=2)
        await asyncio.wait_for(serving, 5)
        await support.wait_until(lambda: ws.closed, timeout=5)
        assert ws.close_code == 1001
    finally:
        serving.cancel()
        await app.shutdown(timeout=0.5)


async def test_shutdown_cancels_plain_routes_and_refuses_requests_that_complete_meanwhile():
    events = []
    app = app_recording(events, close_timeout=0.5)
    release = asyncio.Event()  # never set: the route waits until it is cancelled

    @app.route("/slow")
    async def slow(request):
        try:
            await release.wait()
        except asyncio.CancelledError:
            events.append("plain cancelled")
            raise

    port = support.free_port()
    await app.start(host="127.0.0.1", port=port)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
    late_reader, late_writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        slow_writer.write(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        late_writer.write(b"GET /ws HTTP/1.1\r\nHost: h\r\n")  # half a head: completed below
        await slow_writer.drain()
        await late_writer.drain()
        await support.wait_until(lambda: len(app._handlers) == 1 and len(app._connections) == 2, timeout=5)
        shutting = asyncio.create_task(app.shutdown(timeout=2))
        await support.wait_until(lambda: events, timeout=5)
        assert events == ["plain cancelled"]
        late_writer.write(b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await late_writer.drain()
        answer = await read_until_eof(late_reader)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
        answer = await read_until_eof(slow_reader)  # the cancelled route's request is answered too
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
        await asyncio.wait_for(shutting, 5)
        assert not app._handlers and not app._websockets and not app._connections
    finally:
        await close_writer(slow_writer)
        await close_writer(late_writer)


async def test_shutdown_called_by_a_handler_stops_the_app():
    # A "quit" route: the shutdown cancels its caller, so it runs in a task of its own.
    async def quit(request):
        await request.app.shutdown(timeout=1)
        return "bye"

    async def ws_quit(request, ws):
        await request.app.shutdown(timeout=1)
        await ws.receive()  # cancelled by the shutdown

    async def quit_within(request):
        # wait_for runs it in a task of its own on CPython 3.11 and MicroPython: the shutdown
        # cancels the handler, whose cancel must not stop the shutdown half-way.
        await asyncio.wait_for(request.app.shutdown(timeout=1), 5)
        return "bye"

    for path in ("/quit", "/ws-quit", "/quit-within"):
        app = App()
        app.route("/quit")(quit)
        app.route("/ws-quit")(with_websocket(ws_quit))
        app.route("/quit-within")(quit_within)
        port = support.free_port()
        await app.start(host="127.0.0.1", port=port)
        try:
            if path == "/quit":
                status, _, body = await http_get(port, path)
                assert (status, body) == (200, b"bye")
            elif path == "/quit-within":
                status, _, _ = await http_get(port, path)
                assert status in (200, 503)  # 503 where the shutdown cancelled the route first
            else:
                reader, writer = await upgrade(port, path)
                try:
                    code, _, _ = await read_until_close(reader)
                    assert code == 1001
                finally:
                    await close_writer(writer)
            await support.wait_until(lambda: app._stopped.is_set())  # what serve() waits for
        finally:
            await app.shutdown(timeout=1)


async def test_two_shutdowns_at_once_both_return_when_the_last_client_left():
    app = app_recording([], close_timeout=5)
    port = support.free_port()
    await app.start(host="127.0.0.1", port=port)
    ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
    try:
        assert await ws.receive() == "hi"
        # The client answers the close at once: neither call waits for close_timeout.
        await asyncio.wait_for(asyncio.gather(app.shutdown(timeout=10), app.shutdown(timeout=10)), 3)
    finally:
        await ws.close()
