"""How a WebSocket handler's life ends: it returns, it raises, or the peer leaves."""

import asyncio

from wsio import App, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, connect, with_websocket

import support
from wire import (
    OP_CLOSE,
    OP_TEXT,
    answer_close,
    client_frame,
    close_code_of,
    close_payload,
    close_writer,
    read_frame,
    read_until_eof,
    serving,
    upgrade,
)


async def test_handler_return_closes_with_1000_then_tcp():
    app = App()

    @app.route("/bye")
    @with_websocket
    async def bye(request, ws):
        await ws.send("bye")

    async with serving(app) as port:
        async with connect("ws://127.0.0.1:%d/bye" % port) as ws:
            assert await ws.receive() == "bye"
            with support.raises(ConnectionClosedOK) as caught:
                await ws.receive()
            assert caught.value.code == 1000
            await support.wait_until(lambda: ws.closed, timeout=5)
            assert ws.close_code == 1000
            assert ws.close_reason == ""

        # The same on the wire: close 1000, our answer, then the server closes TCP.
        reader, writer = await upgrade(port, "/bye")
        try:
            assert await read_frame(reader) == (OP_TEXT, b"bye")
            await answer_close(reader, writer, 1000)
        finally:
            await close_writer(writer)


async def test_handler_exception_closes_with_1011_and_server_goes_on():
    app = App()

    @app.route("/fail")
    @with_websocket
    async def fail(request, ws):
        if request.args.get("n") == "1":
            raise ValueError("handler bug")
        await ws.send("fine")

    async with serving(app) as port:
        async with connect("ws://127.0.0.1:%d/fail?n=1" % port) as ws:
            with support.raises(ConnectionClosedError) as caught:
                await ws.receive()
            assert caught.value.code == 1011
            await support.wait_until(lambda: ws.closed, timeout=5)
            assert ws.close_code == 1011
        async with connect("ws://127.0.0.1:%d/fail?n=2" % port) as ws:
            assert await ws.receive() == "fine"
            with support.raises(ConnectionClosedOK):
                await ws.receive()
            assert ws.close_code == 1000


def cancel_recording_app(events):
    """Routes whose handlers block in different places and record being cancelled."""
    app = App()

    async def record(name, coro):
        try:
            await coro
        except asyncio.CancelledError:
            events.append(name)
            raise
        events.append(name + " ended without cancellation")

    @app.route("/receive")
    @with_websocket
    async def in_receive(request, ws):
        await ws.send("ready")
        await record("receive", ws.receive())

    @app.route("/event")
    @with_websocket
    async def in_event(request, ws):
        await ws.send("ready")
        await record("event", asyncio.Event().wait())

    @app.route("/iterate")
    @with_websocket
    async def in_async_for(request, ws):
        try:
            async for message in ws:
                await ws.send(message)
        except asyncio.CancelledError:
            events.append("iterate")
            raise
        events.append("iterate ended without cancellation")

    return app


async def test_client_close_cancels_handler_blocked_in_receive_or_elsewhere():
    events = []
    async with serving(cancel_recording_app(events)) as port:
        for name in ("receive", "event"):
            async with connect("ws://127.0.0.1:%d/%s" % (port, name)) as ws:
                assert await ws.receive() == "ready"
                await ws.close()
                assert ws.close_code == 1000  # the server answered our close
            await support.wait_until(lambda: name in events, timeout=5)
    assert events == ["receive", "event"]


async def test_client_close_cancels_handler_in_async_for():
    events = []
    async with serving(cancel_recording_app(events)) as port:
        async with connect("ws://127.0.0.1:%d/iterate" % port) as ws:
            await ws.send("one")
            assert await ws.receive() == "one"
            await ws.close(1000, "done")
            assert ws.close_code == 1000
        await support.wait_until(lambda: events, timeout=5)
    assert events == ["iterate"]


async def test_tcp_drop_without_close_frame_cancels_handler():
    events = []
    async with serving(cancel_recording_app(events)) as port:
        for name in ("receive", "event", "iterate"):
            reader, writer = await upgrade(port, "/" + name)
            if name != "iterate":
                assert await read_frame(reader) == (OP_TEXT, b"ready")
            else:
                writer.write(client_frame(OP_TEXT, b"x"))
                await writer.drain()
                assert await read_frame(reader) == (OP_TEXT, b"x")
            await close_writer(writer)  # FIN, no close frame
            await support.wait_until(lambda: name in events, timeout=5)
    assert events == ["receive", "event", "iterate"]


async def test_close_frame_from_raw_client_is_answered_and_cancels():
    events = []
    async with serving(cancel_recording_app(events)) as port:
        reader, writer = await upgrade(port, "/receive")
        try:
            assert await read_frame(reader) == (OP_TEXT, b"ready")
            writer.write(client_frame(OP_CLOSE, close_payload(4000, "later")))
            await writer.drain()
            opcode, payload = await read_frame(reader)
            assert opcode == OP_CLOSE
            assert close_code_of(payload) == 4000  # echoed, as RFC 6455 5.5.1 suggests
            assert await read_until_eof(reader) == b""  # the server closes TCP first
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events, timeout=5)
    assert events == ["receive"]


async def test_handler_that_closes_itself_is_not_cancelled():
    seen = []
    app = App()

    @app.route("/self-close")
    @with_websocket
    async def self_close(request, ws):
        await ws.close(4001, "my choice")
        # The final code and reason are those of the close frame received (RFC 6455 7.1.5/6):
        # the client echoed the code, with no reason.
        seen.append((ws.close_code, ws.close_reason, ws.closed))
        with support.raises(ConnectionClosed) as caught:
            await ws.send("too late")
        seen.append(caught.value.code)

    async with serving(app) as port:
        async with connect("ws://127.0.0.1:%d/self-close" % port) as ws:
            with support.raises(ConnectionClosedError) as caught:
                await ws.receive()
            assert (caught.value.code, caught.value.reason) == (4001, "my choice")
        await support.wait_until(lambda: len(seen) == 2, timeout=5)
    assert seen == [(4001, "", True), 4001]
