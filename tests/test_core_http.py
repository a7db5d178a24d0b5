"""HTTP/1.1 heads for the opening handshake: HeadReader limits, parsing, headers, queries."""

import support

from wscore import http
from wscore.errors import HandshakeError

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
HEAD = REQUEST[:-4]


def request_with_fields(n, value=b"v"):
    return b"GET / HTTP/1.1\r\n" + b"".join([b"X-%d: " % i + value + b"\r\n" for i in range(n)]) + b"\r\n"


def feed_bytewise(reader, data):
    """Feed one byte at a time; the index of the byte that completed the head, or None."""
    for i in range(len(data)):
        if reader.feed(data[i : i + 1]):
            return i
    return None


def raises_status(status, fn):
    with support.raises(HandshakeError) as info:
        fn()
    assert info.value.status == status, (info.value.status, str(info.value))
    return info.value


# ---- HeadReader ------------------------------------------------------------------------------


def test_head_in_one_chunk():
    reader = http.HeadReader()
    assert reader.feed(REQUEST)
    assert reader.head == HEAD
    assert reader.rest == b""


def test_head_byte_by_byte():
    reader = http.HeadReader()
    assert feed_bytewise(reader, REQUEST) == len(REQUEST) - 1
    assert reader.head == HEAD
    assert reader.rest == b""


def test_rest_keeps_the_bytes_after_the_head():
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    data = REQUEST + frame
    for cut in range(len(data) + 1):
        reader = http.HeadReader()
        done = reader.feed(data[:cut])
        assert done == (cut >= len(REQUEST)), cut
        if done:
            # The caller stops feeding once the head is complete; rest holds what came with it.
            assert reader.rest == data[len(REQUEST) : cut], cut
        else:
            assert reader.feed(data[cut:]), cut
            assert reader.rest == frame, cut
        assert reader.head == HEAD, cut
    # The end marker split across chunks in every way.
    for cut in range(1, 4):
        reader = http.HeadReader()
        assert not reader.feed(REQUEST[: len(REQUEST) - cut])
        assert reader.feed(REQUEST[len(REQUEST) - cut :] + b"xyz")
        assert reader.head == HEAD and reader.rest == b"xyz"


def test_bytes_like_chunks():
    reader = http.HeadReader()
    assert not reader.feed(memoryview(REQUEST)[:10])
    assert reader.feed(bytearray(REQUEST[10:]))
    assert reader.head == HEAD
    assert type(reader.head) is bytes and type(reader.rest) is bytes


def test_total_size_limit_is_431():
    data = request_with_fields(20)
    n = len(data)
    # Exactly at the limit.
    reader = http.HeadReader(max_size=n, max_line=100)
    assert reader.feed(data)
    reader = http.HeadReader(max_size=n, max_line=100)
    assert feed_bytewise(reader, data) == n - 1
    # One byte less: refused, whole or in pieces.
    raises_status(431, lambda: http.HeadReader(max_size=n - 1, max_line=100).feed(data))
    raises_status(431, lambda: feed_bytewise(http.HeadReader(max_size=n - 1, max_line=100), data))
    # An endless head of short lines is stopped once it passes max_size, without its end.
    reader = http.HeadReader(max_size=100, max_line=100)
    endless = request_with_fields(1000)[:-2]
    err = raises_status(431, lambda: feed_bytewise(reader, endless))
    assert "100" in str(err)
    assert len(reader._buf) <= 101


