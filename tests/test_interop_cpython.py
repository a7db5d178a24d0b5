# micropython: skip the websockets and aiohttp packages are CPython-only
"""Interoperability: our server with the websockets and aiohttp clients, our client with a
websockets server."""

import asyncio

import aiohttp
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from wsio import App, ConnectionClosedError, connect, with_websocket

import support
from wire import serving

BIG = bytes(range(256)) * 4096  # 1 MiB


def our_app(events):
    app = App(ping_interval=None)

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        try:
            async for message in ws:
                await ws.send(message)
        except asyncio.CancelledError:
            events.append("echo cancelled")
            raise

    @app.route("/bye")
    @with_websocket
    async def bye(request, ws):
        await ws.send("bye")
        await ws.close(4000, "see you")

    return app


async def test_websockets_client_against_our_server():
    events = []
    async with serving(our_app(events)) as port:
        async with ws_connect("ws://127.0.0.1:%d/echo" % port, max_size=None) as ws:
            await ws.send("h\u00e9llo")
            assert await ws.recv() == "h\u00e9llo"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
            await ws.send(BIG)
            assert await ws.recv() == BIG
            await ws.ping()
        assert ws.close_code == 1000
        await support.wait_until(lambda: events, timeout=5)
        assert events == ["echo cancelled"]

        async with ws_connect("ws://127.0.0.1:%d/bye" % port) as ws:
            assert await ws.recv() == "bye"
            try:
                await ws.recv()
                raise AssertionError("recv() after the server's close returned")
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd.code == 4000
                assert exc.rcvd.reason == "see you"


async def test_aiohttp_client_against_our_server():
    events = []
    async with serving(our_app(events)) as port:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect("ws://127.0.0.1:%d/echo" % port, max_msg_size=0) as ws:
                await ws.send_str("h\u00e9llo")
                assert await ws.receive_str() == "h\u00e9llo"
                await ws.send_bytes(b"\x00\xff")
                assert await ws.receive_bytes() == b"\x00\xff"
                await ws.send_bytes(BIG)
                assert await ws.receive_bytes() == BIG
                await ws.close(code=4001, message=b"done")
                assert ws.close_code == 4001  # our server echoed the code
            await support.wait_until(lambda: events, timeout=5)
            assert events == ["echo cancelled"]

            async with session.ws_connect("ws://127.0.0.1:%d/bye" % port) as ws:
                assert await ws.receive_str() == "bye"
                message = await ws.receive()
                assert message.type == aiohttp.WSMsgType.CLOSE
                assert message.data == 4000
                assert message.extra == "see you"


async def test_our_client_against_a_websockets_server():
    async def handler(connection):
        path = connection.request.path
        if path == "/echo":
            async for message in connection:
                await connection.send(message)
        else:
            await connection.send("closing")
            await connection.close(4002, "server says bye")

    port = support.free_port()
    async with ws_serve(handler, "127.0.0.1", port, max_size=None):
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            await ws.send("h\u00e9llo")
            assert await ws.receive() == "h\u00e9llo"
            await ws.send(b"\x00\xff")
            assert await ws.receive() == b"\x00\xff"
            await ws.send(BIG)
            assert await ws.receive() == BIG
            await asyncio.wait_for(ws.ping(b"p"), 5)
        assert ws.close_code == 1000

        async with connect("ws://127.0.0.1:%d/close" % port) as ws:
            assert await ws.receive() == "closing"
            with support.raises(ConnectionClosedError) as caught:
                await ws.receive()
            assert (caught.value.code, caught.value.reason) == (4002, "server says bye")
            assert ws.close_code == 4002
