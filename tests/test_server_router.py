"""App's router over real sockets: path parameters, what plain routes may return, 404 and 405."""

import json

from wsio import App

from wire import http_exchange, http_get, serving


def make_app():
    app = App()

    @app.route("/rooms/<name>")
    async def room(request, name):
        return "room " + name

    @app.route("/items/<int:id>")
    async def item(request, id):
        # An int, not the text of the segment: id + 1 would fail on a str.
        return {"id": id, "next": id + 1, "type": type(id).__name__}

    @app.route("/files/<path:rest>")
    async def files(request, rest):
        return rest

    @app.route("/text")
    async def text(request):
        assert request.path == "/text"  # decoded, also when the client sent /%74ext
        return "plain text"

    @app.route("/bytes")
    async def raw(request):
        return b"\x00\x01\xfe\xff"

    @app.route("/tuple")
    async def full(request):
        return "made", 201, {"X-Custom": "yes"}

    @app.route("/json")
    async def as_json(request):
        return {"a": [1, 2], "b": "c"}

    @app.route("/none")
    async def nothing(request):
        return None

    @app.route("/post-only", methods=["POST"])
    async def post_only(request):
        return "posted " + request.body.decode()

    return app


async def test_path_parameter_is_passed_as_keyword():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/rooms/lobby")
        assert status == 200
        assert body == b"room lobby"
        assert headers["content-length"] == "10"
        assert headers["content-type"].startswith("text/plain")


async def test_int_parameter_is_converted():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/items/41")
        assert status == 200
        assert json.loads(body) == {"id": 41, "next": 42, "type": "int"}
        # A segment that is not a number does not match the <int:> route.
        status, _, _ = await http_get(port, "/items/abc")
        assert status == 404
        status, _, _ = await http_get(port, "/items/\u00b2")  # a digit to str.isdigit(), not to int()
        assert status == 404


async def test_the_path_is_percent_decoded_before_matching():
    async with serving(make_app()) as port:
        # What browsers and most clients send for /rooms/café, and what websocket-client sends.
        for target in ("/rooms/caf%C3%A9", "/rooms/caf\u00e9"):
            status, _, body = await http_get(port, target)
            assert (status, body) == (200, "room caf\u00e9".encode("utf-8"))
        status, _, body = await http_get(port, "/%74ext")  # an encoded letter is that letter
        assert (status, body) == (200, b"plain text")
        # An encoded / is a / (as in Flask and Starlette): no parameter holds one.
        for target in ("/rooms/a%2Fb", "/rooms/..%2F..%2Fetc", "/rooms/a%00b"):
            status, _, _ = await http_get(port, target)
            assert status == 404, target
        status, _, body = await http_get(port, "/files/a%2Fb")
        assert (status, body) == (200, b"a/b")


async def test_path_parameter_takes_the_rest():
    async with serving(make_app()) as port:
        status, _, body = await http_get(port, "/files/a/b/c.txt")
        assert status == 200
        assert body == b"a/b/c.txt"


async def test_route_returning_str_and_bytes():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/text")
        assert (status, body) == (200, b"plain text")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        status, headers, body = await http_get(port, "/bytes")
        assert (status, body) == (200, b"\x00\x01\xfe\xff")
        assert headers["content-type"] == "application/octet-stream"
        assert headers["content-length"] == "4"


async def test_route_returning_body_status_headers():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/tuple")
        assert status == 201
        assert body == b"made"
        assert headers["x-custom"] == "yes"


async def test_route_returning_dict_is_json():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/json")
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"a": [1, 2], "b": "c"}
        assert headers["content-length"] == str(len(body))


async def test_unknown_path_is_404():
    async with serving(make_app()) as port:
        for target in ("/nope", "/rooms", "/rooms/a/b", "/"):
            status, _, body = await http_get(port, target)
            assert status == 404, target
            assert b"not found" in body


async def test_wrong_method_is_405_with_allow():
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/text", method="POST", body=b"x")
        assert status == 405
        assert b"method not allowed" in body
        assert headers["allow"] == "GET, HEAD"  # a 405 must list them (RFC 9110 section 15.5.6)
        status, headers, body = await http_get(port, "/post-only")
        assert status == 405
        assert headers["allow"] == "POST"
        status, _, body = await http_get(port, "/post-only", method="POST", body=b"data")
        assert (status, body) == (200, b"posted data")