def test_header_line_too_long_is_431_before_the_line_ends():
    head = b"GET / HTTP/1.1\r\nX-Long: "
    # Fed whole, without a newline.
    raises_status(431, lambda: http.HeadReader(max_line=100).feed(head + b"a" * 200))
    # Byte by byte: refused as soon as the line passes max_line, long before its end.
    reader = http.HeadReader(max_line=100)
    fed = []

    def feed_all():
        for i in range(len(head) + 10000):
            fed.append(i)
            reader.feed(b"a" if i >= len(head) else head[i : i + 1])

    raises_status(431, feed_all)
    assert fed[-1] <= len(b"GET / HTTP/1.1\r\n") + 101
    # A line of max_line bytes (its CR included) passes; one byte more does not.
    line = b"X-Fit: " + b"b" * 92 + b"\r"
    assert len(line) == 100
    reader = http.HeadReader(max_line=100)
    assert reader.feed(b"GET / HTTP/1.1\r\n" + line + b"\n\r\n")
    raises_status(431, lambda: http.HeadReader(max_line=100).feed(b"GET / HTTP/1.1\r\nX" + line + b"\n\r\n"))


def test_request_line_too_long_is_414():
    raises_status(414, lambda: http.HeadReader(max_line=100).feed(b"GET /" + b"a" * 200))
    raises_status(414, lambda: feed_bytewise(http.HeadReader(max_line=100), b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n"))
    raises_status(414, lambda: http.HeadReader(max_line=100).feed(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))


def test_too_many_header_fields_is_431():
    for feed in (lambda r, d: r.feed(d), feed_bytewise):
        reader = http.HeadReader(max_headers=5)
        assert feed(reader, request_with_fields(5)) is not False
        assert reader.head is not None
        raises_status(431, lambda: feed(http.HeadReader(max_headers=5), request_with_fields(6)))
        # The default allows 100, also when the head arrives a byte at a time.
        reader = http.HeadReader()
        assert feed(reader, request_with_fields(100)) is not False
        assert reader.head is not None
        raises_status(431, lambda: feed(http.HeadReader(), request_with_fields(101)))
    # In chunks of every size.
    data = request_with_fields(40)
    for size in (1, 2, 3, 4, 5, 7, 64):
        reader = http.HeadReader(max_headers=40)
        i = 0
        done = False
        while not done:
            done = reader.feed(data[i : i + size])
            i += size
        assert reader.head == data[:-4], size


# ---- parsing ---------------------------------------------------------------------------------


def test_parse_request():
    request = http.parse_request(HEAD)
    assert request.method == "GET"
    assert request.target == "/chat?room=1"
    assert request.path == "/chat"
    assert request.query_string == "room=1"
    assert request.version == "HTTP/1.1"
    assert request.headers.get("host") == "server.example.com"
    assert len(request.headers) == 5
    request = http.parse_request(b"GET / HTTP/1.0")
    assert request.path == "/" and request.query_string == "" and len(request.headers) == 0
    request = http.parse_request(b"GET /a?b?c HTTP/1.1\r\nHost: h\r\nX:  spaced value  \r\nEmpty:")
    assert request.path == "/a" and request.query_string == "b?c"
    assert request.headers.get("X") == "spaced value"
    assert request.headers.get("Empty") == ""


def test_malformed_request_line_is_400():
    for head in (
        b"",
        b"GET",
        b"GET /",
        b"GET / HTTP/1.1 extra",
        b"GET  / HTTP/1.1",
        b" / HTTP/1.1",
        b"GET / FTP/1.1",
        b"GET / http/1.1",
        b"\xff\xfe / HTTP/1.1",
    ):
        raises_status(400, lambda: http.parse_request(head))


def test_malformed_header_line_is_400():
    for line in (b"NoColon", b": no name", b" Folded: x", b"\tTab: x", b"Name : v", b"Name\t: v", b"Bad Name: v", b"Na\x01me: v", b"N\xc3\xa4me: v", b"(x): v"):
        raises_status(400, lambda: http.parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n" + line))


def test_blank_lines_before_the_request_line_are_ignored():
    # RFC 9112 section 2.2: a server should ignore at least one CRLF before the request line.
    for chunks in ([b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"], [b"\r\n", b"\r\n", b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest"]):
        reader = http.HeadReader()
        done = [reader.feed(chunk) for chunk in chunks]
        assert done[-1] and not any(done[:-1])
        assert http.parse_request(reader.head).headers.get("Host") == "h"
    assert reader.rest == b"rest"


def test_nul_and_bare_cr_or_lf_in_a_head_are_400():
    # RFC 9110 section 5.5: a recipient must reject them (or replace them); kept, a value with a
    # bare LF could pass for two header lines further on.
    for line in (b"X-A: a\x00b", b"X-A: a\rb", b"X-A: a\nInjected: 1", b"X-A: a\r"):
        raises_status(400, lambda: http.parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n" + line))
        raises_status(400, lambda: http.parse_response(b"HTTP/1.1 101 Switching Protocols\r\n" + line))
    raises_status(400, lambda: http.parse_request(b"GET /a\rb HTTP/1.1\r\nHost: x"))
    # Other bytes of a value are kept as they are.
    assert http.parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb \xc3\xa4").headers.get("X-A") == "a\tb \u00e4"


def test_http11_request_needs_exactly_one_host():
    # RFC 9112 section 3.2; HTTP/1.0 requests may go without.
    for head in (b"GET / HTTP/1.1", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b"):
        raises_status(400, lambda: http.parse_request(head))
    assert http.parse_request(b"GET / HTTP/1.1\r\nhOsT: a").headers.get("Host") == "a"
    assert http.parse_request(b"GET / HTTP/1.0").headers.get("Host") is None


def test_transfer_encoding_is_501():
    for field in (b"Transfer-Encoding: chunked", b"transfer-encoding: gzip, chunked"):
        raises_status(501, lambda: http.parse_request(b"POST / HTTP/1.1\r\nHost: h\r\n" + field + b"\r\nContent-Length: 5"))


def test_request_targets():
    def path_and_query(target):
        request = http.parse_request(b"GET " + target + b" HTTP/1.1\r\nHost: h")
        return request.path, request.query_string

    # The absolute form is accepted (RFC 9112 section 3.2.2).
    assert path_and_query(b"/a/b?c=1") == ("/a/b", "c=1")
    assert path_and_query(b"http://h:80/a/b?c=1") == ("/a/b", "c=1")
    assert path_and_query(b"ws://h") == ("/", "")
    assert path_and_query(b"http://h?q") == ("/", "q")
    for target in (b"echo", b"a/b", b"*"):
        raises_status(400, lambda: path_and_query(target))
    assert http.parse_request(b"OPTIONS * HTTP/1.1\r\nHost: h").target == "*"


def test_methods_must_be_tokens():
    raises_status(400, lambda: http.parse_request(b"G(T / HTTP/1.1\r\nHost: h"))
    assert http.parse_request(b"M-SEARCH / HTTP/1.1\r\nHost: h").method == "M-SEARCH"


def test_is_decimal_takes_ascii_digits_only():
    assert http.is_decimal("0") and http.is_decimal("1234567890")
    for text in ("", "-1", "+1", " 1", "1.0", "\u00b2", "\u0663", "1\u0663"):
        assert not http.is_decimal(text), text


def test_is_token():
    assert http.is_token("Sec-WebSocket-Key") and http.is_token("x!#$%&'*+-.^_`|~9")
    for text in ("", "a b", "a:b", "a/b", "\u00e4", "a\x7f", "a\"b", "{x}"):
        assert not http.is_token(text), text


def test_is_http11():
    for version in ("HTTP/1.1", "HTTP/1.2", "HTTP/1.9"):
        assert http.is_http11(version)
    for version in ("HTTP/1.0", "HTTP/2.0", "HTTP/1.10", "HTTP/1.x", "http/1.1", "HTTP/1."):
        assert not http.is_http11(version)


def test_parse_response():
    status, reason, headers = http.parse_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade")
    assert (status, reason) == (101, "Switching Protocols")
    assert headers.get("upgrade") == "websocket"
    assert http.parse_response(b"HTTP/1.1 500 Internal Server Error")[:2] == (500, "Internal Server Error")
    assert http.parse_response(b"HTTP/1.1 404")[:2] == (404, "")
    assert http.parse_response(b"HTTP/1.0 200 OK")[:2] == (200, "OK")
    for head in (b"", b"HTTP/1.1", b"HTTP/1.1 abc OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"FOO 200 OK", b"HTTP/1.1 101 OK\r\nbad", "HTTP/1.1 1\u00b2 OK".encode()):
        raises_status(400, lambda: http.parse_response(head))


def test_response_head():
    assert http.response_head(101, [("Upgrade", "websocket")]) == b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    assert http.response_head(404) == b"HTTP/1.1 404 Not Found\r\n\r\n"
    assert http.response_head(299) == b"HTTP/1.1 299 Unknown\r\n\r\n"
    # It parses back.
    data = http.response_head(426, [("Sec-WebSocket-Version", "13")])
    status, reason, headers = http.parse_response(data[:-4])
    assert (status, reason, headers.get("Sec-WebSocket-Version")) == (426, "Upgrade Required", "13")


# ---- Headers ---------------------------------------------------------------------------------


def test_headers_case_insensitive_with_repeats():
    headers = http.Headers([("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2"), ("SET-COOKIE", "c=3")])
    assert headers.get("set-cookie") == "a=1, b=2, c=3"
    assert headers.get("SET-cookie") == "a=1, b=2, c=3"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2", "c=3"]
    assert headers.get("host") == "x" and headers["HOST"] == "x"
    assert "hOsT" in headers and "set-cookie" in headers
    assert "Missing" not in headers
    assert headers.get("Missing") is None
    assert headers.get("Missing", "default") == "default"
    assert headers.get_all("Missing") == []
    with support.raises(KeyError):
        headers["Missing"]
    assert len(headers) == 4
    assert list(headers) == ["Set-Cookie", "Host", "set-cookie", "SET-COOKIE"]
    assert headers.items() == [("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2"), ("SET-COOKIE", "c=3")]
    headers.add("host", "y")
    assert headers.get_all("Host") == ["x", "y"]
    # An empty value is present.
    headers = http.Headers({"X-Empty": ""})
    assert "x-empty" in headers and headers.get("X-Empty") == ""
    assert len(http.Headers()) == 0


def test_header_tokens():
    assert http.header_tokens(None) == []
    assert http.header_tokens("") == []
    assert http.header_tokens("Upgrade") == ["upgrade"]
    assert http.header_tokens(" keep-alive ,Upgrade,, ") == ["keep-alive", "upgrade"]


# ---- queries ---------------------------------------------------------------------------------


def test_parse_query():
    assert http.parse_query("") == {}
    assert http.parse_query("a=1&b=2") == {"a": "1", "b": "2"}
    assert http.parse_query("q=hello+world&x=%41%42%2b&flag&empty=") == {
        "q": "hello world",
        "x": "AB+",
        "flag": "",
        "empty": "",
    }
    # A repeated name keeps its first value.
    assert http.parse_query("a=1&a=2") == {"a": "1"}
    # Percent-encoded UTF-8, names too, '=' inside a value, stray separators.
    assert http.parse_query("caf%C3%A9=%E2%82%AC&k=a=b&&") == {"caf\u00e9": "\u20ac", "k": "a=b"}
    # Malformed escapes stay as they are.
    assert http.parse_query("p=100%&q=%zz&r=%4&s=%4g&t=%") == {"p": "100%", "q": "%zz", "r": "%4", "s": "%4g", "t": "%"}
    # Escapes that decode to invalid UTF-8 leave the text undecoded.
    assert http.parse_query("b=%FF") == {"b": "%FF"}


def test_unquote():
    assert http.unquote("a%20b+c") == "a b+c"
    assert http.unquote("a%20b+c", True) == "a b c"
    assert http.unquote("%2F%2f") == "//"
    assert http.unquote("no escapes") == "no escapes"
    assert http.unquote("% 4") == "% 4"
    assert http.unquote("%-1") == "%-1"
