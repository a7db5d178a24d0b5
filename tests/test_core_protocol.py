"""The Connection state machine (RFC 6455 sections 5 to 7): chunking, protocol rules, closing."""

import support
from wire import raw_frame, xor

from wscore import protocol
from wscore.constants import CLOSED, CLOSING, OPEN
from wscore.errors import ConnectionClosed, ConnectionClosedError, ProtocolError

KEY = b"\x37\xfa\x21\x3d"
KEY2 = b"\x00\xff\x80\x01"


# ---- a reference encoder and decoder, independent of wscore.frames ---------------------------

frame = raw_frame  # tests/wire.py: built by hand, byte by byte


def cframe(opcode, payload=b"", fin=True, **kw):
    """A frame as a client sends it (masked), for a server Connection."""
    return frame(opcode, payload, fin, KEY, **kw)


def close_payload(code, reason=b""):
    return code.to_bytes(2, "big") + reason


def parse_frames(data):
    """``[(fin, opcode, payload, masked)]`` for the frames in ``data``; all of it must be used."""
    out = []
    i = 0
    while i < len(data):
        b0 = data[i]
        b1 = data[i + 1]
        assert b0 & 0x70 == 0
        n = b1 & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(data[i : i + 2], "big")
            i += 2
        elif n == 127:
            n = int.from_bytes(data[i : i + 8], "big")
            i += 8
        key = None
        if b1 & 0x80:
            key = data[i : i + 4]
            i += 4
        payload = data[i : i + n]
        assert len(payload) == n
        i += n
        if key is not None:
            payload = xor(payload, key)
        out.append((bool(b0 & 0x80), b0 & 0x0F, payload, key is not None))
    return out


def sent(conn):
    return b"".join([bytes(b) for b in conn.data_to_send()])


def sent_frames(conn):
    return parse_frames(sent(conn))


def norm(events):
    """Events as comparable tuples."""
    out = []
    for e in events:
        if isinstance(e, str):
            out.append(("text", e))
        elif isinstance(e, (bytes, bytearray)):
            out.append(("binary", bytes(e)))
        elif isinstance(e, protocol.Ping):
            out.append(("ping", bytes(e.data)))
        elif isinstance(e, protocol.Pong):
            out.append(("pong", bytes(e.data)))
        elif isinstance(e, protocol.Close):
            out.append(("close", e.code, e.reason))
        else:
            raise AssertionError("unknown event %r" % (e,))
    return out


def server():
    return protocol.Connection(client=False)


def client():
    return protocol.Connection(client=True)


def assert_failed(conn, code, client_side=False):
    """The connection failed with ``code``: CLOSED, error set, one close frame with ``code`` sent."""
    assert conn.state == CLOSED
    assert conn.error is not None
    assert isinstance(conn.error, ProtocolError)
    assert conn.error.code == code
    assert conn.close_code == code
    events = conn.events()
    assert len(events) >= 1
    last = events[-1]
    assert isinstance(last, protocol.Close)
    assert last.code == code
    frames = sent_frames(conn)
    assert len(frames) == 1, frames
    fin, opcode, payload, masked = frames[0]
    assert fin and opcode == 0x8
    assert masked == client_side
    assert int.from_bytes(payload[:2], "big") == code
    assert len(payload) <= 125
    return events


def assert_dead(conn):
    """A failed connection ignores input and refuses to send."""
    conn.receive_data(cframe(0x1, b"late") + frame(0x1, b"late"))
    assert conn.events() == []
    assert conn.data_to_send() == []
    assert conn.state == CLOSED
    for send in (
        lambda: conn.send_text("x"),
        lambda: conn.send_binary(b"x"),
        lambda: conn.send_ping(b""),
        lambda: conn.send_pong(b""),
        lambda: conn.send_message("x"),
    ):
        with support.raises(ConnectionClosed) as info:
            send()
        assert info.value.code == conn.close_code
    # A close after the end changes nothing.
    conn.send_close(1000)
    assert conn.data_to_send() == []


def outcome(conn):
    """Events and the bytes to send (a server's replies are deterministic)."""
    return norm(conn.events()), sent(conn)


def outcome_unmasked(conn):
    """Events and the frames to send, unmasked (a client masks with random keys)."""
    return norm(conn.events()), sent_frames(conn)


