"""Sockets are released: after many connections the process has as many open fds as before."""

import asyncio
import gc

from wsio import InvalidStatus, connect, with_websocket

import support
import wire
from wire import close_writer, http_get, serving, upgrade

def has_fd_listing():
    return support.open_fds() is not None


def echo_app(**options):
    app = wire.echo_app(**options)

    @app.route("/fail")
    @with_websocket
    async def fail(request, ws):
        raise RuntimeError("handler bug, on purpose")

    @app.route("/page")
    async def page(request):
        return "page"

    return app


@support.skip_if(not has_fd_listing(), "no /proc/self/fd listing on this system")
async def test_connect_close_cycles_release_their_sockets():
    async with serving(echo_app()) as port:
        # One cycle first, so that lazily opened things (resolver, loop internals) exist.
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            await ws.send("warm-up")
            assert await ws.receive() == "warm-up"
        gc.collect()
        baseline = support.open_fds()
        for i in range(20):
            async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
                await ws.send("cycle %d" % i)
                assert await ws.receive() == "cycle %d" % i
            assert ws.closed
        await support.settle_fds(baseline)


@support.skip_if(not has_fd_listing(), "no /proc/self/fd listing on this system")
async def test_failed_and_dropped_connections_release_their_sockets():
    async with serving(echo_app(close_timeout=0.3, handshake_timeout=0.3)) as port:
        status, _, _ = await http_get(port, "/page")
        assert status == 200
        gc.collect()
        baseline = support.open_fds()
        for i in range(5):
            # Plain HTTP, a 404 seen by our client, a handler error, a TCP drop, a slowloris.
            assert (await http_get(port, "/page"))[0] == 200
            with support.raises(InvalidStatus):
                await connect("ws://127.0.0.1:%d/nowhere" % port).open()
            async with connect("ws://127.0.0.1:%d/fail" % port) as ws:
                await support.wait_until(lambda: ws.closed, timeout=5)
                assert ws.close_code == 1011
            reader, writer = await upgrade(port, "/echo")
            await close_writer(writer)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /page HTTP/1.1\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(100), 5) == b""  # dropped by handshake_timeout
            await close_writer(writer)
        await support.settle_fds(baseline)


@support.skip_if(not has_fd_listing(), "no /proc/self/fd listing on this system")
async def test_shutdown_releases_the_listening_socket():
    gc.collect()
    baseline = support.open_fds()
    for _ in range(3):
        async with serving(echo_app()) as port:
            async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
                await ws.send("x")
                assert await ws.receive() == "x"
    await support.settle_fds(baseline)
