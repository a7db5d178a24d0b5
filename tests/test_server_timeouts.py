"""Timeouts with small values: handshake, idle, keepalive, close; the client's open_timeout."""

import asyncio

from wsio import App, ConnectionClosedError, connect, with_websocket

import support
from wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    accept_handshake,
    client_frame,
    close_code_of,
    close_writer,
    fake_server,
    read_frame,
    read_until_close,
    read_until_eof,
    serving,
    upgrade,
)


def waiting_app(events, **options):
    app = App(**options)

    @app.route("/")
    async def index(request):
        return "index"

    @app.route("/wait")
    @with_websocket
    async def wait(request, ws):
        try:
            async for message in ws:
                await ws.send(message)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    @app.route("/quit")
    @with_websocket
    async def quit(request, ws):
        events.append("returned")

    return app


async def test_handshake_timeout_drops_a_partial_request():
    async with serving(waiting_app([], handshake_timeout=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            start = support.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never finished
            await writer.drain()
            assert await read_until_eof(reader) == b""  # dropped without an answer
            elapsed = support.monotonic() - start
            assert 0.25 <= elapsed < 3, elapsed
        finally:
            await close_writer(writer)
        # A silent connection is dropped too, and a prompt client is still served.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await read_until_eof(reader) == b""
        finally:
            await close_writer(writer)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            assert (await read_until_eof(reader)).endswith(b"\r\n\r\nindex")
        finally:
            await close_writer(writer)


async def test_idle_timeout_closes_a_silent_client():
    events = []
    async with serving(waiting_app(events, idle_timeout=0.3, ping_interval=None)) as port:
        reader, writer = await upgrade(port, "/wait")
        try:
            start = support.monotonic()
            code, reason, before = await read_until_close(reader)
            elapsed = support.monotonic() - start
            assert (code, before) == (1001, [])
            assert "idle" in reason
            assert 0.25 <= elapsed < 3, elapsed
            assert await read_until_eof(reader) == b""
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events, timeout=5)
    assert events == ["cancelled"]


async def test_idle_timeout_closes_a_client_stalled_mid_frame():
    events = []
    async with serving(waiting_app(events, idle_timeout=0.3, ping_interval=None)) as port:
        reader, writer = await upgrade(port, "/wait")
        try:
            # A whole frame first: it is echoed, so the connection works.
            writer.write(client_frame(OP_BINARY, b"whole"))
            await writer.drain()
            assert await read_frame(reader) == (OP_BINARY, b"whole")
            # Then a header announcing 100 bytes, and only 10 of them.
            writer.write(client_frame(OP_BINARY, b"0123456789", length=100))
            await writer.drain()
            start = support.monotonic()
            data = await read_until_eof(reader)
            elapsed = support.monotonic() - start
            assert 0.25 <= elapsed < 3, elapsed
            if data:  # a close frame may precede the end of the stream
                assert data[0] == 0x80 | OP_CLOSE
                assert close_code_of(data[2:4]) == 1001
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events, timeout=5)
    assert events == ["cancelled"]


async def test_idle_timeout_spares_an_active_client():
    async with serving(waiting_app([], idle_timeout=0.3, ping_interval=None)) as port:
        async with connect("ws://127.0.0.1:%d/wait" % port, ping_interval=None) as ws:
            start = support.monotonic()
            # Keep talking for three idle periods: the connection stays open.
            while support.monotonic() - start < 0.9:
                await ws.send("tick")
                assert await ws.receive() == "tick"
                await asyncio.sleep(0.1)  # pacing the client, not synchronisation
            assert not ws.closed


