"""The WebSocket object on both ends: state, subprotocol, errors after close, ping, concurrent sends."""

import asyncio

from wsio import App, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, connect, with_websocket

import support
from wire import OP_PING, OP_PONG, accept_handshake, echo_app, fake_server, frame, read_frame, serving


def app_with(handler, **options):
    app = App(**options)
    app.route("/ws")(with_websocket(handler))
    return app


async def echo(request, ws):
    async for message in ws:
        await ws.send(message)


async def test_state_before_and_after_close():
    async with serving(app_with(echo)) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
        assert ws.closed is False
        assert ws.close_code is None
        assert ws.close_reason is None
        await ws.send("x")
        assert await ws.receive() == "x"
        await ws.close(4000, "bye now")
        assert ws.closed is True
        assert ws.close_code == 4000  # the code of the close frame received: the server echoed ours
        assert ws.close_reason == ""
        await ws.close()  # closing again does nothing
        assert ws.close_code == 4000


async def test_subprotocol_negotiation():
    seen = []

    async def handler(request, ws):
        seen.append(ws.subprotocol)
        await ws.send(str(ws.subprotocol))

    async with serving(app_with(handler, subprotocols=["chat"])) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port, subprotocols=["x", "chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert await ws.receive() == "chat"
        async with connect("ws://127.0.0.1:%d/ws" % port, subprotocols=["x"]) as ws:
            assert ws.subprotocol is None
            assert await ws.receive() == "None"
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            assert ws.subprotocol is None
            assert await ws.receive() == "None"
    assert seen == ["chat", None, None]


async def test_server_websocket_has_its_request():
    seen = []

    async def handler(request, ws):
        seen.append((ws.request is request, ws.request.path, ws.request.headers.get("X-Token")))
        await ws.send("ok")

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port, headers={"X-Token": "t1"}) as ws:
            assert await ws.receive() == "ok"
            assert ws.request is None  # a client connection has no request
    assert seen == [(True, "/ws", "t1")]


async def test_client_async_for_ends_on_normal_close():
    async def handler(request, ws):
        for i in range(3):
            await ws.send("m%d" % i)
        await ws.close(1000, "finished")

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            got = []
            async for message in ws:
                got.append(message)
            assert got == ["m0", "m1", "m2"]
            assert ws.close_code == 1000
            assert ws.close_reason == "finished"


async def test_client_async_for_raises_on_error_close():
    async def handler(request, ws):
        await ws.send("m0")
        await ws.close(4003, "not allowed")

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            got = []
            with support.raises(ConnectionClosedError) as caught:
                async for message in ws:
                    got.append(message)
            assert got == ["m0"]
            assert (caught.value.code, caught.value.reason) == (4003, "not allowed")


async def test_receive_and_send_after_close_raise_with_code_and_reason():
    async def handler(request, ws):
        await ws.close(4002, "go away")

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            await support.wait_until(lambda: ws.closed, timeout=5)
            for attempt in ("receive", "send", "receive again"):
                with support.raises(ConnectionClosed) as caught:
                    if attempt == "send":
                        await ws.send("late")
                    else:
                        await ws.receive()
                assert isinstance(caught.value, ConnectionClosedError), attempt
                assert caught.value.code == 4002, attempt
                assert caught.value.reason == "go away", attempt


async def test_receive_and_send_after_own_close_raise_closed_ok():
    async def handler(request, ws):
        await ws.receive()

    async with serving(app_with(handler)) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
        await ws.close(1000, "done")
        for attempt in ("send", "receive"):
            with support.raises(ConnectionClosedOK) as caught:
                if attempt == "send":
                    await ws.send("x")
                else:
                    await ws.receive()
            assert caught.value.code == 1000, attempt


async def test_messages_received_before_close_are_still_delivered():
    async def handler(request, ws):
        await ws.send("a")
        await ws.send(b"b")
        # returning closes with 1000

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            await support.wait_until(lambda: ws.closed, timeout=5)
            assert await ws.receive() == "a"
            assert await ws.receive() == b"b"
            with support.raises(ConnectionClosedOK) as caught:
                await ws.receive()
            assert caught.value.code == 1000


