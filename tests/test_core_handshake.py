"""The opening handshake (RFC 6455 section 4), server and client side."""

import binascii

import support

from wscore import handshake, http
from wscore.errors import (
    HandshakeError,
    InvalidAccept,
    InvalidExtension,
    InvalidStatus,
    InvalidSubprotocol,
    InvalidUpgrade,
)

# RFC 6455 section 1.3.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

FIELDS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def make_request(changes=(), first="GET /chat HTTP/1.1", extra=()):
    """A parsed request: the RFC's, with ``changes`` ((name, value or None to drop)) applied."""
    changed = dict(changes)
    lines = [first]
    for name, value in FIELDS:
        if name in changed:
            value = changed[name]
        if value is not None:
            lines.append("%s: %s" % (name, value))
    for name, value in extra:
        lines.append("%s: %s" % (name, value))
    return http.parse_request("\r\n".join(lines).encode("utf-8"))


def check_fails(request, status):
    with support.raises(HandshakeError) as info:
        handshake.check_request(request)
    assert info.value.status == status, (info.value.status, str(info.value))
    return info.value


def b64(raw):
    return str(binascii.b2a_base64(raw)[:-1], "ascii")


# ---- server side -----------------------------------------------------------------------------


def test_accept_key_rfc_sample():
    assert handshake.accept_key(RFC_KEY) == RFC_ACCEPT


def test_valid_request():
    assert handshake.check_request(make_request()) == (RFC_KEY, None)


def test_method_must_be_get():
    for method in ("POST", "PUT", "HEAD", "get"):
        err = check_fails(make_request(first="%s /chat HTTP/1.1" % method), 405)
        assert ("Allow", "GET") in err.headers


def test_version_must_be_http_1_1():
    for version in ("HTTP/1.0", "HTTP/2", "HTTP/0.9"):
        check_fails(make_request(first="GET /chat %s" % version), 400)
    # "HTTP/1.1 or higher" (RFC 6455 section 4.2.1): a later 1.x is read as 1.1.
    assert handshake.check_request(make_request(first="GET /chat HTTP/1.2")) == (RFC_KEY, None)


def test_missing_upgrade_is_426_with_version_header():
    for changes in ([("Upgrade", None)], [("Upgrade", None), ("Connection", None)]):
        err = check_fails(make_request(changes), 426)
        assert ("Sec-WebSocket-Version", "13") in err.headers
        assert ("Upgrade", "websocket") in err.headers
        # The rejection response carries them.
        response = handshake.reject_response(err.status, err.reason, err.headers)
        assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
        assert b"\r\nSec-WebSocket-Version: 13\r\n" in response


def test_upgrade_must_be_websocket():
    for value in ("h2c", "websocket2", "web socket", ""):
        check_fails(make_request([("Upgrade", value)]), 400)


def test_connection_must_contain_upgrade():
    for value in ("keep-alive", "close", "upgraded", None):
        check_fails(make_request([("Connection", value)]), 400)


def test_token_lists_and_case_insensitivity():
    for changes in (
        [("Connection", "keep-alive, Upgrade")],
        [("Connection", "Upgrade,keep-alive")],
        [("Connection", "upgrade")],
        [("Connection", "UPGRADE")],
        [("Upgrade", "WebSocket")],
        [("Upgrade", "websocket, h2c")],
    ):
        assert handshake.check_request(make_request(changes)) == (RFC_KEY, None), changes
    # Field names are case-insensitive too.
    head = (
        "GET / HTTP/1.1\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n"
        "sec-websocket-key: %s\r\nSEC-WEBSOCKET-VERSION: 13" % RFC_KEY
    )
    assert handshake.check_request(http.parse_request(head.encode("ascii"))) == (RFC_KEY, None)
    # Connection split over two fields.
    request = make_request([("Connection", "keep-alive")], extra=[("Connection", "Upgrade")])
    assert handshake.check_request(request) == (RFC_KEY, None)


def test_host_is_required():
    with support.raises(HandshakeError) as info:
        make_request([("Host", None)])  # any HTTP/1.1 request: parse_request refuses it
    assert info.value.status == 400
    check_fails(make_request([("Host", "")]), 400)


