"""What connect() raises when it cannot open a WebSocket connection."""

from wsio import (
    App,
    ConnectionClosed,
    HandshakeError,
    InvalidAccept,
    InvalidStatus,
    InvalidSubprotocol,
    InvalidUpgrade,
    connect,
    with_websocket,
)

import support
from wire import accept_for, accept_handshake, fake_server, read_request_head, serving


async def test_connection_refused_is_oserror():
    port = support.free_port()  # nothing listens there
    with support.raises(OSError) as caught:
        await connect("ws://127.0.0.1:%d/" % port, open_timeout=5).open()
    assert not isinstance(caught.value, HandshakeError)


async def test_non_101_status_is_invalid_status_with_body():
    app = App()

    @app.route("/page")
    async def page(request):
        return "not a websocket", 200

    @app.route("/ws")
    @with_websocket
    async def ws_route(request, ws):
        await ws.send("unreachable")

    async with serving(app) as port:
        with support.raises(InvalidStatus) as caught:
            await connect("ws://127.0.0.1:%d/missing" % port).open()
        assert caught.value.status == 404
        assert b"not found" in caught.value.body
        assert isinstance(caught.value, HandshakeError)

        with support.raises(InvalidStatus) as caught:
            await connect("ws://127.0.0.1:%d/page" % port).open()
        assert caught.value.status == 200
        assert caught.value.body == b"not a websocket"
        assert caught.value.headers.get("content-length") == "15"

        # The server is fine afterwards.
        async with connect("ws://127.0.0.1:%d/ws" % port) as ws:
            assert await ws.receive() == "unreachable"


async def test_route_rejecting_before_upgrade_is_invalid_status():
    app = App()

    @app.route("/guarded")
    async def guarded(request):
        if request.headers.get("Authorization") != "Bearer ok":
            return "who are you?", 401, {"WWW-Authenticate": "Bearer"}
        return "never here"

    async with serving(app) as port:
        with support.raises(InvalidStatus) as caught:
            await connect("ws://127.0.0.1:%d/guarded" % port).open()
        assert caught.value.status == 401
        assert caught.value.body == b"who are you?"
        assert caught.value.headers.get("WWW-Authenticate") == "Bearer"


async def test_wrong_accept_is_invalid_accept():
    async def liar(reader, writer):
        await accept_handshake(reader, writer, accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        await reader.read(100)

    async with fake_server(liar) as port:
        with support.raises(InvalidAccept):
            await connect("ws://127.0.0.1:%d/" % port, open_timeout=5).open()


async def test_missing_upgrade_header_is_invalid_upgrade():
    async def plain(reader, writer):
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        await reader.read(100)

    async with fake_server(plain) as port:
        with support.raises(InvalidUpgrade):
            await connect("ws://127.0.0.1:%d/" % port, open_timeout=5).open()


async def test_subprotocol_not_offered_is_invalid_subprotocol():
    async def pushy(reader, writer):
        await accept_handshake(reader, writer, extra=[("Sec-WebSocket-Protocol", "other")])
        await reader.read(100)

    async with fake_server(pushy) as port:
        with support.raises(InvalidSubprotocol):
            await connect("ws://127.0.0.1:%d/" % port, subprotocols=["chat"], open_timeout=5).open()


async def test_server_closing_during_handshake_is_handshake_error():
    async def rude(reader, writer):
        await read_request_head(reader)
        # closes without answering

    async with fake_server(rude) as port:
        with support.raises(HandshakeError) as caught:
            await connect("ws://127.0.0.1:%d/" % port, open_timeout=5).open()
        assert not isinstance(caught.value, ConnectionClosed)


async def test_client_sends_the_request_the_server_expects():
    seen = []

    async def recorder(reader, writer):
        seen.append(await accept_handshake(reader, writer))
        await reader.read(100)

    async with fake_server(recorder) as port:
        ws = await connect(
            "ws://127.0.0.1:%d/path?q=1" % port,
            subprotocols=["a", "b"],
            origin="http://example.test",
            headers=[("X-Extra", "1")],
            close_timeout=0.3,
        ).open()
        await ws.close()
    request = seen[0]
    assert request[""] == "GET /path?q=1 HTTP/1.1"
    assert request["host"] == "127.0.0.1:%d" % port
    assert request["upgrade"].lower() == "websocket"
    assert "upgrade" in request["connection"].lower()
    assert request["sec-websocket-version"] == "13"
    assert len(request["sec-websocket-key"]) == 24
    assert request["sec-websocket-protocol"] == "a, b"
    assert request["origin"] == "http://example.test"
    assert request["x-extra"] == "1"


async def test_bad_uri_is_value_error():
    for uri in ("http://127.0.0.1/", "ws://", "ws://host:0/", "ws://user@host/", "ws://host/#frag"):
        with support.raises(ValueError):
            await connect(uri).open()


async def test_responses_without_a_body_fail_at_once_and_interim_ones_are_skipped():
    # A 204 or 304 has no body and a chunked one is not read: each fails the handshake as it
    # arrives, while the server keeps the connection open (not after open_timeout). An interim
    # 100 Continue is passed over for the 101 that follows it.
    answers = {
        "/204": b"HTTP/1.1 204 No Content\r\n\r\n",
        "/304": b"HTTP/1.1 304 Not Modified\r\n\r\n",
        "/chunked": b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nno no\r\n",
    }

    async def answer(reader, writer):
        request = await read_request_head(reader)
        path = request[""].split(" ")[1]
        if path == "/continue":
            accept = accept_for(request["sec-websocket-key"])
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
            writer.write(b"\x81\x02hi")
        else:
            writer.write(answers[path])
        await writer.drain()
        await reader.read(100)  # held open until the client leaves

    async with fake_server(answer) as port:
        for path, status in (("/204", 204), ("/304", 304), ("/chunked", 403)):
            with support.raises(InvalidStatus) as caught:
                await connect("ws://127.0.0.1:%d%s" % (port, path), open_timeout=5).open()
            assert caught.value.status == status, path
        async with connect("ws://127.0.0.1:%d/continue" % port, open_timeout=5, close_timeout=0.5) as ws:
            assert await ws.receive() == "hi"