def stream_to_server():
    """A client's byte stream: every kind of frame, a fragmented message with a ping inside."""
    return b"".join(
        [
            cframe(0x1, b"Hello"),
            frame(0x2, bytes(range(200)) * 2, True, KEY2),  # 16-bit length, another key
            cframe(0x1, "caf\u00e9 ".encode("utf-8"), False),
            cframe(0x9, b"ping in the middle"),
            cframe(0x0, b"\xe2\x82", False),  # euro sign split across fragments
            cframe(0x0, b"\xac \xf0\x9f", False),  # and a 4-byte one too
            cframe(0xA, b"unsolicited pong"),
            cframe(0x0, b"\x98\x80!", True),
            cframe(0x2, b""),
            cframe(0x1, b""),
            cframe(0x2, b"ab", False),
            cframe(0x0, b"", False),
            cframe(0x0, b"cd", True),
            cframe(0x9, b""),
            cframe(0x8, close_payload(1000, b"bye")),
        ]
    )


EXPECTED_SERVER_EVENTS = [
    ("text", "Hello"),
    ("binary", bytes(range(200)) * 2),
    ("ping", b"ping in the middle"),
    ("pong", b"unsolicited pong"),
    ("text", "caf\u00e9 \u20ac \U0001f600!"),
    ("binary", b""),
    ("text", ""),
    ("binary", b"abcd"),
    ("ping", b""),
    ("close", 1000, "bye"),
]


def feed_scratch(conn, data, step):
    """Feed ``data`` as a reader with one reused buffer does: each chunk copied into the buffer
    and passed with ``scratch=True``, then the buffer overwritten (what a view kept would change)."""
    buffer = bytearray(step)
    view = memoryview(buffer)
    for i in range(0, len(data), step):
        chunk = data[i : i + step]
        buffer[: len(chunk)] = chunk
        conn.receive_data(view[: len(chunk)], True)
        buffer[:] = b"\xaa" * step


def check_all_splits(make, data, expected_events=None, result=outcome):
    """Feed ``data`` whole, in two chunks at every boundary, byte by byte and as views/bytearrays."""
    conn = make()
    conn.receive_data(data)
    whole = result(conn)
    if expected_events is not None:
        assert whole[0] == expected_events, whole[0]
    for cut in range(len(data) + 1):
        conn = make()
        conn.receive_data(data[:cut])
        conn.receive_data(data[cut:])
        assert result(conn) == whole, cut
    conn = make()
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
    assert result(conn) == whole
    # memoryview slices of one buffer, in uneven steps, and fresh bytearrays.
    view = memoryview(data)
    for step in (1, 2, 3, 7, 13, 64):
        conn = make()
        i = 0
        while i < len(data):
            conn.receive_data(view[i : i + step])
            i += step
        assert result(conn) == whole, step
        conn = make()
        i = 0
        while i < len(data):
            conn.receive_data(bytearray(data[i : i + step]))
            i += step
        assert result(conn) == whole, step
    # Through a reader's reused buffer, which the parser may unmask in place.
    for step in (1, 3, 64, max(len(data), 1)):
        conn = make()
        feed_scratch(conn, data, step)
        assert result(conn) == whole, ("scratch", step)
    # Empty chunks change nothing.
    conn = make()
    conn.receive_data(b"")
    conn.receive_data(data)
    conn.receive_data(b"")
    assert result(conn) == whole
    return whole


def test_chunking_server_stream():
    events, out = check_all_splits(server, stream_to_server(), EXPECTED_SERVER_EVENTS)
    # Two pongs, then the close echo.
    assert parse_frames(out) == [
        (True, 0xA, b"ping in the middle", False),
        (True, 0xA, b"", False),
        (True, 0x8, b"\x03\xe8", False),
    ]


def test_chunking_client_stream():
    data = b"".join(
        [
            frame(0x1, "\u00e9t\u00e9".encode("utf-8")),
            frame(0x2, bytes(range(256)) * 2),
            frame(0x1, b"frag", False),
            frame(0x9, b"p"),
            frame(0x0, b"ment", True),
            frame(0x8, b""),
        ]
    )
    events, frames = check_all_splits(client, data, None, outcome_unmasked)
    assert events == [
        ("text", "\u00e9t\u00e9"),
        ("binary", bytes(range(256)) * 2),
        ("ping", b"p"),
        ("text", "fragment"),
        ("close", 1005, ""),
    ]
    # The client masks its replies with random keys: they are compared unmasked.
    assert frames == [(True, 0xA, b"p", True), (True, 0x8, b"", True)]


