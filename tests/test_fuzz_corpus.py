"""Regression corpus for the parsers: classic hostile inputs and what the fuzzer turned up.

Plain tests on both interpreters (tests/test_fuzz_cpython.py, hypothesis, is CPython-only).
Every frame case is fed whole, one byte at a time, and through ``defer_errors``: the events,
the close code and the bytes written must be the same each way. Heads are fed whole and one
byte at a time.
"""

import support
from wire import raw_frame

from wscore import utf8
from wscore.errors import HandshakeError
from wscore.handshake import check_request
from wscore.http import HeadReader, parse_request
from wscore.protocol import Close, Connection, Ping, Pong

KEY = b"\x37\xfa\x21\x3d"
MIB = 1 << 20


def frame(opcode, payload=b"", fin=True, key=KEY, rsv=0, length=None):
    """A raw frame (masked with ``key`` unless None); ``length`` overrides the announced length."""
    return raw_frame(opcode, payload, fin, key, rsv, length)


def summary(events):
    out = []
    for e in events:
        if isinstance(e, Ping):
            out.append(("ping", bytes(e.data)))
        elif isinstance(e, Pong):
            out.append(("pong", bytes(e.data)))
        elif isinstance(e, Close):
            out.append(("close", e.code))
        else:
            out.append(e)
    return out


def run(data, client=False, max_size=MIB):
    """``(events, bytes written)``, the same whole, byte by byte and deferred, or AssertionError."""
    results = []
    for mode in ("whole", "bytewise", "defer"):
        conn = Connection(client=client, max_size=max_size, defer_errors=mode == "defer")
        if client:
            conn._mask_source = lambda: b"\x00\x00\x00\x00"
        pieces = [data] if mode != "bytewise" else [data[i : i + 1] for i in range(len(data))]
        events = []
        for piece in pieces:
            conn.receive_data(piece)
            events.extend(conn.events())
        if conn.pending_error is not None:
            conn.fail()
            events.extend(conn.events())
        results.append((summary(events), b"".join(bytes(b) for b in conn.data_to_send())))
    assert results[0] == results[1] == results[2], results
    return results[0]


def close_code(data, client=False, max_size=MIB):
    events = run(data, client, max_size)[0]
    closes = [e for e in events if isinstance(e, tuple) and e[0] == "close"]
    return closes[0][1] if closes else None


# ---- frames --------------------------------------------------------------------------------


def test_huge_length_closes_1009_from_the_header_alone():
    # 2^63-1 bytes announced: refused as soon as the 14 header bytes are in, nothing allocated.
    header = frame(2, length=(1 << 63) - 1)
    assert len(header) == 14
    assert close_code(header) == 1009
    assert close_code(frame(1, length=MIB + 1)) == 1009
    assert close_code(frame(2, length=65535), max_size=1000) == 1009
    # Exactly max_size is fine (announced, not yet sent: no event).
    assert run(frame(2, length=MIB))[0] == []


def test_length_with_top_bit_set_is_1002_whatever_max_size():
    for n in (1 << 63, (1 << 64) - 1):
        for max_size in (MIB, None):
            assert close_code(frame(2, length=n), max_size=max_size) == 1002
            assert close_code(frame(2, length=n, key=None), client=True, max_size=max_size) == 1002


def test_huge_length_without_max_size_waits_and_keeps_nothing():
    conn = Connection(max_size=None)
    conn.receive_data(frame(2, length=(1 << 63) - 1) + b"abcd")
    assert conn.events() == [] and conn.state == 1
    assert conn._message_size == 4  # what arrived, not what was announced


def test_fragments_add_up_to_max_size():
    first = frame(2, b"a" * 600, fin=False)
    assert close_code(first + frame(0, length=500, fin=True), max_size=1000) == 1009
    events = run(first + frame(0, b"b" * 400), max_size=1000)[0]
    assert events == [b"a" * 600 + b"b" * 400]


def test_many_empty_fragments_make_one_empty_message():
    data = frame(1, b"", fin=False) + frame(0, b"", fin=False) * 2000 + frame(0, b"")
    assert run(data)[0] == [""]


def test_ping_flood_in_one_chunk_is_answered_pong_for_pong():
    pings = b"".join(frame(9, b"%d" % i) for i in range(500))
    events, out = run(pings)
    assert events == [("ping", b"%d" % i) for i in range(500)]
    assert out == b"".join(frame(10, b"%d" % i, key=None) for i in range(500))


