"""Frame encoding and decoding (RFC 6455 section 5.2), checked against the section 5.7 examples."""

import support
from wire import xor

from wscore import frames, protocol
from wscore.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from wscore.errors import ProtocolError

# The masking key of every masked example in RFC 6455 section 5.7.
RFC_KEY = b"\x37\xfa\x21\x3d"

# RFC 6455 section 5.7, byte for byte.
HELLO_UNMASKED = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
HELLO_MASKED = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
HEL_LO = [bytes([0x01, 0x03, 0x48, 0x65, 0x6C]), bytes([0x80, 0x02, 0x6C, 0x6F])]
PING_UNMASKED = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
PONG_MASKED = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
BIN_256_HEADER = bytes([0x82, 0x7E, 0x01, 0x00])
BIN_64K_HEADER = bytes([0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])


def join(buffers):
    return b"".join([bytes(b) for b in buffers])


def fixed_key():
    return RFC_KEY


def pattern(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 7 + 3) & 0xFF
    return bytes(out)


def receive(data, client):
    """Events of a fresh connection (``client`` side) fed ``data``; the connection too."""
    conn = protocol.Connection(client=client)
    conn.receive_data(data)
    return conn.events(), conn


# ---- encoding: the RFC 6455 section 5.7 examples --------------------------------------------


def test_encode_single_frame_unmasked_text():
    assert join(frames.encode_frame(OP_TEXT, b"Hello")) == HELLO_UNMASKED
    assert join(frames.encode_message(OP_TEXT, b"Hello")) == HELLO_UNMASKED


def test_encode_single_frame_masked_text():
    assert join(frames.encode_frame(OP_TEXT, b"Hello", True, RFC_KEY)) == HELLO_MASKED
    assert join(frames.encode_message(OP_TEXT, b"Hello", fixed_key)) == HELLO_MASKED


def test_encode_fragmented_unmasked_text():
    first = join(frames.encode_frame(OP_TEXT, b"Hel", False))
    second = join(frames.encode_frame(OP_CONTINUATION, b"lo", True))
    assert [first, second] == HEL_LO
    # encode_message splits the same way with fragment_size=3.
    assert join(frames.encode_message(OP_TEXT, b"Hello", None, 3)) == HEL_LO[0] + HEL_LO[1]


def test_encode_ping_and_pong():
    assert join(frames.encode_frame(OP_PING, b"Hello")) == PING_UNMASKED
    assert join(frames.encode_frame(OP_PONG, b"Hello", True, RFC_KEY)) == PONG_MASKED
    # A masked ping is the masked pong with the other opcode.
    assert join(frames.encode_frame(OP_PING, b"Hello", True, RFC_KEY)) == b"\x89" + PONG_MASKED[1:]


def test_encode_256_bytes_binary_uses_16_bit_length():
    payload = pattern(256)
    assert join(frames.encode_frame(OP_BINARY, payload)) == BIN_256_HEADER + payload
    assert frames.encode_header(OP_BINARY, 256) == BIN_256_HEADER


def test_encode_64k_binary_uses_64_bit_length():
    payload = pattern(65536)
    buffers = frames.encode_frame(OP_BINARY, payload)
    assert bytes(buffers[0]) == BIN_64K_HEADER
    assert join(buffers) == BIN_64K_HEADER + payload


def test_encode_masked_large_payloads():
    for n in (256, 65536):
        payload = pattern(n)
        data = join(frames.encode_frame(OP_BINARY, payload, True, RFC_KEY))
        head = 4 if n < 65536 else 10
        assert data[1] & 0x80
        assert data[head : head + 4] == RFC_KEY
        assert data[head + 4 :] == xor(payload, RFC_KEY)


# ---- encoding: length boundaries, header fields ----------------------------------------------