def test_chunking_64_bit_length_frame():
    big = bytes(range(256)) * 300  # 76800 bytes: a 64-bit length
    data = frame(0x9, b"a") + frame(0x2, big) + frame(0x1, b"z")
    conn = client()
    conn.receive_data(data)
    whole = outcome_unmasked(conn)
    assert whole[0] == [("ping", b"a"), ("binary", big), ("text", "z")]
    cuts = list(range(0, 24)) + list(range(len(data) - 8, len(data) + 1)) + [1000, 40000, 65536, 76000]
    for cut in cuts:
        conn = client()
        conn.receive_data(memoryview(data)[:cut])
        conn.receive_data(memoryview(data)[cut:])
        assert outcome_unmasked(conn) == whole, cut
    # Byte by byte through the headers, in reads of 4093 bytes through the payload.
    conn = client()
    i = 0
    while i < len(data):
        step = 4093 if 20 < i < len(data) - 20 else 1
        conn.receive_data(data[i : i + step])
        i += step
    assert outcome_unmasked(conn) == whole


def test_chunking_failure_is_the_same_at_every_split():
    # Valid messages, then a text frame with an invalid byte in the middle, then more frames.
    data = cframe(0x1, b"ok") + cframe(0x9, b"x") + cframe(0x1, b"abc\xffdef") + cframe(0x1, b"never")
    events, out = check_all_splits(server, data)
    assert events[:2] == [("text", "ok"), ("ping", b"x")]
    assert events[2][:2] == ("close", 1007)
    assert len(events) == 3
    frames = parse_frames(out)
    assert frames[0] == (True, 0xA, b"x", False)
    assert frames[1][1] == 0x8 and frames[1][2][:2] == b"\x03\xef"
    # A protocol error in a header split over chunks.
    data = cframe(0x2, b"ok") + cframe(0x2, b"x" * 300, rsv=0x40)
    events, out = check_all_splits(server, data)
    assert events[0] == ("binary", b"ok")
    assert events[1][:2] == ("close", 1002)


def test_a_scratch_buffer_is_unmasked_in_place_and_the_message_copied_once():
    data = cframe(0x2, b"binary!") + cframe(0x1, "t\u00e9".encode("utf-8"))
    buffer = bytearray(data)
    conn = server()
    conn.receive_data(memoryview(buffer), True)
    events = conn.events()
    assert type(events[0]) is bytes and events[0] == b"binary!"
    assert type(events[1]) is str and events[1] == "t\u00e9"
    assert buffer[6:13] == b"binary!"  # unmasked where it arrived: no buffer of its own
    # Without scratch the caller's buffer is never written to.
    buffer = bytearray(data)
    conn = server()
    conn.receive_data(memoryview(buffer))
    assert buffer == data
    assert norm(conn.events()) == [("binary", b"binary!"), ("text", "t\u00e9")]


def test_chunk_with_several_messages_and_leftover_header():
    conn = server()
    data = cframe(0x1, b"one") + cframe(0x1, b"two") + cframe(0x1, b"three")
    conn.receive_data(data + cframe(0x2, b"four")[:3])
    assert norm(conn.events()) == [("text", "one"), ("text", "two"), ("text", "three")]
    conn.receive_data(cframe(0x2, b"four")[3:])
    assert norm(conn.events()) == [("binary", b"four")]


def test_max_events_stops_parsing_and_the_rest_is_fed_again():
    # A reader whose queue is full takes no more events: one chunk of many small frames must
    # not become as many objects at once. What was not taken yields the same events later.
    frames = [cframe(0x1, ("m%d" % i).encode()) for i in range(10)] + [cframe(0x9, b"p"), cframe(0x8, close_payload(1000))]
    data = b"".join(frames)
    conn = protocol.Connection(max_events=3)
    taken = conn.receive_data(data)
    assert taken == sum(len(f) for f in frames[:3]), taken
    assert norm(conn.events()) == [("text", "m0"), ("text", "m1"), ("text", "m2")]
    rest = data[taken:]
    events = []
    conn.max_events = 4  # what a reader that caught up does
    while rest:
        taken = conn.receive_data(rest)
        assert 0 < taken <= len(rest)
        batch = conn.events()
        assert len(batch) <= 4, batch
        events.extend(batch)
        rest = rest[taken:]
    whole = server()
    assert whole.receive_data(data) == len(data)
    assert norm(events) == norm(whole.events())[3:]
    assert conn.data_to_send() == whole.data_to_send()  # the pong and the close reply
    # A frame split by the chunk's end is taken whole (its header kept) when there is room.
    conn = protocol.Connection(max_events=1)
    assert conn.receive_data(data[:5]) == 5
    assert conn.receive_data(data[5:]) == len(frames[0]) - 5
    assert norm(conn.events()) == [("text", "m0")]


