"""wsio.microdot on a real Microdot 2.x app: the drop-in for microdot.websocket (both interpreters).

Microdot is pip-installed on CPython (hatch test env) and put on MICROPYPATH from the mp env's
pip-installed copy by tests/mp_launch.py; nothing of it is vendored.
"""

import asyncio

import support
from wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    client_frame,
    close_code_of,
    close_payload,
    close_writer,
    read_frame,
    read_until_close,
    read_until_eof,
    upgrade,
)
from wsio import ConnectionClosedError, ConnectionClosedOK, InvalidStatus, connect

try:
    from microdot import Microdot, Request
except ImportError:
    Microdot = None

from wsio.microdot import WebSocket, WebSocketError, websocket_upgrade, with_websocket

NO_MICRODOT = "microdot is not installed (pip install microdot==2.7.0)"


class serving:
    """`async with serving(app) as url`: Microdot's own server on 127.0.0.1, shut down after."""

    def __init__(self, app):
        self.app = app
        self.port = support.free_port()
        self.task = None

    async def __aenter__(self):
        self.task = asyncio.create_task(self.app.start_server(host="127.0.0.1", port=self.port))
        await support.wait_until(lambda: self.app.server is not None or self.task.done(), 5)
        return "ws://127.0.0.1:%d" % self.port

    async def __aexit__(self, exc_type, exc, tb):
        self.app.shutdown()
        await asyncio.wait_for(self.task, 5)
        return False


def echo_app():
    app = Microdot()

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        while True:
            await ws.send(await ws.receive())

    return app


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_echo_text_and_binary():
    async with serving(echo_app()) as url:
        async with connect(url + "/echo") as ws:
            for message in ("hello", "héllo wörld ✓ 🚀", b"\x00\x01\xfe\xff", b"", "", "x" * 10000, bytes(range(256)) * 40):
                await ws.send(message)
                reply = await ws.receive()
                assert type(reply) is type(message) and reply == message, (message[:20], reply[:20])
        assert ws.close_code == 1000


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_handler_returning_closes_with_1000():
    app = Microdot()

    @app.route("/once")
    @with_websocket
    async def once(request, ws):
        await ws.send("bye " + await ws.receive())

    async with serving(app) as url:
        ws = await connect(url + "/once").open()
        await ws.send("you")
        assert await ws.receive() == "bye you"
        with support.raises(ConnectionClosedOK) as caught:
            await ws.receive()
        assert caught.value.code == 1000
        assert ws.close_code == 1000


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_handler_raising_closes_with_1011():
    app = Microdot()

    @app.route("/boom")
    @with_websocket
    async def boom(request, ws):
        await ws.receive()
        raise RuntimeError("handler bug (expected by the test)")

    async with serving(app) as url:
        ws = await connect(url + "/boom").open()
        await ws.send("go")
        with support.raises(ConnectionClosedError) as caught:
            await ws.receive()
        assert caught.value.code == 1011
        # The server stays up.
        ws = await connect(url + "/boom").open()
        await ws.send("again")
        with support.raises(ConnectionClosedError):
            await ws.receive()


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_client_leaving_cancels_the_handler():
    app = Microdot()
    events = []
    receiving = asyncio.Event()

    @app.route("/wait")
    @with_websocket
    async def wait(request, ws):
        try:
            receiving.set()
            await ws.receive()
            events.append("received")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async with serving(app) as url:
        # A closing handshake from the client...
        ws = await connect(url + "/wait").open()
        await asyncio.wait_for(receiving.wait(), 5)
        await ws.close()
        assert ws.close_code == 1000
        await support.wait_until(lambda: events, 5)
        assert events == ["cancelled"]
        # ...and a TCP connection dropped without one.
        receiving.clear()
        reader, writer = await upgrade(int(url.rsplit(":", 1)[1]), "/wait")
        await asyncio.wait_for(receiving.wait(), 5)
        await close_writer(writer)
        await support.wait_until(lambda: len(events) == 2, 5)
        assert events == ["cancelled", "cancelled"]