def test_encode_header_length_boundaries():
    cases = [
        (0, b"\x82\x00"),
        (1, b"\x82\x01"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (127, b"\x82\x7e\x00\x7f"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        ((1 << 32) + 5, b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x05"),
        ((1 << 63) - 1, b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ]
    for length, expected in cases:
        assert frames.encode_header(OP_BINARY, length) == expected, length
        masked = frames.encode_header(OP_BINARY, length, True, RFC_KEY)
        assert masked == bytes([expected[0], expected[1] | 0x80]) + expected[2:] + RFC_KEY, length


def test_encode_header_fin_and_opcodes():
    assert frames.encode_header(OP_TEXT, 0, False) == b"\x01\x00"
    assert frames.encode_header(OP_CONTINUATION, 0, False) == b"\x00\x00"
    assert frames.encode_header(OP_CONTINUATION, 0, True) == b"\x80\x00"
    assert frames.encode_header(OP_CLOSE, 2) == b"\x88\x02"
    assert frames.encode_header(OP_PING, 0) == b"\x89\x00"
    assert frames.encode_header(OP_PONG, 0) == b"\x8a\x00"


def test_encode_frame_round_trip_at_length_boundaries():
    for n in (0, 1, 125, 126, 127, 65535, 65536):
        payload = pattern(n)
        for key in (None, RFC_KEY):
            data = join(frames.encode_frame(OP_BINARY, payload, True, key))
            # A client receives unmasked frames, a server masked ones.
            events, conn = receive(data, key is None)
            assert len(events) == 1, (n, key)
            assert events[0] == payload, (n, key)
            assert conn.data_to_send() == []


def test_encode_frame_joins_small_payloads():
    for n in (0, 1, 125, frames.JOIN_BELOW - 1):
        payload = pattern(n)
        buffers = frames.encode_frame(OP_BINARY, payload)
        assert len(buffers) == 1, n
        assert bytes(buffers[0]) == frames.encode_header(OP_BINARY, n) + payload
        masked = frames.encode_frame(OP_BINARY, payload, True, RFC_KEY)
        assert len(masked) == 1, n
    # encode_frame builds a small unmasked frame's header itself: it must agree with
    # encode_header for every opcode, with and without FIN.
    for opcode in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
        for fin in (True, False):
            for n in (0, 125):
                payload = pattern(n)
                assert frames.encode_frame(opcode, payload, fin) == [frames.encode_header(opcode, n, fin) + payload], (opcode, fin, n)


def test_encode_frame_keeps_large_payloads_apart_without_copy():
    for n in (frames.JOIN_BELOW, frames.JOIN_BELOW + 1, 70000):
        payload = pattern(n)
        buffers = frames.encode_frame(OP_BINARY, payload)
        assert len(buffers) == 2, n
        assert bytes(buffers[0]) == frames.encode_header(OP_BINARY, n)
        assert buffers[1] is payload, n
    # Any bytes-like payload is passed through as it is.
    for payload in (bytearray(pattern(2000)), memoryview(pattern(2000))):
        buffers = frames.encode_frame(OP_BINARY, payload)
        assert buffers[1] is payload
    # Masked: the payload is masked into a new buffer, the caller's is left alone.
    payload = pattern(2000)
    buffers = frames.encode_frame(OP_BINARY, payload, True, RFC_KEY)
    assert len(buffers) == 2
    assert buffers[1] is not payload
    assert bytes(buffers[1]) == xor(payload, RFC_KEY)
    assert payload == pattern(2000)


def test_encode_message_fragments():
    payload = pattern(1000)
    for size in (1, 3, 100, 999, 1000, 1001, None):
        data = join(frames.encode_message(OP_BINARY, payload, None, size))
        events, conn = receive(data, True)
        assert events == [payload], size
    # The first frame carries the opcode, the rest are continuations, only the last has FIN.
    data = join(frames.encode_message(OP_TEXT, b"abcdefgh", None, 3))
    assert data == b"\x01\x03abc" + b"\x00\x03def" + b"\x80\x02gh"


def test_encode_message_masks_each_fragment_with_a_fresh_key():
    keys = [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", b"\x09\x0a\x0b\x0c"]
    given = []

    def source():
        key = keys[len(given)]
        given.append(key)
        return key

    data = join(frames.encode_message(OP_TEXT, b"abcdefgh", source, 3))
    assert len(given) == 3
    expected = (
        b"\x01\x83" + keys[0] + xor(b"abc", keys[0])
        + b"\x00\x83" + keys[1] + xor(b"def", keys[1])
        + b"\x80\x82" + keys[2] + xor(b"gh", keys[2])
    )
    assert data == expected
    events, conn = receive(data, False)
    assert events == ["abcdefgh"]


def test_encode_message_large_fragments_are_views_of_the_payload():
    payload = pattern(5000)
    buffers = frames.encode_message(OP_BINARY, payload, None, 2048)
    # header, payload, header, payload, header + small payload
    assert len(buffers) == 5
    assert bytes(buffers[1]) == payload[:2048]
    assert bytes(buffers[3]) == payload[2048:4096]
    assert join(buffers) == (
        b"\x02\x7e\x08\x00" + payload[:2048] + b"\x00\x7e\x08\x00" + payload[2048:4096] + b"\x80\x7e\x03\x88" + payload[4096:]
    )


def test_encode_close_payload():
    assert frames.encode_close_payload() == b""
    assert frames.encode_close_payload(1000) == b"\x03\xe8"
    assert frames.encode_close_payload(1001, "bye") == b"\x03\xe9bye"
    assert frames.encode_close_payload(4000, "\u00e9") == b"\x0f\xa0\xc3\xa9"
    assert frames.encode_close_payload(1000, "a" * 123) == b"\x03\xe8" + b"a" * 123
    with support.raises(ValueError):
        frames.encode_close_payload(1000, "a" * 124)
    with support.raises(ValueError):
        frames.encode_close_payload(1000, "\u00e9" * 62)  # 124 bytes of UTF-8
    with support.raises(ValueError):
        frames.encode_close_payload(None, "reason without a code")


# ---- decoding through protocol.Connection ----------------------------------------------------


def test_decode_rfc_examples_as_client():
    assert receive(HELLO_UNMASKED, True)[0] == ["Hello"]
    assert receive(HEL_LO[0] + HEL_LO[1], True)[0] == ["Hello"]
    events, conn = receive(PING_UNMASKED, True)
    assert len(events) == 1 and isinstance(events[0], protocol.Ping)
    assert events[0].data == b"Hello"
    payload = pattern(256)
    assert receive(BIN_256_HEADER + payload, True)[0] == [payload]
    payload = pattern(65536)
    events = receive(BIN_64K_HEADER + payload, True)[0]
    assert len(events) == 1 and events[0] == payload


def test_decode_rfc_examples_as_server():
    events, conn = receive(HELLO_MASKED, False)
    assert events == ["Hello"]
    events, conn = receive(PONG_MASKED, False)
    assert len(events) == 1 and isinstance(events[0], protocol.Pong)
    assert events[0].data == b"Hello"
    assert conn.data_to_send() == []


def test_decode_text_and_binary_types():
    events = receive(b"\x82\x03abc" + b"\x81\x03abc", True)[0]
    assert events == [b"abc", "abc"]
    assert type(events[0]) is bytes
    assert type(events[1]) is str
    # Empty messages.
    assert receive(b"\x81\x00\x82\x00", True)[0] == ["", b""]


def test_decode_length_boundaries():
    for n in (0, 1, 125, 126, 127, 65535, 65536):
        payload = pattern(n)
        if n < 126:
            header = bytes([0x82, n])
        elif n < 65536:
            header = bytes([0x82, 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x82, 127]) + n.to_bytes(8, "big")
        events, conn = receive(header + payload, True)
        assert events == [payload], n
        # Complete message only once the last payload byte arrives.
        conn = protocol.Connection(client=True)
        conn.receive_data(header + payload[:-1] if n else header[:-1])
        assert conn.events() == [], n
        conn.receive_data(payload[-1:] if n else header[-1:])
        assert conn.events() == [payload], n


def test_decode_accepts_non_minimal_length_encodings():
    # RFC 6455 asks senders for the minimal encoding; a longer one still says the same length.
    assert receive(b"\x82\x7e\x00\x03abc", True)[0] == [b"abc"]
    assert receive(b"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x03abc", True)[0] == [b"abc"]


def test_decode_header_direct():
    assert frames.decode_header(b"", 0, 0, False) is None
    assert frames.decode_header(b"\x81", 0, 1, False) is None
    assert frames.decode_header(b"\x81\x05", 0, 2, False) == (2, True, OP_TEXT, 5, None)
    assert frames.decode_header(b"\x01\x03", 0, 2, False) == (2, False, OP_TEXT, 3, None)
    # Incomplete extended lengths and mask keys.
    assert frames.decode_header(b"\x82\x7e\x01", 0, 3, False) is None
    assert frames.decode_header(b"\x82\x7e\x01\x00", 0, 4, False) == (4, True, OP_BINARY, 256, None)
    assert frames.decode_header(BIN_64K_HEADER, 0, 9, False) is None
    assert frames.decode_header(BIN_64K_HEADER, 0, 10, False) == (10, True, OP_BINARY, 65536, None)
    assert frames.decode_header(HELLO_MASKED, 0, 5, True) is None
    assert frames.decode_header(HELLO_MASKED, 0, 6, True) == (6, True, OP_TEXT, 5, RFC_KEY)
    # At an offset inside a larger buffer, and from a memoryview.
    buf = b"xyz" + HELLO_MASKED
    assert frames.decode_header(buf, 3, len(buf) - 3, True) == (6, True, OP_TEXT, 5, RFC_KEY)
    assert frames.decode_header(memoryview(buf), 3, 6, True) == (6, True, OP_TEXT, 5, RFC_KEY)


def test_decode_header_errors():
    cases = [
        (b"\xc1\x00", False),  # RSV1
        (b"\xa1\x00", False),  # RSV2
        (b"\x91\x00", False),  # RSV3
        (b"\x81\x80", False),  # masked, to a client
        (b"\x81\x00", True),  # unmasked, to a server
        (b"\x09\x00", False),  # fragmented ping
        (b"\x89\x7e\x00\x7e", False),  # ping longer than 125
        (b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", False),  # 64-bit length, top bit set
        (b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", False),
    ]
    for data, from_client in cases:
        with support.raises(ProtocolError) as info:
            frames.decode_header(data, 0, len(data), from_client)
        assert info.value.code == 1002, data
    # The largest legal 64-bit length decodes.
    data = b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
    assert frames.decode_header(data, 0, 10, False) == (10, True, OP_BINARY, (1 << 63) - 1, None)
