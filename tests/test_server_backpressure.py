"""A peer that does not read pushes back on the handler's send(); other clients are unaffected."""

import asyncio

from wsio import Broadcaster, ConnectionClosed, connect, with_websocket

import support
from wire import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, STEP, client_frame, close_payload, close_writer, collecting_app, echo_app, read_frame, read_until_close, read_until_eof, serving, upgrade, upgrade_request

MESSAGE = bytes(1 << 20)  # 1 MiB


async def wait_stalled(get, polls=20, interval=0.05, timeout=15):
    """Wait until `get()` has not changed across `polls` polls `interval` apart; return it."""
    state = {"value": get(), "same": 0}

    def unchanged():
        value = get()
        if value == state["value"]:
            state["same"] += 1
        else:
            state["value"] = value
            state["same"] = 0
        return state["same"] >= polls

    await support.wait_until(unchanged, timeout=timeout, interval=interval)
    return state["value"]


def flood_app(sent, events):
    app = echo_app(ping_interval=None)

    @app.route("/flood")
    @with_websocket
    async def flood(request, ws):
        try:
            while True:
                await ws.send(MESSAGE)
                sent[0] += 1
        except asyncio.CancelledError:
            events.append("flood cancelled")
            raise

    return app


async def test_send_blocks_when_the_peer_does_not_read():
    sent = [0]
    events = []
    async with serving(flood_app(sent, events)) as port:
        reader, writer = await upgrade(port, "/flood")
        try:
            await support.wait_until(lambda: sent[0] >= 1, timeout=10)
            stalled_at = await wait_stalled(lambda: sent[0])
            # Socket buffers hold a few MiB at most; without backpressure the count runs away.
            assert stalled_at < 32, "%d MiB sent to a peer that reads nothing" % stalled_at

            # Meanwhile the server serves another client normally.
            async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
                for i in range(5):
                    await ws.send("still here %d" % i)
                    assert await ws.receive() == "still here %d" % i
                await ws.send(b"x" * 100000)
                assert await ws.receive() == b"x" * 100000
            assert sent[0] == stalled_at  # still stuck
        finally:
            await close_writer(writer)
        # The peer leaving unblocks the handler: it is cancelled in the middle of send().
        await support.wait_until(lambda: events, timeout=10)
    assert events == ["flood cancelled"]


async def test_reading_again_resumes_the_sender():
    sent = [0]
    events = []
    async with serving(flood_app(sent, events)) as port:
        reader, writer = await upgrade(port, "/flood")
        try:
            stalled_at = await wait_stalled(lambda: sent[0])
            # Read 8 MiB worth of frames: the handler must make progress again.
            total = 0
            while total < 8 * len(MESSAGE):
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                assert chunk, "the server closed the connection"
                total += len(chunk)
            await support.wait_until(lambda: sent[0] > stalled_at + 4, timeout=10)
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events, timeout=10)


async def test_small_messages_to_a_peer_that_stopped_reading_arrive_whole_and_in_order():
    # Small frames until the socket is full: the write that meets the full buffer takes a part
    # of a frame, and the rest of it must go out before the next one.
    sent = [0]
    app = echo_app(ping_interval=None)

    def message(number):
        return "%06d" % number + "x" * 995  # 1,001 bytes: frames do not divide the buffer

    @app.route("/count")
    @with_websocket
    async def count(request, ws):
        while True:
            await ws.send(message(sent[0]))
            sent[0] += 1

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/count")
        try:
            stalled_at = await wait_stalled(lambda: sent[0])
            for number in range(stalled_at + 10):  # past the stall: the sender went on
                assert await read_frame(reader) == (OP_TEXT, message(number).encode())
        finally:
            await close_writer(writer)


def stuck_sender_app(events, **options):
    """``/stuck``: a helper task floods a peer that does not read; the handler waits for a word."""
    app = echo_app(ping_interval=None, **options)

    @app.route("/stuck")
    @with_websocket
    async def stuck(request, ws):
        async def flood():
            try:
                while True:
                    await ws.send(MESSAGE)
            except ConnectionClosed as exc:
                events.append("sender: %d" % exc.code)

        sender = asyncio.create_task(flood())
        try:
            await ws.receive()  # "close now", or the end of the connection
            events.append("closing")
            await ws.close(1000)
            events.append("closed")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            await sender

    return app


async def test_close_is_bounded_by_close_timeout_when_a_send_is_stuck():
    # The close frame waits behind the stuck send: close() gives up after close_timeout and
    # drops the connection, as for a peer that never answers.
    events = []
    async with serving(stuck_sender_app(events, close_timeout=0.5)) as port:
        reader, writer = await upgrade(port, "/stuck")
        try:
            await reader.readexactly(65536)  # the flood started
            writer.write(client_frame(OP_TEXT, b"close now"))
            await writer.drain()
            await support.wait_until(lambda: "closed" in events, timeout=5)
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: len(events) == 3, timeout=5)
    # close() and the stuck send end together, in either order.
    assert events[0] == "closing" and "closed" in events, events
    assert [e for e in events if e.startswith("sender: ")] == ["sender: 1006"], events


