"""Large frames filled in place (wscore._inplace) and the messages the protocol makes of them.

On MicroPython a message in one frame of 512 bytes or more is unmasked straight into the
``bytes`` it becomes; a fragmented one is joined from pieces, as every message is on CPython
(no ``uctypes``). The protocol tests here hold on both interpreters, the ones of the module
itself only where it imports.
"""

import support
from wire import pattern, raw_frame

from wscore import protocol
from wscore.constants import CLOSED

try:
    from wscore import _inplace
except ImportError:
    _inplace = None

NO_UCTYPES = "no uctypes on this interpreter (CPython's bytes cannot be written after they are made)"
KEY = b"\x37\xfa\x21\x3d"
READ = 16384  # the MicroPython layer's read buffer on a 2 MiB heap


def feed(conn, data, size=READ):
    """Feed ``data`` as the MicroPython layer does: through one reused read buffer, in place."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    source = memoryview(data)
    for start in range(0, len(data), size):
        n = min(size, len(data) - start)
        buffer[:n] = source[start : start + n]
        conn.receive_data(view[:n], True)
    return conn.events()


def assert_usable(message, expected):
    """``message`` is ``expected`` in every way a handler may use it: ==, hash, dict key, slices."""
    assert type(message) is type(expected)
    assert message == expected and message[7:19] == expected[7:19]
    assert hash(message) == hash(expected)
    assert {expected: "found"}.get(message) == "found"


@support.skip_if(_inplace is None, NO_UCTYPES)
def test_a_filled_bytes_compares_hashes_and_decodes_as_what_was_written():
    data, view = _inplace.fillable(1000)
    assert data == bytes(1000)
    view[:] = pattern(1000)
    assert_usable(_inplace.filled(data), pattern(1000))
    encoded = "héllo ✓".encode()
    text, view = _inplace.fillable(len(encoded))
    view[:] = encoded
    assert_usable(str(_inplace.filled(text), "utf-8"), "héllo ✓")


def test_a_large_masked_frame_in_reads_is_one_message():
    payload = pattern(200_000)
    events = feed(protocol.Connection(max_size=None), raw_frame(0x2, payload, True, KEY))
    assert len(events) == 1
    assert_usable(events[0], payload)


def test_a_large_unmasked_frame_on_the_client_side_is_one_message():
    payload = pattern(50_000)
    events = feed(protocol.Connection(client=True), raw_frame(0x2, payload), size=4096)
    assert len(events) == 1
    assert_usable(events[0], payload)


def test_text_split_inside_characters_across_reads_is_one_str():
    text = "aé✓😀" * 5000  # 1-, 2-, 3- and 4-byte characters, cut at every place by the reads
    events = feed(protocol.Connection(), raw_frame(0x1, text, True, KEY), size=4099)
    assert len(events) == 1
    assert_usable(events[0], text)


def test_invalid_utf8_in_a_large_frame_fails_before_the_frame_ends():
    bad = b"a" * 3000 + b"\xff" + b"a" * 20000
    conn = protocol.Connection()
    events = feed(conn, raw_frame(0x1, bad, True, KEY)[:4096])  # the first read only
    assert conn.state == CLOSED and conn.close_code == 1007
    assert isinstance(events[-1], protocol.Close)
    assert conn._frame_bytes is None and conn._frame_view is None  # the frame's bytes let go


def test_large_and_small_fragments_make_one_message():
    first, middle, last = pattern(20_000), b"tiny", pattern(700)
    data = raw_frame(0x2, first, False, KEY) + raw_frame(0x0, middle, False, KEY) + raw_frame(0x0, last, True, KEY)
    events = feed(protocol.Connection(), data, size=1000)
    assert len(events) == 1
    assert_usable(events[0], first + middle + last)


def test_a_large_frame_and_the_next_message_in_one_read():
    data = raw_frame(0x2, pattern(3000), True, KEY) + raw_frame(0x1, "next", True, KEY)
    events = feed(protocol.Connection(), data, size=len(data))
    assert len(events) == 2
    assert_usable(events[0], pattern(3000))
    assert events[1] == "next"


@support.skip_if(_inplace is None, NO_UCTYPES)
def test_a_frame_the_heap_cannot_hold_fails_with_1009_at_its_header():
    # Within max_size (none) but larger than the free heap: refused before any payload came.
    conn = protocol.Connection(max_size=None)
    conn.receive_data(raw_frame(0x2, b"", True, KEY, length=protocol._HEAP - 1024))
    assert conn.state == CLOSED and conn.close_code == 1009
    assert conn.close_reason == "message too big for the memory available"


def _random_messages(rng, count):
    """``count`` messages (text or binary, 0 to 3000 bytes) and their frames, some fragmented."""
    messages, wire = [], []
    for _ in range(count):
        size = rng.getrandbits(12) % 3000
        if rng.getrandbits(1):
            message = "".join(("a", "é", "✓", "😀")[rng.getrandbits(2)] for _ in range(size // 3))
            payload, opcode = message.encode(), 0x1
        else:
            message = payload = pattern(size)
            opcode = 0x2
        cuts = sorted(rng.getrandbits(12) % (len(payload) + 1) for _ in range(rng.getrandbits(2)))
        pieces = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
        for i, piece in enumerate(pieces):
            key = bytes(rng.getrandbits(8) for _ in range(4))
            wire.append(raw_frame(opcode if i == 0 else 0x0, piece, i == len(pieces) - 1, key))
            if rng.getrandbits(3) == 0:  # a ping between fragments
                wire.append(raw_frame(0x9, b"p", True, key))
        messages.append(message)
    return messages, b"".join(wire)


def test_random_messages_in_random_reads_arrive_whole():
    try:
        from random import Random

        rng = Random(6455)
    except ImportError:  # MicroPython: the module's one generator
        import random as rng

        rng.seed(6455)
    for _ in range(20):
        messages, data = _random_messages(rng, 12)
        conn = protocol.Connection(max_size=None)
        source = memoryview(data)
        buffer = bytearray(8192)
        pos = 0
        while pos < len(data):
            n = min(1 + rng.getrandbits(13) % 8192, len(data) - pos)
            buffer[:n] = source[pos : pos + n]
            conn.receive_data(memoryview(buffer)[:n], True)
            pos += n
        received = [e for e in conn.events() if not isinstance(e, protocol.Ping)]
        assert len(received) == len(messages)
        for got, sent in zip(received, messages):
            assert_usable(got, sent)