def test_version_must_be_13():
    for value in ("8", "12", "14", "13, 8", None):
        err = check_fails(make_request([("Sec-WebSocket-Version", value)]), 426)
        # A 426 names the protocol to upgrade to (RFC 9110 section 15.5.22), and the version.
        assert err.headers == [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")]


def test_key_must_be_16_bytes_of_base64():
    check_fails(make_request([("Sec-WebSocket-Key", None)]), 400)
    for key in (
        b64(b"x" * 15),
        b64(b"x" * 17),
        b64(b"x" * 32),
        "",
        "!!!!!!!!!!!!!!!!!!!!!!!!",
        "not base64 at all",
        RFC_KEY[:-2],
        RFC_KEY + "==",
        "\u00e9" * 22 + "==",
    ):
        check_fails(make_request([("Sec-WebSocket-Key", key)]), 400)
    # The key may appear only once.
    check_fails(make_request(extra=[("Sec-WebSocket-Key", b64(b"y" * 16))]), 400)
    # Any 16 bytes.
    for raw in (b"\x00" * 16, b"\xff" * 16, bytes(range(16))):
        key = b64(raw)
        assert handshake.check_request(make_request([("Sec-WebSocket-Key", key)])) == (key, None)


def test_subprotocol_choice_follows_server_preference():
    offered = make_request(extra=[("Sec-WebSocket-Protocol", "chat, superchat")])
    assert handshake.check_request(offered, ["superchat", "chat"]) == (RFC_KEY, "superchat")
    assert handshake.check_request(offered, ["chat", "superchat"]) == (RFC_KEY, "chat")
    assert handshake.check_request(offered, ["v2", "chat"]) == (RFC_KEY, "chat")
    assert handshake.check_request(offered, ["v2", "v3"]) == (RFC_KEY, None)
    assert handshake.check_request(offered, []) == (RFC_KEY, None)
    assert handshake.check_request(offered) == (RFC_KEY, None)
    # Offered over two fields.
    split = make_request(extra=[("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")])
    assert handshake.check_request(split, ["superchat"]) == (RFC_KEY, "superchat")


def test_subprotocols_are_compared_exactly():
    # The answer must be one of the values the client sent (RFC 6455 section 4.1): a browser
    # offering "CHAT" fails the connection if the server answers "chat".
    offered = make_request(extra=[("Sec-WebSocket-Protocol", "CHAT, Super.Chat")])
    assert handshake.check_request(offered, ["chat", "super.chat"]) == (RFC_KEY, None)
    assert handshake.check_request(offered, ["chat", "Super.Chat"]) == (RFC_KEY, "Super.Chat")
    # Nothing offered.
    assert handshake.check_request(make_request(), ["chat"]) == (RFC_KEY, None)


def test_accept_response_bytes():
    assert handshake.accept_response(RFC_KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )
    response = handshake.accept_response(RFC_KEY, "chat", [("X-Server", "ws-core")])
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"X-Server: ws-core\r\n"
        b"\r\n"
    )


def split_response(data):
    end = data.find(b"\r\n\r\n")
    assert end > 0
    status, reason, headers = http.parse_response(data[:end])
    return status, reason, headers, data[end + 4 :]