def test_control_frames_inside_a_fragmented_message():
    data = frame(1, "κό".encode(), fin=False) + frame(9, b"p") + frame(10, b"q") + frame(0, "σμε".encode())
    assert run(data)[0] == [("ping", b"p"), ("pong", b"q"), "κόσμε"]


def test_control_frame_limits():
    assert run(frame(9, b"x" * 125))[0] == [("ping", b"x" * 125)]
    assert close_code(frame(9, b"x" * 126)) == 1002
    assert close_code(frame(9, b"x", fin=False)) == 1002
    for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        assert close_code(frame(opcode, b"x")) == 1002, opcode
    for rsv in (0x10, 0x20, 0x40):
        assert close_code(frame(1, b"x", rsv=rsv)) == 1002


def test_masking_direction():
    assert close_code(frame(1, b"x", key=None)) == 1002  # unmasked to a server
    assert close_code(frame(1, b"x"), client=True) == 1002  # masked to a client
    assert run(frame(1, b"x", key=None), client=True)[0] == ["x"]


def test_message_order_rules():
    assert close_code(frame(0, b"x")) == 1002  # continuation of nothing
    assert close_code(frame(1, b"a", fin=False) + frame(1, b"b")) == 1002  # new message mid-message
    assert close_code(frame(1, b"a", fin=False) + frame(2, b"b")) == 1002


def test_classic_invalid_utf8_fails_with_1007_at_once():
    cases = [
        b"\xc0\xaf",  # overlong '/'
        b"\xe0\x80\xaf",
        b"\xf0\x80\x80\xaf",
        b"\xf8\x88\x80\x80\xaf",  # 5-byte form
        b"\xed\xa0\x80",  # high surrogate
        b"\xed\xbf\xbf",  # low surrogate
        b"\xf4\x90\x80\x80",  # above U+10FFFF
        b"\xfe",
        b"\xff",
        b"\x80",
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # Autobahn 6.4
    ]
    for bad in cases:
        assert close_code(frame(1, bad)) == 1007, bad
        assert close_code(frame(1, bad, key=None), client=True) == 1007, bad
        # Split in two fragments after each byte: still 1007, and before the message ends.
        for i in range(1, len(bad)):
            assert close_code(frame(1, bad[:i], fin=False) + frame(0, bad[i:])) == 1007, (bad, i)
    assert run(frame(1, b"\xf4\x8f\xbf\xbf"))[0] == ["\U0010ffff"]


def test_surrogate_fails_at_its_second_byte_before_the_frame_ends():
    # Only ED A0 of a 1000-byte frame has arrived: the connection fails now, not at the end.
    data = frame(1, b"ok" + b"\xed\xa0\x80" + b"x" * 995)
    assert data[1] & 0x7F == 126
    cut = 8 + 2 + 2  # header (2 + 16-bit length + mask key), 'ok', ED A0
    assert close_code(data[:cut]) == 1007
    assert close_code(data[: cut - 1]) is None


def test_close_frame_edges():
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        assert close_code(frame(8, code.to_bytes(2, "big"))) == 1002, code
    for code in (1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999):
        events, out = run(frame(8, code.to_bytes(2, "big") + b"bye"))
        assert events == [("close", code)]
        assert out == frame(8, code.to_bytes(2, "big"), key=None)  # echoed, without the reason
    assert close_code(frame(8, b"\x03")) == 1002  # 1-byte payload
    assert close_code(frame(8, b"\x03\xe8\xff")) == 1002  # reason not UTF-8
    assert close_code(frame(8, b"\x03\xe8\xed\xa0\x80")) == 1002  # surrogate in the reason
    assert run(frame(8))[0] == [("close", 1005)]


def test_nothing_after_a_close_frame_counts():
    data = frame(8, b"\x03\xe8") + frame(1, b"after") + frame(0xF, b"garbage") + b"\xff" * 20
    assert run(data)[0] == [("close", 1000)]


def test_message_then_bad_frame_in_one_chunk():
    data = frame(1, b"first") + frame(9, b"p") + frame(1, b"x", rsv=0x40) + frame(1, b"never")
    events, out = run(data)
    assert events == ["first", ("ping", b"p"), ("close", 1002)]
    assert out.startswith(frame(10, b"p", key=None))