async def test_keepalive_ping_is_sent_and_answered_pings_keep_the_connection():
    async with serving(waiting_app([], ping_interval=0.2, ping_timeout=0.2)) as port:
        reader, writer = await upgrade(port, "/wait")
        try:
            for _ in range(3):
                opcode, payload = await read_frame(reader, timeout=3)
                assert opcode == OP_PING
                writer.write(client_frame(OP_PONG, payload))
                await writer.drain()
            # Still open: an echo works.
            writer.write(client_frame(OP_BINARY, b"alive"))
            await writer.drain()
            while True:
                opcode, payload = await read_frame(reader, timeout=3)
                if opcode == OP_PING:
                    writer.write(client_frame(OP_PONG, payload))
                    await writer.drain()
                    continue
                assert (opcode, payload) == (OP_BINARY, b"alive")
                break
        finally:
            await close_writer(writer)


async def test_keepalive_closes_a_peer_that_never_answers_with_1011():
    events = []
    async with serving(waiting_app(events, ping_interval=0.2, ping_timeout=0.2)) as port:
        reader, writer = await upgrade(port, "/wait")
        try:
            start = support.monotonic()
            code, reason, before = await read_until_close(reader)
            assert [opcode for opcode, _ in before] == [OP_PING]
            assert code == 1011
            assert "ping" in reason
            assert 0.35 <= support.monotonic() - start < 3
            assert await read_until_eof(reader) == b""
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: events, timeout=5)
    assert events == ["cancelled"]


async def test_keepalive_without_ping_timeout_pings_a_deaf_peer_every_interval():
    # No timeout: the peer is never dropped, and the pings go on (they keep NATs open).
    async with serving(waiting_app([], ping_interval=0.1, ping_timeout=None)) as port:
        reader, writer = await upgrade(port, "/wait")
        try:
            for _ in range(3):
                opcode, payload = await read_frame(reader, timeout=3)
                assert opcode == OP_PING
        finally:
            await close_writer(writer)


async def test_close_timeout_drops_a_peer_that_does_not_answer_the_close():
    events = []
    async with serving(waiting_app(events, close_timeout=0.3, ping_interval=None)) as port:
        reader, writer = await upgrade(port, "/quit")
        try:
            opcode, payload = await read_frame(reader)
            assert (opcode, close_code_of(payload)) == (OP_CLOSE, 1000)
            start = support.monotonic()
            assert await read_until_eof(reader) == b""  # we never answer; the server hangs up
            elapsed = support.monotonic() - start
            assert 0.2 <= elapsed < 2, elapsed
        finally:
            await close_writer(writer)
    assert events == ["returned"]


async def test_client_open_timeout_against_a_server_that_never_answers():
    requests = []

    async def mute(reader, writer):
        requests.append(await reader.read(4096))
        await asyncio.Event().wait()

    async with fake_server(mute) as port:
        start = support.monotonic()
        with support.raises(asyncio.TimeoutError):
            await connect("ws://127.0.0.1:%d/" % port, open_timeout=0.3).open()
        elapsed = support.monotonic() - start
        assert 0.25 <= elapsed < 3, elapsed
    assert requests and requests[0].startswith(b"GET / HTTP/1.1\r\n")


async def deaf(reader, writer):
    """A server that accepts the upgrade, then reads nothing and answers nothing."""
    await accept_handshake(reader, writer)
    await asyncio.Event().wait()


def keepalive_client(port):
    return connect("ws://127.0.0.1:%d/" % port, ping_interval=0.2, ping_timeout=0.2, close_timeout=0.3).open()


async def test_client_keepalive_closes_a_server_that_never_answers_pings():
    async with fake_server(deaf) as port:
        ws = await keepalive_client(port)
        try:
            await support.wait_until(lambda: ws.closed, timeout=5)
            # It sent 1011; no close frame came back: 1006 (RFC 6455 7.1.5), with the reason.
            assert (ws.close_code, ws.close_reason) == (1006, "keepalive ping timeout")
        finally:
            await ws.close()


async def test_a_client_waiting_in_receive_sees_the_keepalive_drop_the_connection():
    # On MicroPython the waiting task reads in the feed's place: the drop must wake it.
    async with fake_server(deaf) as port:
        ws = await keepalive_client(port)
        try:
            with support.raises(ConnectionClosedError) as caught:
                await asyncio.wait_for(ws.receive(), 5)
            assert caught.value.code == 1006
        finally:
            await ws.close()