async def test_handler_error_is_500_and_server_keeps_serving():
    app = make_app()

    @app.route("/boom")
    async def boom(request):
        raise RuntimeError("boom")

    async with serving(app) as port:
        status, _, _ = await http_get(port, "/boom")
        assert status == 500
        status, _, body = await http_get(port, "/text")
        assert (status, body) == (200, b"plain text")


async def test_head_gets_the_head_of_get_without_its_body():
    # RFC 9110 section 9.3.2: no content in answer to HEAD, the fields as for GET.
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/text", method="HEAD")
        assert (status, headers["content-length"], body) == (200, str(len("plain text")), b"")
        for target, expected in (("/nope", 404), ("/post-only", 405)):
            status, _, body = await http_get(port, target, method="HEAD")
            assert (status, body) == (expected, b""), target


async def test_a_route_returning_none_is_204_without_content_fields():
    # RFC 9110 section 8.6: no Content-Length in a 204; no content, so no Content-Type either.
    async with serving(make_app()) as port:
        status, headers, body = await http_get(port, "/none")
        assert (status, body) == (204, b"")
        assert "content-length" not in headers and "content-type" not in headers, headers


async def test_errors_before_routing_answer_head_without_a_body():
    # A HEAD request refused before any route runs (501, 400, 413) gets the head alone too.
    app = App(max_body_size=10)
    async with serving(app) as port:
        for extra, expected in ((b"Transfer-Encoding: chunked\r\n", 501), (b"Host: h\r\n", 400), (b"Content-Length: 11\r\n", 413)):
            request = b"HEAD /x HTTP/1.1\r\nHost: h\r\n" + extra + b"\r\n"
            if expected == 413:
                request += bytes(11)
            status, headers, body = await http_exchange(port, request)
            assert (status, body) == (expected, b""), (expected, body)
            assert int(headers["content-length"]) > 0  # the fields as for GET


async def test_transfer_encoding_is_501_and_the_connection_closes():
    # No transfer coding is implemented: framing by Content-Length instead would let a request
    # be smuggled behind a proxy that reads the chunks (RFC 9112 section 6.3).
    async with serving(make_app()) as port:
        for fields in (b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"):
            request = b"POST /post-only HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n5\r\nhello\r\n0\r\n\r\n"
            status, headers, body = await http_exchange(port, request)
            assert (status, headers["connection"]) == (501, "close")
            assert b"Transfer-Encoding" in body


async def test_content_length_takes_ascii_digits_only():
    async with serving(make_app()) as port:
        for value in ("\u00b2", "\u0663", "-1", "1 1"):
            request = ("POST /post-only HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\nabc" % value).encode("utf-8")
            status, _, body = await http_exchange(port, request)
            assert status == 400 and b"Content-Length" in body, value
        # The server answered each of them and goes on.
        status, _, body = await http_get(port, "/post-only", method="POST", body=b"ok")
        assert (status, body) == (200, b"posted ok")


async def test_host_is_required_once():
    async with serving(make_app()) as port:
        for hosts in (b"", b"Host: h\r\nHost: h\r\n"):
            status, _, body = await http_exchange(port, b"GET /text HTTP/1.1\r\n" + hosts + b"\r\n")
            assert status == 400 and b"Host" in body, hosts


async def test_a_body_over_max_body_size_gets_a_413_the_client_can_read():
    # The body is read away after the answer: closing on unread bytes would send an RST, and
    # the client could lose the 413 (MicroPython's did).
    app = App(max_body_size=100)

    @app.route("/upload", methods=["POST"])
    async def upload(request):
        return "got %d" % len(request.body)

    async with serving(app) as port:
        for size in (101, 200000):
            request = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size
            status, headers, body = await http_exchange(port, request + bytes(size))
            assert (status, headers["connection"]) == (413, "close"), size
            assert b"larger than 100 bytes" in body
        status, _, body = await http_get(port, "/upload", method="POST", body=b"x" * 100)
        assert (status, body) == (200, b"got 100")