async def test_a_close_frame_behind_a_stuck_send_releases_the_connection():
    # The peer closes and then reads nothing: our close reply waits behind the stuck send. The
    # connection is released within close_timeout all the same, the sender gets ConnectionClosed.
    events = []
    app = stuck_sender_app(events, close_timeout=0.5)
    async with serving(app) as port:
        reader, writer = await upgrade(port, "/stuck")
        try:
            await reader.readexactly(65536)
            writer.write(client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            await support.wait_until(lambda: len(events) == 2 and not app._websockets, timeout=5)
        finally:
            await close_writer(writer)
    assert events[0] == "cancelled" and events[1].startswith("sender: "), events


async def test_client_close_is_bounded_by_close_timeout_when_a_send_is_stuck():
    app = echo_app(ping_interval=None, max_queue=1)
    release = asyncio.Event()

    @app.route("/deaf")
    @with_websocket
    async def deaf(request, ws):
        await release.wait()  # reads nothing: the queue fills, then TCP pushes back

    async with serving(app) as port:
        ws = await connect("ws://127.0.0.1:%d/deaf" % port, close_timeout=0.5).open()

        sent = [0]

        async def flood():
            try:
                while True:
                    await ws.send(MESSAGE)
                    sent[0] += 1
            except ConnectionClosed:
                pass

        sender = asyncio.create_task(flood())
        try:
            await support.wait_until(lambda: sent[0] >= 1, timeout=10)
            await wait_stalled(lambda: sent[0])  # the send is stuck
            await asyncio.wait_for(ws.close(), 5)
            assert ws.closed
            await asyncio.wait_for(sender, 5)
        finally:
            release.set()


async def test_a_member_too_slow_for_a_broadcast_gets_1008_after_the_frame_in_progress():
    # The member's send is stuck in the middle of a frame when it falls behind: the close frame
    # cannot cut that frame, so it follows it, and a peer that reads again gets both.
    app = echo_app(ping_interval=None)
    room = Broadcaster(max_pending=2)
    members = []

    @app.route("/room")
    @with_websocket
    async def member(request, ws):
        room.add(ws)
        members.append(ws)
        async for message in ws:
            pass

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/room")  # reads nothing until it is dropped
        try:
            await support.wait_until(lambda: members, timeout=5)
            ws = members[0]
            for _ in range(64):
                room.broadcast(MESSAGE)
                if ws not in room:
                    break
                # Its sender took the message, or is stuck in the middle of an earlier one.
                await support.wait_until(lambda: not room._members[ws].outbox or ws._writing, timeout=5)
            assert ws not in room, "never dropped"
            code, reason, frames = await read_until_close(reader, timeout=30)
            assert code == 1008 and "too slow" in reason
            assert frames and all(frame == (0x2, MESSAGE) for frame in frames)
        finally:
            await close_writer(writer)


async def test_both_peers_sending_a_large_message_at_once_both_get_through():
    # Each side writes 4 MiB before it reads. Reading must go on while our own send waits for
    # the socket, or each waits for the other forever (CPython's transport feed did).
    app = echo_app(ping_interval=None, max_size=None)
    big = bytes(4 << 20)

    @app.route("/swap")
    @with_websocket
    async def swap(request, ws):
        await ws.send(big)
        assert await ws.receive() == big
        await ws.send("done")

    async with serving(app) as port:
        async with connect("ws://127.0.0.1:%d/swap" % port, ping_interval=None, max_size=None) as ws:
            await asyncio.wait_for(ws.send(big), 10)
            assert await asyncio.wait_for(ws.receive(), 10) == big
            assert await asyncio.wait_for(ws.receive(), 10) == "done"


async def test_a_send_cut_short_by_a_dropped_connection_raises():
    # close() gives up on a peer that reads nothing and drops the connection: the send stuck
    # under it raises ConnectionClosed, it does not return as if the message went out.
    app = echo_app(ping_interval=None, max_queue=1, max_size=None)
    release = asyncio.Event()

    @app.route("/deaf")
    @with_websocket
    async def deaf(request, ws):
        await release.wait()

    async with serving(app) as port:
        ws = await connect("ws://127.0.0.1:%d/deaf" % port, close_timeout=0.5).open()
        await ws.send("fills the queue: the server stops reading")
        outcome = []

        async def send_big():
            try:
                await ws.send(bytes(16 << 20))
                outcome.append("returned")
            except ConnectionClosed as exc:
                outcome.append(exc.code)

        try:
            sending = asyncio.create_task(send_big())
            await support.wait_until(lambda: ws._writing, timeout=10)
            await asyncio.wait_for(ws.close(), 5)
            await asyncio.wait_for(sending, 5)
            assert outcome == [1006]
        finally:
            release.set()


async def test_a_chunk_of_many_small_messages_queues_no_more_than_max_queue():
    # 300 frames in one TCP write arrive in one read: parsed all at once they would be 300
    # messages held for a handler that does not read (max_queue 2 promises two), and 300 pongs
    # for the pings among them. The rest waits unparsed until the handler makes room.
    app = echo_app(ping_interval=None, max_queue=2)
    release = asyncio.Event()
    sockets = []

    @app.route("/later")
    @with_websocket
    async def later(request, ws):
        sockets.append(ws)
        await release.wait()
        count = 0
        async for message in ws:
            assert message == "m%d" % count, (message, count)
            count += 1
            if count == 300:
                await ws.send("got %d" % count)

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/later")
        try:
            burst = []
            for i in range(300):
                burst.append(client_frame(OP_TEXT, "m%d" % i))
                burst.append(client_frame(OP_PING, str(i).encode()))
            writer.write(b"".join(burst))
            await writer.drain()
            await support.wait_until(lambda: sockets and len(sockets[0]._messages) >= 2, timeout=STEP)
            ws = sockets[0]
            assert len(ws._messages) == 2, len(ws._messages)
            assert ws._unparsed is not None  # the rest of the chunk waits, not parsed
            release.set()
            pongs = 0
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == OP_PONG:
                    assert payload == str(pongs).encode(), (payload, pongs)
                    pongs += 1
                else:
                    assert (opcode, payload) == (OP_TEXT, b"got 300"), (opcode, payload)
                    break
            while pongs < 300:
                opcode, payload = await read_frame(reader)
                assert (opcode, payload) == (OP_PONG, str(pongs).encode()), (opcode, payload)
                pongs += 1
        finally:
            await close_writer(writer)


BIG = bytes(range(256)) * (8 << 12)  # 8 MiB: more than the socket buffers take


async def read_frame_into(reader, expected, pace=0):
    """Read one unmasked server frame and check it is a binary ``expected``, without copies;
    ``pace`` seconds between reads make a slow reader (a workload, not a synchronisation)."""
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), STEP)
    assert (b0, b1 & 0x7F) == (0x82, 127), (b0, b1)
    n = int.from_bytes(await reader.readexactly(8), "big")
    assert n == len(expected), n
    got = bytearray(n)
    view = memoryview(got)
    pos = 0
    while pos < n:
        chunk = await asyncio.wait_for(reader.read(min(65536, n - pos)), STEP)
        assert chunk, "the stream ended inside the frame, at %d of %d bytes" % (pos, n)
        view[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
        if pace:
            await asyncio.sleep(pace)
    assert got == expected, "the payload differs from what was sent"


async def test_a_cancelled_send_still_goes_out_whole_and_a_send_behind_it_too():
    # wait_for(ws.send(big), t) gives up on the wait, never on the frame: cut short, it would
    # leave the peer half a frame and the next one inside it (MicroPython writes a large frame
    # in slices). A send queued behind it returns once its own frame is written.
    app = echo_app(ping_interval=None)
    outcome = []

    @app.route("/cancel")
    @with_websocket
    async def cancel(request, ws):
        try:
            await asyncio.wait_for(ws.send(BIG), 0.05)
            outcome.append("sent")
        except asyncio.TimeoutError:
            outcome.append("timed out")
        first = asyncio.create_task(ws.send(BIG))  # behind the first, which is still going out
        await support.wait_until(lambda: ws._conn.has_data_to_send(), timeout=STEP)
        behind = asyncio.create_task(ws.send("after"))
        await support.wait_until(lambda: ws._conn.has_data_to_send(), timeout=STEP)
        first.cancel()
        await behind  # returns once its frame is written, whoever writes it
        outcome.append("after sent")
        await ws.receive()

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/cancel")
        try:
            await support.wait_until(lambda: outcome, timeout=STEP)
            assert outcome == ["timed out"], outcome
            await read_frame_into(reader, BIG)
            await read_frame_into(reader, BIG)
            assert await read_frame(reader) == (OP_TEXT, b"after")
            await support.wait_until(lambda: len(outcome) == 2, timeout=STEP)
        finally:
            await close_writer(writer)


async def test_a_receive_that_times_out_does_not_stall_a_send_in_progress():
    # wait_for(ws.receive(), t) cancels a task waiting on the socket while another waits to write
    # to it; MicroPython's asyncio then forgets both waiters unless the writer is put back.
    app = echo_app(ping_interval=None)
    outcome = []

    @app.route("/both")
    @with_websocket
    async def both(request, ws):
        sending = asyncio.create_task(ws.send(BIG))
        await support.wait_until(lambda: ws._writing, timeout=STEP)
        try:
            await asyncio.wait_for(ws.receive(), 0.05)
        except asyncio.TimeoutError:
            outcome.append("receive timed out")
        await sending
        await ws.send("done")
        await ws.receive()

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/both")
        try:
            await support.wait_until(lambda: outcome, timeout=STEP)
            await read_frame_into(reader, BIG)
            assert await read_frame(reader) == (OP_TEXT, b"done")
        finally:
            await close_writer(writer)
    assert outcome == ["receive timed out"]


async def _written_later():
    pass


async def test_replies_go_out_when_every_write_waits_for_the_socket():
    # A socket that never takes a frame at once (a busy link) makes every write go through the
    # writing task. The feed waits for its replies in a task of its own, which may start after
    # the writing task ended: that wait must not outlive it (the pongs behind it would stall).
    from wscore.aio import runtime

    impl = runtime.impl
    real = impl.write_now

    def write_now_with_a_wait(writer, buffers):
        pending = real(writer, buffers)
        return _written_later() if pending is None else pending

    impl.write_now = write_now_with_a_wait
    try:
        async with serving(echo_app(ping_interval=None)) as port:
            reader, writer = await upgrade(port)
            try:
                for i in range(10):
                    writer.write(client_frame(OP_PING, str(i).encode()))
                    await writer.drain()
                    assert await read_frame(reader) == (OP_PONG, str(i).encode()), i
                writer.write(client_frame(OP_TEXT, b"and a message"))
                await writer.drain()
                assert await read_frame(reader) == (OP_TEXT, b"and a message")
            finally:
                await close_writer(writer)
    finally:
        impl.write_now = real


async def test_a_reset_while_the_handler_streams_ends_it_and_the_server_serves_on():
    # The peer resets while a handler sends in a loop: each send must fail (the handler is
    # cancelled), not return at once from a dead transport and spin the event loop for good.
    app = echo_app(ping_interval=None)
    ended = []

    @app.route("/stream")
    @with_websocket
    async def stream(request, ws):
        try:
            while True:
                await ws.send(bytes(65536))
        finally:
            ended.append(True)

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/stream")
        await reader.readexactly(200000)
        import struct

        sock = writer.s if support.ON_MICROPYTHON else writer.get_extra_info("socket")
        sock.setsockopt(1, 13, struct.pack("ii", 1, 0))  # SOL_SOCKET, SO_LINGER 0: close resets
        await close_writer(writer)
        await support.wait_until(lambda: ended, timeout=STEP)
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            await ws.send("still serving")
            assert await asyncio.wait_for(ws.receive(), STEP) == "still serving"


async def test_a_keepalive_timeout_during_a_long_write_sends_the_frame_whole_then_the_close():
    # The keepalive fires twice while an 8 MiB frame goes out to a slow reader: the second tick
    # must not drop the connection in the middle of the frame (no close frame, a cut payload).
    app = echo_app(ping_interval=0.2, ping_timeout=0.2, close_timeout=10)

    @app.route("/big")
    @with_websocket
    async def big(request, ws):
        await ws.send(BIG)
        await ws.receive()

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/big")
        try:
            await read_frame_into(reader, BIG, pace=0.01)  # 1.3 s at least: several timer ticks
            opcode, payload = await read_frame(reader)
            while opcode == OP_PING:
                opcode, payload = await read_frame(reader)
            assert opcode == OP_CLOSE and payload[:2] == b"\x03\xf3", (opcode, payload)  # 1011
        finally:
            await close_writer(writer)


async def test_messages_and_a_fin_sent_with_the_upgrade_all_reach_a_handler_with_a_small_queue():
    # Upgrade request, 40 messages and a close frame in one write, then FIN: with max_queue=1
    # most of them wait unparsed while the FIN is already known; none may be lost.
    app, got = collecting_app("/collect", ping_interval=None, max_queue=1)

    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            frames = b"".join(client_frame(OP_TEXT, "m%d" % i) for i in range(40))
            writer.write(upgrade_request(port, "/collect") + frames + client_frame(OP_CLOSE, close_payload(1000)))
            await writer.drain()
            if hasattr(writer, "write_eof"):
                writer.write_eof()
            data = await read_until_eof(reader)
            assert data.startswith(b"HTTP/1.1 101"), data[:40]
            assert b"\x88\x02\x03\xe8" in data, data[-20:]  # our close reply: 1000
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: len(got) == 40, timeout=STEP)
    assert got == ["m%d" % i for i in range(40)]
