"""A peer that does not read pushes back on the handler's send(); other clients are unaffected."""

import asyncio

from wsio import connect, with_websocket

import support
from wire import close_writer, echo_app, serving, upgrade

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