def test_received_data_is_copied_out_of_the_chunk():
    # The caller may reuse its receive buffer: events must not alias it.
    buf = bytearray(frame(0x2, b"abcd", False) + frame(0x0, b"efgh"))
    conn = client()
    conn.receive_data(memoryview(buf)[:6])
    buf[2:6] = b"XXXX"
    conn.receive_data(memoryview(buf)[6:])
    assert conn.events() == [b"abcdefgh"]
    buf = bytearray(frame(0x2, b"abcd"))
    conn = client()
    conn.receive_data(buf)
    events = conn.events()
    buf[2:6] = b"XXXX"
    assert events == [b"abcd"]


# ---- protocol rules: each failure closes with the right code ---------------------------------


def test_rsv_bits_fail_with_1002():
    for rsv in (0x40, 0x20, 0x10, 0x70):
        for opcode in (0x1, 0x2, 0x9):
            conn = server()
            conn.receive_data(cframe(opcode, b"x", rsv=rsv))
            events = assert_failed(conn, 1002)
            assert len(events) == 1
            assert_dead(conn)
    # On a continuation frame too.
    conn = server()
    conn.receive_data(cframe(0x1, b"a", False) + cframe(0x0, b"b", rsv=0x40))
    assert_failed(conn, 1002)


def test_reserved_opcodes_fail_with_1002():
    for opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        for make, client_side in ((server, False), (client, True)):
            conn = make()
            data = frame(opcode, b"", True, None if client_side else KEY)
            conn.receive_data(data)
            events = assert_failed(conn, 1002, client_side)
            assert len(events) == 1, opcode
            assert_dead(conn)


def test_control_frame_longer_than_125_fails_with_1002():
    for opcode in (0x8, 0x9, 0xA):
        conn = server()
        conn.receive_data(cframe(opcode, b"x" * 126))
        assert_failed(conn, 1002)
    # 125 is allowed.
    conn = server()
    conn.receive_data(cframe(0x9, b"x" * 125))
    assert norm(conn.events()) == [("ping", b"x" * 125)]
    assert sent_frames(conn) == [(True, 0xA, b"x" * 125, False)]
    assert conn.state == OPEN
    # Failed on the header alone, before any payload arrives.
    conn = server()
    conn.receive_data(cframe(0x9, b"x" * 126)[:4])
    assert_failed(conn, 1002)


def test_fragmented_control_frame_fails_with_1002():
    for opcode in (0x8, 0x9, 0xA):
        conn = server()
        conn.receive_data(cframe(opcode, b"x", False))
        assert_failed(conn, 1002)


def test_unmasked_frame_to_server_fails_with_1002():
    for opcode in (0x1, 0x2, 0x9, 0x8):
        conn = server()
        conn.receive_data(frame(opcode, b"ab"))
        assert_failed(conn, 1002)
        assert_dead(conn)


def test_masked_frame_to_client_fails_with_1002():
    for opcode in (0x1, 0x2, 0x9, 0x8):
        conn = client()
        conn.receive_data(frame(opcode, b"\x03\xe8", True, KEY))
        assert_failed(conn, 1002, True)
        assert_dead(conn)


def test_continuation_without_start_fails_with_1002():
    for fin in (True, False):
        conn = server()
        conn.receive_data(cframe(0x0, b"abc", fin))
        assert_failed(conn, 1002)
    # Also right after a complete message.
    conn = server()
    conn.receive_data(cframe(0x1, b"done") + cframe(0x0, b"more"))
    events = assert_failed(conn, 1002)
    assert norm(events[:1]) == [("text", "done")]


def test_new_data_frame_during_fragmented_message_fails_with_1002():
    for first, second in ((0x1, 0x1), (0x1, 0x2), (0x2, 0x1), (0x2, 0x2)):
        for fin in (True, False):
            conn = server()
            conn.receive_data(cframe(first, b"abc", False) + cframe(second, b"def", fin))
            events = assert_failed(conn, 1002)
            assert len(events) == 1


def test_64_bit_length_with_top_bit_fails_with_1002():
    for top in (b"\x80", b"\xff"):
        header = b"\x82\xff" + top + b"\x00" * 7 + KEY
        conn = protocol.Connection(client=False, max_size=None)
        conn.receive_data(header)
        assert_failed(conn, 1002)


