"""How a WebSocket handler's life ends: it returns, it raises, or the peer leaves."""

import asyncio
import sys

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
    echo_app,
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


async def test_a_close_refused_for_its_code_leaves_the_handler_cancellable():
    # close(1005) raises ValueError and the connection stays open: the client leaving later
    # must still cancel the handler, as for any handler.
    app = App(ping_interval=None)
    events = []
    ready = asyncio.Event()

    @app.route("/bad-close")
    @with_websocket
    async def bad_close(request, ws):
        try:
            await ws.close(1005)
        except ValueError:
            events.append("refused")
        ready.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async with serving(app) as port:
        async with connect("ws://127.0.0.1:%d/bad-close" % port) as ws:
            await asyncio.wait_for(ready.wait(), 5)
            assert not ws.closed  # the refused close sent nothing
        await support.wait_until(lambda: "cancelled" in events, timeout=5)
    assert events == ["refused", "cancelled"]


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


def sink_app(events, gate, **options):
    """A handler that takes every message, waiting for ``gate`` after each one."""
    app = App(**options)

    @app.route("/sink")
    @with_websocket
    async def sink(request, ws):
        try:
            async for message in ws:
                events.append(message)
                await gate.wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("ended")

    return app


async def test_messages_before_a_close_frame_reach_the_handler_first():
    # The peer's messages and its close frame in one segment: the handler still gets them all
    # ("loses nothing"), and is cancelled (or sees the end) only after the last one.
    events = []
    gate = asyncio.Event()
    gate.set()
    async with serving(sink_app(events, gate)) as port:
        reader, writer = await upgrade(port, "/sink")
        try:
            frames = [client_frame(OP_TEXT, b"first"), client_frame(OP_TEXT, b"last"), client_frame(OP_CLOSE, close_payload(1000))]
            writer.write(b"".join(frames))
            await writer.drain()
            opcode, payload = await read_frame(reader)
            assert (opcode, close_code_of(payload)) == (OP_CLOSE, 1000)
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events[-1:] in (["cancelled"], ["ended"]), timeout=5)
    assert events[:2] == ["first", "last"] and len(events) == 3, events


async def test_a_busy_handler_takes_the_queued_messages_before_it_is_cancelled():
    events = []
    gate = asyncio.Event()
    async with serving(sink_app(events, gate)) as port:
        reader, writer = await upgrade(port, "/sink")
        try:
            for i in range(5):
                writer.write(client_frame(OP_TEXT, b"m%d" % i))
            writer.write(client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            assert (await read_frame(reader))[0] == OP_CLOSE  # the close is answered at once
            assert events == ["m0"]  # the handler is busy with the first message
            gate.set()
            await support.wait_until(lambda: events[-1:] in (["cancelled"], ["ended"]), timeout=5)
        finally:
            await close_writer(writer)
    assert events[:5] == ["m0", "m1", "m2", "m3", "m4"] and len(events) == 6, events


async def test_a_handler_that_does_not_read_is_cancelled_after_close_timeout():
    events = []
    gate = asyncio.Event()  # never set: the handler never comes back for the second message
    async with serving(sink_app(events, gate, close_timeout=0.5)) as port:
        reader, writer = await upgrade(port, "/sink")
        try:
            writer.write(client_frame(OP_TEXT, b"m0") + client_frame(OP_TEXT, b"m1") + client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            assert (await read_frame(reader))[0] == OP_CLOSE
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: "cancelled" in events, timeout=5)
    assert events == ["m0", "cancelled"]


async def test_send_during_the_closing_handshake_raises_with_the_final_code():
    # Other tasks send and ping while the handler waits for the answer to its close frame:
    # they get ConnectionClosedOK with the code the handshake ends with, not 1006 at once.
    seen = []
    app = App()

    @app.route("/closing")
    @with_websocket
    async def closing(request, ws):
        async def late(call):
            try:
                await call
            except ConnectionClosed as exc:
                seen.append((type(exc).__name__, exc.code))

        helpers = [asyncio.create_task(late(ws.send("late"))), asyncio.create_task(late(ws.ping()))]
        await ws.close(1000, "bye")  # the helpers run while it waits for the answer
        await asyncio.gather(*helpers)

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/closing")
        try:
            opcode, payload = await read_frame(reader)
            assert (opcode, close_code_of(payload)) == (OP_CLOSE, 1000)
            assert seen == []  # not answered yet: both wait for the end of the handshake
            writer.write(client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            assert await read_until_eof(reader) == b""
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: len(seen) == 2, timeout=5)
    assert seen == [("ConnectionClosedOK", 1000)] * 2


async def test_a_close_the_application_asks_for_cancels_nothing():
    # close() inside wait_for runs in another task, and so does a helper's: neither is the
    # client leaving, so the handler is not cancelled; it sees ConnectionClosed instead.
    seen = []
    app = App()

    @app.route("/wrapped")
    @with_websocket
    async def wrapped(request, ws):
        await asyncio.wait_for(ws.close(4001, "wrapped"), 5)
        await asyncio.sleep(0)  # a yield: a pending cancel would be delivered here
        seen.append(("wrapped", ws.close_code))

    @app.route("/helper")
    @with_websocket
    async def helper(request, ws):
        closing = asyncio.create_task(ws.close(4002, "helper"))
        try:
            await ws.receive()
        except ConnectionClosed as exc:
            seen.append(("helper", exc.code))
        await closing

    async with serving(app) as port:
        for path, code in (("/wrapped", 4001), ("/helper", 4002)):
            async with connect("ws://127.0.0.1:%d%s" % (port, path)) as ws:
                with support.raises(ConnectionClosedError) as caught:
                    await ws.receive()
                assert caught.value.code == code
            await support.wait_until(lambda: len(seen) == code - 4000, timeout=5)
    assert seen == [("wrapped", 4001), ("helper", 4002)]


@support.skip_if(support.ON_MICROPYTHON or sys.version_info < (3, 12), "asyncio.eager_task_factory: CPython 3.12 and later")
async def test_connections_end_under_an_eager_task_factory():
    # An eager task runs its first step inside create_task(), before the caller stores it.
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    try:
        app = echo_app(close_timeout=0.5, ping_interval=None)
        async with serving(app) as port:
            async with connect("ws://127.0.0.1:%d/echo" % port, close_timeout=0.5) as ws:
                await ws.send("eager")
                assert await ws.receive() == "eager"
            assert ws.close_code == 1000
            await support.wait_until(lambda: not app._websockets and not app._connections)
    finally:
        loop.set_task_factory(None)