def test_random_garbage_after_the_handshake():
    # An HTTP request sent where frames are expected (a confused or scanning client).
    assert close_code(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 1002
    assert close_code(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 1002  # a TLS ClientHello


# ---- UTF-8 validator ---------------------------------------------------------------------------


def test_validators_agree_on_the_classics():
    cases = [
        (b"", True),
        (b"\x7f", True),
        (b"\xc2\x80", True),
        (b"\xdf\xbf", True),
        (b"\xe0\xa0\x80", True),
        (b"\xed\x9f\xbf", True),
        (b"\xee\x80\x80", True),
        (b"\xef\xbf\xbf", True),
        (b"\xf0\x90\x80\x80", True),
        (b"\xf4\x8f\xbf\xbf", True),
        (b"\xc1\xbf", False),
        (b"\xe0\x9f\xbf", False),
        (b"\xed\xa0\x80", False),
        (b"\xf0\x8f\xbf\xbf", False),
        (b"\xf4\x90\x80\x80", False),
        (b"\xf5\x80\x80\x80", False),
        (b"\xc2", False),
        (b"\xe0\xa0", False),
        (b"\xf0\x90\x80", False),
        (b"a\x80b", False),
    ]
    for data, valid in cases:
        assert utf8.is_valid_utf8(data) == valid, data
        assert utf8.dfa_is_valid_utf8(data) == valid, data
        v = utf8.Utf8Validator()
        ok = True
        for i in range(len(data)):
            ok = v.feed(data[i : i + 1])
            if not ok:
                break
        assert (ok and v.finish()) == valid, data


# ---- request heads ---------------------------------------------------------------------------

GOOD = [
    "GET /chat HTTP/1.1",
    "Host: example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


def head(lines, end=b"\r\n\r\n"):
    return "\r\n".join(lines).encode() + end


def handshake(data, max_size=8192):
    """('ok', key) / ('error', status) / ('incomplete',): the same whole and byte by byte."""
    outcomes = []
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        reader = HeadReader(max_size, max_size // 2)
        try:
            done = False
            for piece in pieces:
                if reader.feed(piece):
                    done = True
                    break
            if not done:
                outcomes.append(("incomplete",))
                continue
            key, _ = check_request(parse_request(reader.head))
            outcomes.append(("ok", key))
        except HandshakeError as exc:
            outcomes.append(("error", exc.status))
    assert outcomes[0] == outcomes[1], outcomes
    return outcomes[0]


def test_valid_head_and_exact_size_limit():
    data = head(GOOD)
    assert handshake(data) == ("ok", "dGhlIHNhbXBsZSBub25jZQ==")
    assert handshake(data, max_size=len(data)) == ("ok", "dGhlIHNhbXBsZSBub25jZQ==")
    assert handshake(data, max_size=len(data) - 1) == ("error", 431)


def test_bare_lf_line_ends_are_refused_at_once():
    # RFC 9112 2.2 lets a server read a bare LF as a line end; we refuse such a head with 400
    # as soon as its blank line comes, instead of waiting for a CRLF CRLF that never comes.
    assert handshake(head(GOOD, b"\n\n").replace(b"\r\n", b"\n")) == ("error", 400)
    assert handshake(head(GOOD, b"\r\n\n")) == ("error", 400)
    assert handshake(head(GOOD).replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\n")) == ("error", 400)


def test_malformed_header_lines_are_400():
    for bad in ("NoColon", " Folded: continuation", "Space : before", ": empty-name", "\tTab: lead"):
        assert handshake(head(GOOD[:2] + [bad] + GOOD[2:])) == ("error", 400), bad
    assert handshake(head(["GET  /chat HTTP/1.1"] + GOOD[1:])) == ("error", 400)
    assert handshake(head(["GET /chat"] + GOOD[1:])) == ("error", 400)
    assert handshake(head(["GET /chat FTP/1.1"] + GOOD[1:])) == ("error", 400)
    assert handshake(head(GOOD).replace(b"example", b"ex\x00ample")) == ("error", 400)


def test_field_values_that_are_not_utf8_are_read_as_latin1():
    # RFC 9110 section 5.5: node's ws and tornado send such bytes; websockets and aiohttp take them.
    data = head(GOOD + ["X-Name: Jos\u00e9"]).replace("Jos\u00e9".encode("utf-8"), b"Jos\xe9")
    assert handshake(data) == ("ok", "dGhlIHNhbXBsZSBub25jZQ==")
    assert parse_request(data[:-4]).headers.get("X-Name") == "Jos\u00e9"
    # Only this line is Latin-1: the request line, in UTF-8, is read as UTF-8 all the same.
    data = head(["GET /caf\u00e9 HTTP/1.1"] + GOOD[1:] + ["X-Name: Jos\u00e9"]).replace("Jos\u00e9".encode("utf-8"), b"Jos\xe9")
    assert parse_request(data[:-4]).path == "/caf\u00e9"
    # Optional whitespace is a space or a tab (RFC 9110 5.6.3), not NEL or NBSP (Latin-1 0x85, 0xA0).
    for byte in (b"\x85", b"\xa0"):
        request = parse_request(head(GOOD + ["Content-Length: 5"])[:-4] + byte)
        assert request.headers.get("Content-Length") == "5" + chr(byte[0])  # not a decimal: 400
    # A non-canonical key (unused low bits set in its last character) is still 16 bytes.
    assert handshake(head(GOOD).replace(b"Q==", b"R==")) == ("ok", "dGhlIHNhbXBsZSBub25jZR==")


def test_head_limits():
    assert handshake(head(["GET /" + "a" * 4096 + " HTTP/1.1"] + GOOD[1:])) == ("error", 414)
    assert handshake(head(GOOD + ["X-Big: " + "b" * 4096])) == ("error", 431)
    many = ["X-%d: v" % i for i in range(100)]
    assert handshake(head(GOOD[:1] + many[: 100 - len(GOOD) + 1] + GOOD[1:]))[0] == "ok"
    assert handshake(head(GOOD + many)) == ("error", 431)
    # An endless header line is refused once it passes the line limit, long before its end.
    reader = HeadReader(8192, 4096)
    reader.feed(head(GOOD[:1], b"\r\nX: "))
    with support.raises(HandshakeError) as caught:
        for _ in range(100):
            reader.feed(b"z" * 100)
    assert caught.value.status == 431


def test_upgrade_field_abuse():
    key = "Sec-WebSocket-Key: "
    for bad in ("dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ÿÿÿÿ", "!!!!!!!!!!!!!!!!!!!!!!!!"):
        assert handshake(head(GOOD[:4] + [key + bad] + GOOD[5:])) == ("error", 400), bad
    # Two keys are joined into one value: invalid.
    assert handshake(head(GOOD + [GOOD[4]])) == ("error", 400)
    assert handshake(head(GOOD + ["Sec-WebSocket-Version: 8"])) == ("error", 426)
    assert handshake(head([GOOD[0]] + GOOD[2:])) == ("error", 400)  # no Host
    assert handshake(head(["get /chat HTTP/1.1"] + GOOD[1:])) == ("error", 405)
    assert handshake(head(["GET /chat HTTP/1.0"] + GOOD[1:])) == ("error", 400)
    assert handshake(head(GOOD[:2] + GOOD[3:])) == ("error", 426)  # no Upgrade


def test_pipelined_bytes_stay_after_the_head():
    data = head(GOOD) + b"GET /again HTTP/1.1\r\n\r\n" + frame(1, b"hi")
    reader = HeadReader()
    assert reader.feed(data)
    assert reader.rest == data[len(head(GOOD)) :]


def test_a_message_sent_a_byte_at_a_time_is_not_held_an_object_per_byte():
    # 1-byte fragments, and one frame arriving in 1-byte reads: both once kept an object per
    # byte (~40 times the message's size in memory, a cheap amplification for a peer).
    n = 20000
    conn = Connection()
    conn.receive_data(frame(2, b"a", fin=False))
    piece = frame(0, b"b", fin=False)
    for _ in range(n):
        conn.receive_data(piece)
    assert len(conn._parts) <= 2 + n // 4096
    conn.receive_data(frame(0, b"c"))
    assert conn.events() == [b"a" + b"b" * n + b"c"]

    text = ("é" * (n // 2)).encode()
    data = frame(1, text)
    conn = Connection()
    conn.receive_data(data[:8])
    for i in range(8, len(data)):
        conn.receive_data(data[i : i + 1])
        if i == len(data) - 2:
            assert len(conn._parts) <= 2 + n // 4096
    assert conn.events() == ["é" * (n // 2)]