def test_message_too_big_fails_with_1009_before_payload():
    # A header announcing 2**63 - 1 bytes is refused on sight.
    header = b"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff" + KEY
    conn = server()
    conn.receive_data(header)
    events = assert_failed(conn, 1009)
    assert norm(events) == [("close", 1009, events[0].reason)]
    # Payload bytes that follow are ignored, nothing is kept.
    conn.receive_data(b"\x00" * 1000)
    assert conn.events() == [] and conn.data_to_send() == []
    # Just over the limit, the header alone suffices.
    conn = protocol.Connection(client=False, max_size=100)
    conn.receive_data(cframe(0x2, b"x" * 101)[:8])
    assert_failed(conn, 1009)
    # Exactly at the limit is fine.
    conn = protocol.Connection(client=False, max_size=100)
    conn.receive_data(cframe(0x2, b"x" * 100))
    assert conn.events() == [b"x" * 100]
    assert conn.state == OPEN


def test_fragmented_message_over_max_size_fails_with_1009():
    conn = protocol.Connection(client=False, max_size=10)
    conn.receive_data(cframe(0x1, b"123456", False))
    assert conn.events() == []
    second = cframe(0x0, b"789ab", True)
    conn.receive_data(second[:6])  # header only: 6 + 5 > 10 is known already
    events = assert_failed(conn, 1009)
    assert len(events) == 1
    assert_dead(conn)
    # A control frame in the middle does not count towards the size.
    conn = protocol.Connection(client=False, max_size=10)
    conn.receive_data(cframe(0x1, b"12345", False) + cframe(0x9, b"x" * 100) + cframe(0x0, b"67890"))
    assert norm(conn.events()) == [("ping", b"x" * 100), ("text", "1234567890")]
    # The size is per message: the next message starts from zero.
    conn.receive_data(cframe(0x2, b"abcdefghij"))
    assert conn.events() == [b"abcdefghij"]
    # Many empty or small fragments adding up.
    conn = protocol.Connection(client=False, max_size=10)
    data = cframe(0x2, b"", False)
    for i in range(10):
        data += cframe(0x0, b"x", False)
    conn.receive_data(data)
    assert conn.events() == [] and conn.state == OPEN
    conn.receive_data(cframe(0x0, b"y", True))
    assert_failed(conn, 1009)


def test_max_size_none_is_unlimited():
    # A header announcing 2**62 bytes is accepted and its payload streamed in.
    conn = protocol.Connection(client=False, max_size=None)
    conn.receive_data(b"\x82\xff\x40" + b"\x00" * 7 + KEY + b"\x00" * 1000)
    assert conn.events() == [] and conn.data_to_send() == []
    assert conn.state == OPEN
    # The default refuses it.
    conn = protocol.Connection(client=False)
    conn.receive_data(b"\x82\xff\x40" + b"\x00" * 7 + KEY)
    assert_failed(conn, 1009)
    # A message larger than a small default bound arrives whole with None.
    payload = bytes(range(256)) * 800  # 200 KiB
    conn = protocol.Connection(client=False, max_size=None)
    conn.receive_data(cframe(0x2, payload[:100000], False) + cframe(0x0, payload[100000:]))
    events = conn.events()
    assert len(events) == 1 and events[0] == payload


def test_failure_on_client_side_sends_masked_close():
    conn = client()
    conn.receive_data(frame(0x2, b"x", rsv=0x40))
    assert_failed(conn, 1002, True)
    assert_dead(conn)


def test_failure_after_our_close_sends_nothing_more():
    conn = server()
    conn.send_close(1000, "done")
    assert sent_frames(conn) == [(True, 0x8, b"\x03\xe8done", False)]
    assert conn.state == CLOSING
    conn.receive_data(cframe(0x5, b""))
    assert conn.state == CLOSED
    assert conn.error is not None and conn.error.code == 1002
    assert norm(conn.events())[-1][:2] == ("close", 1002)
    assert conn.data_to_send() == []


def test_error_reason_fits_in_a_close_frame():
    conn = server()
    conn.receive_data(cframe(0x8, close_payload(999)))
    events = assert_failed(conn, 1002)
    assert events[0].reason == str(conn.error)


# ---- control frames and the closing handshake ------------------------------------------------


def test_ping_is_answered_with_pong_by_server():
    for payload in (b"", b"hi", bytes(range(125))):
        conn = server()
        conn.receive_data(cframe(0x9, payload))
        events = conn.events()
        assert len(events) == 1 and isinstance(events[0], protocol.Ping)
        assert events[0].data == payload
        assert sent_frames(conn) == [(True, 0xA, payload, False)]
        assert conn.state == OPEN


def test_ping_is_answered_with_masked_pong_by_client():
    conn = client()
    conn.receive_data(frame(0x9, b"hello"))
    assert norm(conn.events()) == [("ping", b"hello")]
    raw = sent(conn)
    assert raw[0] == 0x8A and raw[1] == 0x85
    assert parse_frames(raw) == [(True, 0xA, b"hello", True)]