def test_reject_response_bytes():
    data = handshake.reject_response(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    status, reason, headers, body = split_response(data)
    assert (status, reason) == (400, "Bad Request")
    assert body == b"Sec-WebSocket-Key must be 16 bytes in base64\n"
    assert headers.get("Content-Length") == str(len(body))
    assert headers.get("Connection") == "close"
    assert headers.get("Content-Type").startswith("text/plain")
    # Non-ASCII reason: the length counts bytes.
    status, reason, headers, body = split_response(handshake.reject_response(403, "interdit \u00e9"))
    assert status == 403 and body == "interdit \u00e9\n".encode("utf-8")
    assert headers.get("Content-Length") == str(len(body)) == "12"
    # Extra headers, and an error turned into a response.
    err = check_fails(make_request(first="POST / HTTP/1.1"), 405)
    status, reason, headers, body = split_response(handshake.reject_response(err.status, err.reason, err.headers))
    assert (status, reason) == (405, "Method Not Allowed")
    assert headers.get("Allow") == "GET"
    assert body == (err.reason + "\n").encode("utf-8")
    assert "POST" in err.reason


# ---- client side -----------------------------------------------------------------------------


def parsed_request(client):
    data = client.request
    assert data.endswith(b"\r\n\r\n")
    assert data.count(b"\r\n\r\n") == 1
    return http.parse_request(data[:-4])


def test_client_request():
    client = handshake.ClientHandshake("example.com", 80, "/chat?room=1&x=%20y")
    request = parsed_request(client)
    assert request.method == "GET" and request.version == "HTTP/1.1"
    assert request.target == "/chat?room=1&x=%20y"
    assert request.path == "/chat" and request.query_string == "room=1&x=%20y"
    headers = request.headers
    assert headers.get("Host") == "example.com"
    assert headers.get("Upgrade") == "websocket"
    assert headers.get("Connection") == "Upgrade"
    assert headers.get("Sec-WebSocket-Version") == "13"
    assert headers.get("Sec-WebSocket-Key") == client.key
    assert len(binascii.a2b_base64(client.key)) == 16
    assert "Sec-WebSocket-Protocol" not in headers
    assert "Origin" not in headers
    # A server accepts it.
    assert handshake.check_request(request) == (client.key, None)


def test_client_keys_are_fresh():
    keys = [handshake.ClientHandshake("example.com", 80).key for _ in range(8)]
    for i in range(len(keys)):
        for j in range(i):
            assert keys[i] != keys[j]


def test_client_host_header():
    cases = [
        (("example.com", 80, False), "example.com"),
        (("example.com", 443, True), "example.com"),
        (("example.com", 8080, False), "example.com:8080"),
        (("example.com", 443, False), "example.com:443"),
        (("example.com", 80, True), "example.com:80"),
        (("127.0.0.1", 9000, False), "127.0.0.1:9000"),
        (("::1", 80, False), "[::1]"),
        (("::1", 9000, False), "[::1]:9000"),
        (("2001:db8::7", 443, True), "[2001:db8::7]"),
    ]
    for (host, port, secure), expected in cases:
        client = handshake.ClientHandshake(host, port, "/", secure)
        assert parsed_request(client).headers.get("Host") == expected, (host, port, secure)


def test_client_subprotocols_origin_and_extra_headers():
    client = handshake.ClientHandshake(
        "example.com",
        80,
        "/",
        subprotocols=["chat", "superchat"],
        origin="http://example.com",
        headers=[("Authorization", "Bearer x"), ("X-Twice", "1"), ("X-Twice", "2")],
    )
    headers = parsed_request(client).headers
    assert headers.get("Sec-WebSocket-Protocol") == "chat, superchat"
    assert headers.get("Origin") == "http://example.com"
    assert headers.get("Authorization") == "Bearer x"
    assert headers.get_all("X-Twice") == ["1", "2"]
    client = handshake.ClientHandshake("example.com", 80, headers={"X-Dict": "yes"})
    assert parsed_request(client).headers.get("X-Dict") == "yes"


def test_client_extra_host_or_origin_replaces_ours_and_handshake_fields_are_refused():
    # Two Host lines get 400 from servers (RFC 9112 section 3.2): an extra one replaces ours.
    client = handshake.ClientHandshake("127.0.0.1", 8000, origin="http://a.example", headers={"host": "b.example", "Origin": "http://b.example"})
    headers = parsed_request(client).headers
    assert headers.get_all("Host") == ["b.example"]
    assert headers.get_all("Origin") == ["http://b.example"]
    for name in ("Upgrade", "connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"):
        with support.raises(ValueError):
            handshake.ClientHandshake("example.com", 80, headers=[(name, "x")])


@support.skip_on_micropython("MicroPython has no idna codec: the name goes as UTF-8 there")
def test_client_host_header_of_an_internationalized_name_is_idna():
    client = handshake.ClientHandshake("b\u00fccher.example", 80)
    assert parsed_request(client).headers.get("Host") == "xn--bcher-kva.example"


def good_response_headers(client, extra=()):
    headers = http.Headers(
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", handshake.accept_key(client.key))]
    )
    for name, value in extra:
        headers.add(name, value)
    return headers


def test_client_check_response_ok():
    client = handshake.ClientHandshake("example.com", 80)
    assert client.check_response(101, good_response_headers(client)) is None
    # Case-insensitive values.
    headers = http.Headers(
        [("upgrade", "WebSocket"), ("connection", "keep-alive, upgrade"), ("sec-websocket-accept", handshake.accept_key(client.key))]
    )
    assert client.check_response(101, headers) is None


def test_client_round_trip_with_server_functions():
    client = handshake.ClientHandshake("example.com", 8000, "/ws", subprotocols=["v1", "v2"])
    request = parsed_request(client)
    key, chosen = handshake.check_request(request, ["v2", "v1"])
    assert chosen == "v2"
    reader = http.HeadReader()
    assert reader.feed(handshake.accept_response(key, chosen) + b"\x81\x02hi")
    assert reader.rest == b"\x81\x02hi"
    status, reason, headers = http.parse_response(reader.head)
    assert client.check_response(status, headers) == "v2"


def test_client_non_101_is_invalid_status():
    client = handshake.ClientHandshake("example.com", 80)
    for status in (200, 301, 400, 403, 404, 426, 500):
        headers = http.Headers([("Content-Type", "text/plain")])
        with support.raises(InvalidStatus) as info:
            client.check_response(status, headers, b"go away")
        assert info.value.status == status
        assert info.value.body == b"go away"
        assert info.value.headers is headers
        assert isinstance(info.value, HandshakeError)


def test_client_bad_upgrade_or_connection():
    client = handshake.ClientHandshake("example.com", 80)
    accept = ("Sec-WebSocket-Accept", handshake.accept_key(client.key))
    for fields in (
        [("Connection", "Upgrade"), accept],
        [("Upgrade", "h2c"), ("Connection", "Upgrade"), accept],
        [("Upgrade", "websocket"), accept],
        [("Upgrade", "websocket"), ("Connection", "keep-alive"), accept],
        [accept],
    ):
        with support.raises(InvalidUpgrade):
            client.check_response(101, http.Headers(fields))


def test_client_wrong_accept():
    client = handshake.ClientHandshake("example.com", 80)
    for accept in (None, "", RFC_ACCEPT, handshake.accept_key(client.key) + "x", handshake.accept_key(client.key).lower()):
        fields = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        if accept is not None:
            fields.append(("Sec-WebSocket-Accept", accept))
        with support.raises(InvalidAccept):
            client.check_response(101, http.Headers(fields))


def test_client_unoffered_subprotocol():
    client = handshake.ClientHandshake("example.com", 80, subprotocols=["chat"])
    assert client.check_response(101, good_response_headers(client, [("Sec-WebSocket-Protocol", "chat")])) == "chat"
    assert client.check_response(101, good_response_headers(client)) is None
    for chosen in ("superchat", "chat, superchat", "Chat"):
        with support.raises(InvalidSubprotocol):
            client.check_response(101, good_response_headers(client, [("Sec-WebSocket-Protocol", chosen)]))
    client = handshake.ClientHandshake("example.com", 80)
    with support.raises(InvalidSubprotocol):
        client.check_response(101, good_response_headers(client, [("Sec-WebSocket-Protocol", "chat")]))


def test_client_refuses_any_extension():
    client = handshake.ClientHandshake("example.com", 80)
    for value in ("permessage-deflate", "x-custom; a=1"):
        with support.raises(InvalidExtension):
            client.check_response(101, good_response_headers(client, [("Sec-WebSocket-Extensions", value)]))


# ---- URIs ------------------------------------------------------------------------------------


def test_parse_uri():
    cases = [
        ("ws://example.com", (False, "example.com", 80, "/")),
        ("ws://example.com/", (False, "example.com", 80, "/")),
        ("wss://example.com", (True, "example.com", 443, "/")),
        ("ws://example.com:8080/chat", (False, "example.com", 8080, "/chat")),
        ("wss://example.com:8443/a/b?x=1&y=%20", (True, "example.com", 8443, "/a/b?x=1&y=%20")),
        ("ws://example.com?x=1", (False, "example.com", 80, "/?x=1")),
        ("ws://example.com:9000?x=1", (False, "example.com", 9000, "/?x=1")),
        ("ws://127.0.0.1:1/", (False, "127.0.0.1", 1, "/")),
        ("ws://[::1]/", (False, "::1", 80, "/")),
        ("wss://[::1]", (True, "::1", 443, "/")),
        ("ws://[2001:db8::7]:65535/x", (False, "2001:db8::7", 65535, "/x")),
        # Schemes are case-insensitive (RFC 3986 section 3.1).
        ("WS://example.com/", (False, "example.com", 80, "/")),
        ("Wss://example.com/", (True, "example.com", 443, "/")),
        # What may not appear raw in a request target is percent-encoded, a CR or LF included.
        ("ws://h/a b?c=\u00e4", (False, "h", 80, "/a%20b?c=%C3%A4")),
        ("ws://h/x HTTP/1.1\r\nX-Smuggled: 1", (False, "h", 80, "/x%20HTTP/1.1%0D%0AX-Smuggled:%201")),
    ]
    for uri, expected in cases:
        assert handshake.parse_uri(uri) == expected, uri


def test_parse_uri_errors():
    for uri in (
        "http://example.com/",
        "https://example.com/",
        "example.com",
        "ws:/example.com/",
        "ws://",
        "ws:///path",
        "ws://:80/",
        "ws://user:password@example.com/",
        "ws://user@example.com/",
        "ws://example.com:port/",
        "ws://example.com:/",
        "ws://example.com:0/",
        "ws://example.com:65536/",
        "ws://example.com:+80/",
        "ws://example.com: 80/",
        "ws://example.com:\u0663/",
        "ws://::1/",
        "ws://a:1:2/",
        "ws://[::1/",
        "ws://[::1]x/",
        "ws://[]/",
        "ws://example.com/#fragment",
        "ws://example.com#fragment",
    ):
        with support.raises(ValueError):
            handshake.parse_uri(uri)


def test_origin_allowed_default_is_same_origin_or_none():
    from wscore.handshake import origin_allowed

    assert origin_allowed(None, "example.com")
    assert origin_allowed("http://example.com", "example.com")
    assert origin_allowed("http://example.com:80", "example.com")
    assert origin_allowed("https://Example.com", "example.com:443")
    assert origin_allowed("http://device.local:8080", "device.local:8080")
    assert not origin_allowed("http://device.local:8081", "device.local:8080")
    assert not origin_allowed("https://evil.example", "example.com")
    assert not origin_allowed("null", "example.com")
    assert not origin_allowed("http://example.com", None)


def test_origin_allowed_star_and_lists():
    from wscore.handshake import origin_allowed

    assert origin_allowed("https://evil.example", "example.com", "*")
    assert origin_allowed(None, "example.com", "*")
    assert origin_allowed("https://good.example", "x", ["https://good.example"])
    assert not origin_allowed(None, "x", ["https://good.example"])
    assert origin_allowed(None, "x", ["https://good.example", None])
    assert not origin_allowed("https://evil.example", "x", ["https://good.example", None])


def test_client_request_headers_cannot_carry_line_breaks():
    for headers in ({"X-Token": "a\r\nX-Injected: 1"}, {"X-Token": "a\nb"}, {"X-Token": "a\x00"}, [("Bad Name", "v")], [("X:Y", "v")]):
        with support.raises(ValueError):
            handshake.ClientHandshake("example.com", 80, headers=headers)
    for kwargs in ({"origin": "http://a\r\nX: 1"}, {"subprotocols": ["chat", "a b"]}, {"subprotocols": ["x\r\ny"]}):
        with support.raises(ValueError):
            handshake.ClientHandshake("example.com", 80, **kwargs)
    request = handshake.ClientHandshake("example.com", 80, headers={"X-Token": "a\tb"}).request
    assert b"\r\nX-Token: a\tb\r\n" in request
