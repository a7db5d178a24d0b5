"""The opening handshake as the server sees it: 426 and 400 answers, and the request object."""

import asyncio

from wsio import App, with_websocket

import support
from wire import (
    ACCEPT,
    KEY,
    OP_TEXT,
    answer_close,
    client_frame,
    close_writer,
    collecting_app,
    http_exchange,
    http_get,
    parse_response,
    read_frame,
    read_head,
    read_until_eof,
    serving,
    upgrade,
    upgrade_request,
)


def ws_app():
    app = App()

    @app.route("/ws")
    @with_websocket
    async def endpoint(request, ws):
        await ws.send("hello")

    return app


async def test_plain_get_to_websocket_route_is_426():
    async with serving(ws_app()) as port:
        status, headers, body = await http_get(port, "/ws")
        assert status == 426
        assert headers["upgrade"].lower() == "websocket"
        assert headers["sec-websocket-version"] == "13"
        assert b"Upgrade: websocket" in body


async def test_head_to_websocket_route_is_the_head_of_the_426():
    async with serving(ws_app()) as port:
        status, headers, body = await http_get(port, "/ws", method="HEAD")
        assert status == 426  # what a GET gets (RFC 9110 9.3.2), not 405
        assert headers["upgrade"].lower() == "websocket"
        assert body == b""


async def test_a_long_header_line_within_max_head_size_is_upgraded():
    # Browsers send cookies of several KiB in one line; the bound is max_head_size (8 KiB).
    async with serving(ws_app()) as port:
        request = upgrade_request(port, "/ws", extra=[("Cookie", "session=" + "x" * 6000)])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            await writer.drain()
            status, _, _ = parse_response(await read_head(reader))
            assert status == 101
            assert await read_frame(reader) == (OP_TEXT, b"hello")
            await answer_close(reader, writer, 1000)
        finally:
            await close_writer(writer)


async def test_error_answers_go_out_without_a_handshake_timeout():
    app = App(handshake_timeout=None)

    @app.route("/ws")
    @with_websocket
    async def endpoint(request, ws):
        pass

    async with serving(app) as port:
        # A malformed head: refused while it is read, before any route.
        status, _, body = await http_exchange(port, upgrade_request(port, "/ws", extra=[("Bad Name", "x")]))
        assert status == 400
        assert b"malformed header line" in body


async def test_wrong_version_is_426_with_supported_version():
    async with serving(ws_app()) as port:
        status, headers, body = await http_exchange(port, upgrade_request(port, "/ws", version="8"))
        assert status == 426
        assert headers["sec-websocket-version"] == "13"
        assert headers["upgrade"] == "websocket"  # a 426 must name the protocol (RFC 9110 15.5.22)
        assert b"Sec-WebSocket-Version" in body
        assert b"'8'" in body


async def test_bad_key_is_400_with_reason():
    async with serving(ws_app()) as port:
        for key in ("not-base64!!", "c2hvcnQ=", ""):  # garbage, 5 bytes, empty
            status, _, body = await http_exchange(port, upgrade_request(port, "/ws", key=key))
            assert status == 400, key
            assert b"Sec-WebSocket-Key" in body, body