def test_no_pong_after_our_close():
    for make in (server, client):
        conn = make()
        conn.send_close(1000)
        conn.data_to_send()
        data = cframe(0x9, b"late ping") if make is server else frame(0x9, b"late ping")
        conn.receive_data(data)
        assert norm(conn.events()) == [("ping", b"late ping")]
        assert conn.data_to_send() == []
        assert conn.state == CLOSING


def test_pong_event():
    conn = server()
    conn.receive_data(cframe(0xA, b"pong data"))
    assert norm(conn.events()) == [("pong", b"pong data")]
    assert conn.data_to_send() == []
    conn = client()
    conn.receive_data(frame(0xA, b""))
    assert norm(conn.events()) == [("pong", b"")]


def test_peer_closes_with_code_and_reason():
    conn = server()
    conn.receive_data(cframe(0x8, close_payload(1001, "au revoir \u00e9".encode("utf-8"))))
    assert norm(conn.events()) == [("close", 1001, "au revoir \u00e9")]
    assert conn.state == CLOSED
    assert conn.close_code == 1001 and conn.close_reason == "au revoir \u00e9"
    assert conn.close_received and conn.close_sent
    assert conn.error is None
    assert sent_frames(conn) == [(True, 0x8, b"\x03\xe9", False)]
    with support.raises(ConnectionClosed) as info:
        conn.send_text("too late")
    assert info.value.code == 1001
    # Client side: the echo is masked.
    conn = client()
    conn.receive_data(frame(0x8, close_payload(4000, b"app")))
    assert norm(conn.events()) == [("close", 4000, "app")]
    assert sent_frames(conn) == [(True, 0x8, b"\x0f\xa0", True)]
    with support.raises(ConnectionClosedError):
        conn.send_binary(b"x")


def test_peer_closes_without_code():
    conn = server()
    conn.receive_data(cframe(0x8, b""))
    assert norm(conn.events()) == [("close", 1005, "")]
    assert conn.state == CLOSED and conn.close_code == 1005
    assert sent_frames(conn) == [(True, 0x8, b"", False)]


def test_we_close_first():
    conn = server()
    conn.send_close(1000, "bye")
    assert conn.state == CLOSING and conn.close_sent
    assert sent_frames(conn) == [(True, 0x8, b"\x03\xe8bye", False)]
    assert conn.events() == []
    # Nothing can be sent now.
    for send in (lambda: conn.send_text("x"), lambda: conn.send_binary(b"x"), lambda: conn.send_ping()):
        with support.raises(ConnectionClosed):
            send()
    # A second close is a no-op.
    conn.send_close(1001)
    assert conn.data_to_send() == []
    # Data still arrives while closing.
    conn.receive_data(cframe(0x1, b"still here"))
    assert norm(conn.events()) == [("text", "still here")]
    conn.receive_data(cframe(0x8, close_payload(1000)))
    assert norm(conn.events()) == [("close", 1000, "")]
    assert conn.state == CLOSED
    assert conn.data_to_send() == []  # no second close frame
    # Client side, masked, and with no code at all.
    conn = client()
    conn.send_close(None)
    assert sent_frames(conn) == [(True, 0x8, b"", True)]
    conn.receive_data(frame(0x8, b""))
    assert norm(conn.events()) == [("close", 1005, "")]
    assert conn.state == CLOSED


def test_invalid_close_codes_fail_with_1002():
    for code in (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        conn = server()
        conn.receive_data(cframe(0x8, close_payload(code, b"r")))
        events = assert_failed(conn, 1002)
        assert len(events) == 1, code


def test_valid_close_codes_are_accepted():
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999):
        conn = server()
        conn.receive_data(cframe(0x8, close_payload(code)))
        assert norm(conn.events()) == [("close", code, "")], code
        assert conn.error is None
        assert sent_frames(conn) == [(True, 0x8, code.to_bytes(2, "big"), False)], code


def test_one_byte_close_payload_fails_with_1002():
    conn = server()
    conn.receive_data(cframe(0x8, b"\x03"))
    assert_failed(conn, 1002)


def test_close_reason_not_utf8_fails_with_1002():
    for reason in (b"\xff", b"ok\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"):
        conn = server()
        conn.receive_data(cframe(0x8, close_payload(1000, reason)))
        assert_failed(conn, 1002)
    # The longest valid reason, 123 bytes with multi-byte characters.
    reason = ("\u00e9" * 61 + "a").encode("utf-8")
    assert len(reason) == 123
    conn = server()
    conn.receive_data(cframe(0x8, close_payload(1000, reason)))
    assert norm(conn.events()) == [("close", 1000, "\u00e9" * 61 + "a")]