async def test_ping_returns_after_the_pong():
    pinged = asyncio.Event()
    release = asyncio.Event()

    async def peer(reader, writer):
        await accept_handshake(reader, writer)
        opcode, payload = await read_frame(reader, from_client=True)
        assert opcode == OP_PING
        pinged.set()
        await release.wait()
        writer.write(frame(OP_PONG, b"other"))  # a pong for another ping settles nothing
        writer.write(frame(OP_PONG, payload))
        await writer.drain()
        await reader.read(100)  # until the client goes

    async with fake_server(peer) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port, close_timeout=0.3).open()
        try:
            ping = asyncio.create_task(ws.ping(b"x"))
            await asyncio.wait_for(pinged.wait(), 5)
            for _ in range(20):  # the ping is sent; without a pong it must not return
                await asyncio.sleep(0)
            assert not ping.done()
            release.set()
            await asyncio.wait_for(ping, 5)
        finally:
            await ws.close()


async def test_ping_over_our_own_server_and_client():
    results = []

    async def handler(request, ws):
        await ws.ping(b"from server")
        results.append("server ping answered")
        await ws.send("pinged")
        await ws.receive()

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            assert await ws.receive() == "pinged"
            await asyncio.wait_for(ws.ping("from client"), 5)
            await asyncio.wait_for(ws.ping(), 5)
    assert results == ["server ping answered"]


async def test_ping_raises_when_the_connection_ends_first():
    async def peer(reader, writer):
        await accept_handshake(reader, writer)
        await read_frame(reader, from_client=True)  # the ping; never answered
        # leaving closes the TCP connection without a close frame

    async with fake_server(peer) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port, close_timeout=0.3).open()
        try:
            with support.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(ws.ping(b"p"), 5)
            assert caught.value.code == 1006
        finally:
            await ws.close()


async def test_a_pong_answers_every_ping_sent_before_its_own():
    # RFC 6455 5.5.3: a peer may answer only the latest of several pings.
    async def peer(reader, writer):
        await accept_handshake(reader, writer)
        for _ in range(2):
            opcode, payload = await read_frame(reader, from_client=True)
            assert opcode == OP_PING
        writer.write(frame(OP_PONG, payload))  # the second one's payload only
        await writer.drain()
        await read_frame(reader, from_client=True)  # until the client closes

    async with fake_server(peer) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port, close_timeout=0.3).open()
        try:
            await asyncio.wait_for(asyncio.gather(ws.ping(b"first"), ws.ping(b"second")), 5)
        finally:
            await ws.close()


def numbered(task, seq):
    # Each message is long enough to take several writes, and says who sent it and when.
    return "%d:%d:" % (task, seq) + "abcdefgh" * (500 + seq)


def check_sequences(messages, tasks, count):
    last = {}
    for message in messages:
        task, seq, body = message.split(":", 2)
        task, seq = int(task), int(seq)
        assert body == "abcdefgh" * (500 + seq), "message %d:%d arrived damaged" % (task, seq)
        assert seq == last.get(task, -1) + 1, "task %d: %d after %d" % (task, seq, last.get(task, -1))
        last[task] = seq
    assert last == dict((t, count - 1) for t in range(tasks))


async def test_concurrent_sends_from_server_tasks_arrive_whole_and_in_order():
    tasks, count = 3, 50

    async def handler(request, ws):
        async def sender(t):
            for i in range(count):
                await ws.send(numbered(t, i))

        await asyncio.gather(*[sender(t) for t in range(tasks)])
        await ws.receive()

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            messages = []
            for _ in range(tasks * count):
                messages.append(await ws.receive())
    check_sequences(messages, tasks, count)


async def test_concurrent_sends_from_client_tasks_arrive_whole_and_in_order():
    tasks, count = 3, 50
    received = []

    async def handler(request, ws):
        async for message in ws:
            received.append(message)

    async with serving(app_with(handler)) as port:
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:

            async def sender(t):
                for i in range(count):
                    await ws.send(numbered(t, i))

            await asyncio.gather(*[sender(t) for t in range(tasks)])
            await support.wait_until(lambda: len(received) == tasks * count, timeout=10)
    check_sequences(received, tasks, count)