async def test_missing_key_and_bad_upgrade_header_are_400():
    async with serving(ws_app()) as port:
        request = upgrade_request(port, "/ws").replace(b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", b"")
        status, _, body = await http_exchange(port, request)
        assert status == 400
        assert b"missing Sec-WebSocket-Key" in body
        request = upgrade_request(port, "/ws").replace(b"Upgrade: websocket", b"Upgrade: h2c")
        status, _, body = await http_exchange(port, request)
        assert status == 400
        assert b"h2c" in body


async def test_post_upgrade_is_405():
    async with serving(ws_app()) as port:
        app_request = upgrade_request(port, "/ws").replace(b"GET ", b"POST ", 1)
        status, _, _ = await http_exchange(port, app_request)
        assert status == 405  # the route is GET-only


async def test_valid_upgrade_gets_101_with_accept():
    async with serving(ws_app()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(upgrade_request(port, "/ws"))
            await writer.drain()
            status, headers, _ = parse_response(await read_head(reader))
            assert status == 101
            assert headers["sec-websocket-accept"] == ACCEPT
            assert headers["upgrade"].lower() == "websocket"
            # The handler sends "hello" and returns: a text frame, then close 1000.
            assert await read_frame(reader) == (OP_TEXT, b"hello")
            await answer_close(reader, writer, 1000)
        finally:
            await close_writer(writer)


async def test_request_object():
    seen = {}
    app = App()

    @app.route("/inspect/<name>", methods=["GET", "PUT"])
    async def inspect(request, name):
        seen["method"] = request.method
        seen["path"] = request.path
        seen["args"] = request.args
        seen["query_string"] = request.query_string
        seen["agent"] = request.headers.get("user-agent")
        seen["agent_upper"] = request.headers["USER-AGENT"]
        seen["has_x"] = "x-thing" in request.headers
        seen["client_addr"] = request.client_addr
        seen["body"] = request.body
        seen["url_args"] = request.url_args
        return "ok"

    async with serving(app) as port:
        status, _, body = await http_get(
            port, "/inspect/bob?a=1&b=two+words&c=%C3%A9", method="PUT", headers=[("User-Agent", "probe/1"), ("X-Thing", "1")], body=b"payload"
        )
        assert (status, body) == (200, b"ok")
    assert seen["method"] == "PUT"
    assert seen["path"] == "/inspect/bob"
    assert seen["args"] == {"a": "1", "b": "two words", "c": "\u00e9"}
    assert seen["query_string"] == "a=1&b=two+words&c=%C3%A9"
    assert seen["agent"] == "probe/1"
    assert seen["agent_upper"] == "probe/1"
    assert seen["has_x"] is True
    assert seen["body"] == b"payload"
    assert seen["url_args"] == {"name": "bob"}
    host, client_port = seen["client_addr"]
    assert host == "127.0.0.1"
    assert isinstance(client_port, int) and 0 < client_port < 65536 and client_port != port


async def test_request_version_and_query_string_as_sent():
    # (The request keeps these only when they differ from the usual: check both cases.)
    seen = []
    app = App()

    @app.route("/")
    async def index(request):
        seen.append((request.version, request.query_string, request.args))
        return "ok"

    async with serving(app) as port:
        for head in (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", b"GET /?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
            status, _, body = await http_exchange(port, head)
            assert (status, body) == (200, b"ok")
    assert seen == [("HTTP/1.0", "", {}), ("HTTP/1.1", "a=1", {"a": "1"}), ("HTTP/1.1", "", {})]


async def test_websocket_request_attributes():
    seen = {}
    app = App()

    @app.route("/ws/<int:n>")
    @with_websocket
    async def endpoint(request, ws, n):
        seen["n"] = n
        seen["same_request"] = ws.request is request
        seen["path"] = ws.request.path
        seen["args"] = ws.request.args
        seen["key"] = ws.request.headers.get("sec-websocket-key")
        await ws.send("done")

    async with serving(app) as port:
        reader, writer = await upgrade(port, "/ws/7?room=a")
        try:
            assert await read_frame(reader) == (OP_TEXT, b"done")
        finally:
            await close_writer(writer)
    assert seen == {"n": 7, "same_request": True, "path": "/ws/7", "args": {"room": "a"}, "key": KEY}


@support.skip_on_micropython("MicroPython's socket has no getsockname() to learn the client's own port")
async def test_client_addr_is_the_peer_port():
    seen = []
    app = App()

    @app.route("/")
    async def index(request):
        seen.append(request.client_addr)
        return "ok"

    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        own = writer.get_extra_info("sockname")
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()
        await writer.wait_closed()
    assert seen == [("127.0.0.1", own[1])]


@support.skip_if(support.ON_MICROPYTHON, "MicroPython's socket has no shutdown(): a client there cannot half-close")
async def test_a_fin_that_comes_with_the_request_ends_the_connection():
    # The request, a frame and the FIN arrive before the WebSocket takes over the stream: the
    # end of the stream must not get lost on the way. The handler gets the message, and the
    # server closes TCP (1006: no close frame) instead of waiting for more.
    app, received = collecting_app("/sink", ping_interval=None)

    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(upgrade_request(port, "/sink") + client_frame(OP_TEXT, b"bye"))
            writer.write_eof()
            status, _, _ = parse_response(await read_head(reader))
            assert status == 101
            assert await read_until_eof(reader) == b""
        finally:
            await close_writer(writer)
        await support.wait_until(lambda: received, timeout=5)
    assert received == ["bye"]