def test_send_close_rejects_bad_code_and_long_reason():
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        conn = server()
        with support.raises(ValueError):
            conn.send_close(code)
        assert conn.state == OPEN and not conn.close_sent
        assert conn.data_to_send() == []
    for reason in ("a" * 124, "\u00e9" * 62):
        conn = server()
        with support.raises(ValueError):
            conn.send_close(1000, reason)
        assert conn.state == OPEN and not conn.close_sent
        assert conn.data_to_send() == []
    conn = server()
    conn.send_close(4999, "\u00e9" * 61 + "a")
    assert sent_frames(conn) == [(True, 0x8, b"\x13\x87" + ("\u00e9" * 61 + "a").encode("utf-8"), False)]


def test_send_control_payload_limit():
    conn = server()
    conn.send_ping(b"x" * 125)
    conn.send_pong("p\u00e9")
    assert sent_frames(conn) == [(True, 0x9, b"x" * 125, False), (True, 0xA, b"p\xc3\xa9", False)]
    for send in (conn.send_ping, conn.send_pong):
        with support.raises(ValueError):
            send(b"x" * 126)
    assert conn.data_to_send() == []


def test_eof_before_close_is_1006():
    conn = server()
    conn.receive_data(cframe(0x1, b"partial", False))
    conn.receive_eof()
    assert norm(conn.events()) == [("close", 1006, "")]
    assert conn.state == CLOSED and conn.close_code == 1006
    assert conn.data_to_send() == []
    with support.raises(ConnectionClosedError) as info:
        conn.send_text("x")
    assert info.value.code == 1006
    # After our close, an EOF without the peer's close is still abnormal.
    conn = client()
    conn.send_close(1000)
    conn.data_to_send()
    conn.receive_eof()
    assert norm(conn.events()) == [("close", 1006, "")]
    # After a complete closing handshake EOF adds nothing.
    conn = server()
    conn.receive_data(cframe(0x8, close_payload(1000)))
    conn.events()
    conn.receive_eof()
    assert conn.events() == []
    assert conn.close_code == 1000


def test_abort():
    conn = server()
    conn.abort()
    assert conn.state == CLOSED
    assert norm(conn.events()) == [("close", 1006, "")]
    conn.abort(1011, "again")
    assert conn.events() == [] and conn.close_code == 1006


# ---- sending -------------------------------------------------------------------------------


def test_server_sends_unmasked_frames():
    conn = server()
    conn.send_text("Hello")
    conn.send_binary(b"\x00\x01")
    conn.send_message("\u00e9")
    conn.send_message(bytearray(b"ba"))
    conn.send_text("abcdefg", fragment_size=3)
    assert sent(conn) == (
        b"\x81\x05Hello" + b"\x82\x02\x00\x01" + b"\x81\x02\xc3\xa9" + b"\x82\x02ba" + b"\x01\x03abc\x00\x03def\x80\x01g"
    )


def test_send_text_takes_only_a_str_and_send_binary_never_one():
    conn = server()
    with support.raises(TypeError, contains="text message is a str"):
        conn.send_text(b"bytes")
    with support.raises(TypeError, contains="binary message is bytes-like"):
        conn.send_binary("text")
    assert sent(conn) == b""


def test_a_payload_of_wide_items_is_sent_as_its_bytes():
    # An array('h') is bytes-like, but len() counts its items: the frame must announce and carry
    # all of its bytes, on both sides, whole or fragmented, also through a memoryview of it.
    import array

    samples = array.array("h", range(-50, 150))
    raw = bytes(samples)
    assert len(raw) == 400
    for make in (server, client):
        for payload in (samples, memoryview(samples)):
            for fragment_size in (None, 150):
                conn = make()
                conn.send_binary(payload, fragment_size)
                conn.send_message(payload)
                frames = sent_frames(conn)
                first = b"".join(bytes(f[2]) for f in frames[:-1])
                assert first == raw and bytes(frames[-1][2]) == raw, (make, fragment_size)
                assert all(f[3] == (make is client) for f in frames)


def test_server_send_binary_does_not_copy_large_payloads():
    payload = bytes(range(256)) * 8
    conn = server()
    conn.send_binary(payload)
    out = conn.data_to_send()
    assert len(out) == 2 and out[1] is payload