async def over_limit_close_code(port, opcode, size):
    """Announce a `size`-byte message (header only, as the limit is checked on the header)."""
    reader, writer = await upgrade(port, "/echo")
    try:
        writer.write(client_frame(opcode, b"", length=size))
        await writer.drain()
        code, _, _ = await read_until_close(reader)
        return code
    finally:
        await close_writer(writer)


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_max_message_length():
    saved = WebSocket.max_message_length
    try:
        async with serving(echo_app()) as url:
            port = int(url.rsplit(":", 1)[1])
            # -1 (the default) is Microdot's Request.max_body_length; a bigger one is the limit.
            for limit_set, limit in ((-1, Request.max_body_length), (1000, 1000), (100000, 100000)):
                WebSocket.max_message_length = limit_set
                async with connect(url + "/echo") as ws:
                    await ws.send(b"x" * limit)
                    assert len(await ws.receive()) == limit
                    await ws.send("é" * (limit // 2))  # text counts in UTF-8 bytes
                    assert len(await ws.receive()) == limit // 2
                assert await over_limit_close_code(port, OP_BINARY, limit + 1) == 1009
                assert await over_limit_close_code(port, OP_TEXT, limit + 1) == 1009
            # 0: no limit (as Microdot documents it).
            WebSocket.max_message_length = 0
            async with connect(url + "/echo", max_size=None) as ws:
                await ws.send(b"y" * 100000)
                assert len(await ws.receive()) == 100000
    finally:
        WebSocket.max_message_length = saved


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_path_arguments_reach_the_handler():
    app = Microdot()

    @app.route("/rooms/<name>/<int:seat>")
    @with_websocket
    async def room(request, ws, name, seat):
        await ws.send("%s %r %s" % (name, seat, request.path))

    async with serving(app) as url:
        async with connect(url + "/rooms/lobby/42") as ws:
            assert await ws.receive() == "lobby 42 /rooms/lobby/42"


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_bad_upgrade_gets_an_http_error_and_plain_routes_still_work():
    app = echo_app()

    @app.route("/")
    async def index(request):
        return "hello"

    async with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        answer = await read_until_eof(reader)
        await close_writer(writer)
        assert answer.startswith(b"HTTP/1.0 4"), answer  # Microdot answers in HTTP/1.0
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await read_until_eof(reader)
        await close_writer(writer)
        assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"hello"), answer


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_close_handshake_and_protocol_errors_on_the_wire():
    async with serving(echo_app()) as url:
        port = int(url.rsplit(":", 1)[1])
        # The client's close code is echoed (microdot.websocket answers 1005).
        reader, writer = await upgrade(port, "/echo")
        writer.write(client_frame(OP_TEXT, "hi"))
        await writer.drain()
        assert await read_frame(reader) == (OP_TEXT, b"hi")
        writer.write(client_frame(OP_CLOSE, close_payload(4001)))
        await writer.drain()
        opcode, payload = await read_frame(reader)
        assert opcode == OP_CLOSE and close_code_of(payload) == 4001
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # the server closes TCP first
        await close_writer(writer)
        # Invalid UTF-8 closes with 1007.
        reader, writer = await upgrade(port, "/echo")
        writer.write(client_frame(OP_TEXT, b"\xff"))
        await writer.drain()
        opcode, payload = await read_frame(reader)
        assert opcode == OP_CLOSE and close_code_of(payload) == 1007
        await close_writer(writer)


def token_app(events):
    app = Microdot()

    @app.route("/private")
    async def private(request):
        if request.args.get("token") != "s3cret":
            return "no valid token", 401
        ws = await websocket_upgrade(request)
        try:
            message = await ws.receive()
            if message == "raise":
                raise RuntimeError("route bug (expected by the test)")
            await ws.send("welcome " + message)
            if message == "wait":
                await ws.receive()
        except WebSocketError as exc:  # the microdot.websocket idiom; here a ConnectionClosed
            events.append(exc.code)

    return app


@support.skip_if(Microdot is None, NO_MICRODOT)
async def test_websocket_upgrade_inside_a_route():
    events = []
    async with serving(token_app(events)) as url:
        with support.raises(InvalidStatus) as caught:
            await connect(url + "/private").open()
        assert caught.value.status == 401
        # The route returning closes with 1000.
        ws = await connect(url + "/private?token=s3cret").open()
        await ws.send("alice")
        assert await ws.receive() == "welcome alice"
        with support.raises(ConnectionClosedOK) as closed:
            await ws.receive()
        assert closed.value.code == 1000
        # The route raising closes with 1011, instead of Microdot writing a 500 onto the socket.
        ws = await connect(url + "/private?token=s3cret").open()
        await ws.send("raise")
        with support.raises(ConnectionClosedError) as failed:
            await ws.receive()
        assert failed.value.code == 1011
        # The client leaving makes receive() raise ConnectionClosed (a WebSocketError).
        ws = await connect(url + "/private?token=s3cret").open()
        await ws.send("wait")
        assert await ws.receive() == "welcome wait"
        await ws.close(4002)
        await support.wait_until(lambda: events, 5)
        assert events == [4002]