async def test_a_receive_cancelled_while_waiting_leaves_the_connection_readable():
    # On MicroPython the waiting task reads the socket in the feed's place: cancelled, it must
    # hand the socket back, or nothing would read it again.
    async with serving(app_with(echo)) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
        try:
            waiting = asyncio.create_task(ws.receive())
            await support.wait_until(lambda: ws._receiving)
            waiting.cancel()
            with support.raises(asyncio.CancelledError):
                await waiting
            await ws.send("still there")
            assert await asyncio.wait_for(ws.receive(), 5) == "still there"
            # And again, through the socket handed back, with a concurrent receiver waiting.
            first = asyncio.create_task(ws.receive())
            second = asyncio.create_task(ws.receive())
            await support.wait_until(lambda: ws._receiving)
            await ws.send("one")
            await ws.send("two")
            assert sorted([await asyncio.wait_for(first, 5), await asyncio.wait_for(second, 5)]) == ["one", "two"]
        finally:
            await ws.close()


async def test_a_receiver_waiting_behind_another_is_still_woken_once_a_third_reads():
    # On MicroPython the first waiting task reads the socket and a second waits for the
    # WebSocket's wakeup event. The first cancelled, a third takes the socket: the event the
    # second waits on must stay in use, or the second would never see its message.
    async with serving(app_with(echo)) as port:
        ws = await connect("ws://127.0.0.1:%d/ws" % port).open()
        try:
            reading = asyncio.create_task(ws.receive())
            waiting = asyncio.create_task(ws.receive())
            await asyncio.sleep(0)  # one scheduler round: both run to their wait
            reading.cancel()
            with support.raises(asyncio.CancelledError):
                await reading
            third = asyncio.create_task(ws.receive())
            await asyncio.sleep(0)
            await ws.send("one")
            await ws.send("two")
            assert sorted([await asyncio.wait_for(waiting, 5), await asyncio.wait_for(third, 5)]) == ["one", "two"]
        finally:
            await ws.close()


@support.skip_if(support.ON_MICROPYTHON, "both ends are MicroPython here, whose socket has no shutdown(): the server closes with the rest of the refused message unread, the RST that sends destroys the 1009 before the client (which reads only when its task runs) reads it")
async def test_the_sender_of_a_message_over_max_size_gets_1009():
    # The server refuses from the frame header, closes with 1009 and drops TCP while the client
    # may still be writing the payload: the write fails, yet the 1009 that came first is what
    # the client reports, not 1006.
    async with serving(echo_app(max_size=16384)) as port:
        for size in (20000, 200000):
            async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
                with support.raises(ConnectionClosedError) as caught:
                    await ws.send(bytes(size))
                    await ws.receive()
                assert caught.value.code == 1009, (size, caught.value.code)


async def test_a_close_whose_wait_is_cancelled_still_ends_within_close_timeout():
    # wait_for(ws.close(), t) with t under close_timeout, against a peer that never answers the
    # close frame: the caller stops waiting, the connection must still end (1006) at
    # close_timeout instead of staying half-closed for good.
    async def deaf(reader, writer):
        await accept_handshake(reader, writer)
        while await reader.read(65536):
            pass

    async with fake_server(deaf) as port:
        ws = await connect("ws://127.0.0.1:%d/" % port, close_timeout=0.5, ping_interval=None).open()
        with support.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.close(), 0.05)
        await support.wait_until(lambda: ws.closed, timeout=3)
        assert ws.close_code == 1006


async def test_leaving_async_with_on_an_error_closes_with_1011():
    # As a server's handler that raises: the peer learns that this end failed.
    app = App(ping_interval=None)
    seen = []

    @app.route("/watch")
    @with_websocket
    async def watch(request, ws):
        try:
            await ws.receive()
        except asyncio.CancelledError:  # the client left
            seen.append(ws.close_code)
            raise

    async with serving(app) as port:
        for error, code in ((ValueError("boom"), 1011), (None, 1000)):
            try:
                async with connect("ws://127.0.0.1:%d/watch" % port) as ws:
                    if error is not None:
                        raise error
            except ValueError as exc:
                assert exc is error  # unchanged
            assert ws.close_code == code, (code, ws.close_code)
            await support.wait_until(lambda: len(seen) == (1 if code == 1011 else 2), timeout=5)
    assert seen == [1011, 1000]