def test_client_sends_masked_frames_with_fresh_keys():
    conn = client()
    conn.send_text("Hello")
    conn.send_text("Hello")
    conn.send_binary(b"x" * 300, fragment_size=100)
    raw = sent(conn)
    frames = parse_frames(raw)
    assert [f[:3] for f in frames] == [
        (True, 0x1, b"Hello"),
        (True, 0x1, b"Hello"),
        (False, 0x2, b"x" * 100),
        (False, 0x0, b"x" * 100),
        (True, 0x0, b"x" * 100),
    ]
    assert all([f[3] for f in frames])
    # Two identical messages use two different keys (probability of a clash: 2**-32).
    assert raw[2:6] != raw[13:17]
    # And a server reads them back.
    peer = server()
    peer.receive_data(raw)
    assert norm(peer.events()) == [("text", "Hello"), ("text", "Hello"), ("binary", b"x" * 300)]


def test_round_trip_between_a_client_and_a_server():
    cl = client()
    sv = server()
    cl.send_text("ping \U0001f600", fragment_size=4)
    cl.send_ping(b"p")
    cl.send_close(1000, "done")
    sv.receive_data(sent(cl))
    assert norm(sv.events()) == [("text", "ping \U0001f600"), ("ping", b"p"), ("close", 1000, "done")]
    assert sv.state == CLOSED
    cl.receive_data(sent(sv))
    assert norm(cl.events()) == [("pong", b"p"), ("close", 1000, "")]
    assert cl.state == CLOSED


# ---- deferred failure (defer_errors) ---------------------------------------------------------


def test_deferred_error_keeps_earlier_messages_and_fails_on_demand():
    data = cframe(0x1, b"first") + cframe(0x9, b"p") + cframe(0x2, b"bad", rsv=0x40) + cframe(0x1, b"never")
    for cut in range(len(data) + 1):
        conn = protocol.Connection(client=False, defer_errors=True)
        conn.receive_data(data[:cut])
        conn.receive_data(data[cut:])
        # The messages before the bad frame are delivered and the ping answered; nothing failed yet.
        assert norm(conn.events()) == [("text", "first"), ("ping", b"p")], cut
        assert sent_frames(conn) == [(True, 0xA, b"p", False)], cut
        assert conn.state == OPEN and conn.error is None
        assert isinstance(conn.pending_error, ProtocolError) and conn.pending_error.code == 1002
        # Input after the error is ignored; sending still works until fail().
        conn.receive_data(cframe(0x1, b"ignored"))
        assert conn.events() == []
        conn.send_text("reply")
        assert sent_frames(conn) == [(True, 0x1, b"reply", False)]
        conn.fail()
        assert_failed(conn, 1002)
        assert_dead(conn)
        conn.fail()  # a second call changes nothing
        assert conn.events() == [] and conn.data_to_send() == []


def test_deferred_error_codes_and_no_error():
    conn = protocol.Connection(client=False, defer_errors=True)
    conn.receive_data(cframe(0x1, b"ok\xff"))
    assert conn.pending_error.code == 1007 and conn.state == OPEN
    conn.fail()
    assert_failed(conn, 1007)
    conn = protocol.Connection(client=False, max_size=4, defer_errors=True)
    conn.receive_data(cframe(0x2, b"12345"))
    assert conn.pending_error.code == 1009
    conn.fail()
    assert_failed(conn, 1009)
    # Without an error fail() does nothing.
    conn = protocol.Connection(client=False, defer_errors=True)
    conn.receive_data(cframe(0x1, b"fine"))
    conn.fail()
    assert conn.state == OPEN and conn.events() == ["fine"] and conn.data_to_send() == []


def test_a_message_the_heap_cannot_hold_closes_with_1009():
    # On a board a message within max_size can still be too big for the free heap: the
    # allocation that fails becomes close 1009 with a clear reason, the parts held are dropped,
    # and the message before it is still delivered.
    saved = protocol.masked

    def out_of_memory(chunk, key, phase=0):
        if len(chunk) > 100:
            raise MemoryError("memory allocation failed")
        return saved(chunk, key, phase)

    protocol.masked = out_of_memory
    try:
        for defer in (False, True):
            conn = protocol.Connection(client=False, defer_errors=defer)
            conn.receive_data(cframe(0x1, b"small") + cframe(0x2, b"x" * 50, fin=False) + cframe(0x0, b"y" * 200))
            if defer:
                assert conn.pending_error.code == 1009 and conn.state == OPEN
                conn.fail()
            events = conn.events()
            assert events[0] == "small" and isinstance(events[-1], protocol.Close), events
            assert conn.state == CLOSED and conn.close_code == 1009
            assert conn.close_reason == "message too big for the memory available"
            assert sent_frames(conn)[-1] == (True, 0x8, close_payload(1009, b"message too big for the memory available"), False)
            assert conn._parts == ()  # what the message held is let go
    finally:
        protocol.masked = saved
