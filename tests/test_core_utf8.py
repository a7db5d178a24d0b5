"""UTF-8 validation (RFC 3629) and close code 1007 for invalid text (RFC 6455 section 8.1)."""

import random

import support
from wire import xor

from wscore import protocol, utf8
from wscore.constants import CLOSED, OPEN

try:
    from wscore import _viper
except (ImportError, SyntaxError):
    _viper = None

KEY = b"\x37\xfa\x21\x3d"

VALID = [
    b"",
    b"a",
    b"Hello, world",
    bytes(range(0x80)),
    b"\xc2\x80",  # U+0080, the first 2-byte character
    b"\xc3\xa9",  # e acute
    b"\xdf\xbf",  # U+07FF
    b"\xe0\xa0\x80",  # U+0800, the first 3-byte character
    b"\xe2\x82\xac",  # euro sign
    b"\xed\x9f\xbf",  # U+D7FF, just below the surrogates
    b"\xee\x80\x80",  # U+E000, just above
    b"\xef\xbf\xbf",  # U+FFFF
    b"\xf0\x90\x80\x80",  # U+10000, the first 4-byte character
    b"\xf0\x9d\x84\x9e",  # G clef
    b"\xf0\x9f\x98\x80",  # grinning face
    b"\xf3\xbf\xbf\xbf",
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF, the last code point
    "\u03ba\u1f79\u03c3\u03bc\u03b5 caf\u00e9 \u20ac \U0001f600".encode("utf-8"),
    b"a" * 1000 + b"\xf0\x9f\x98\x80" + b"b" * 1000,
]

# (bytes, index of the first byte after which no valid string can follow)
INVALID = [
    (b"\xc0\xaf", 0),  # overlong '/'
    (b"\xc1\xbf", 0),  # overlong
    (b"\xe0\x80\xaf", 1),  # overlong '/'
    (b"\xe0\x9f\xbf", 1),  # overlong U+07FF
    (b"\xf0\x80\x80\xaf", 1),  # overlong '/'
    (b"\xf0\x8f\xbf\xbf", 1),  # overlong U+FFFF
    (b"\xed\xa0\x80", 1),  # U+D800
    (b"\xed\xbf\xbf", 1),  # U+DFFF
    (b"\xed\xa0\xbd\xed\xb8\x80", 1),  # a surrogate pair (CESU-8)
    (b"\xf4\x90\x80\x80", 1),  # U+110000
    (b"\xf5\x80\x80\x80", 0),
    (b"\xf7\xbf\xbf\xbf", 0),
    (b"\xf8\x88\x80\x80\x80", 0),
    (b"\xfc\x84\x80\x80\x80\x80", 0),
    (b"\x80", 0),  # lone continuation bytes
    (b"\xbf", 0),
    (b"a\x80b", 1),
    (b"\xc3\xa9\xa9", 2),  # one continuation too many
    (b"\xc3\x41", 1),  # continuation missing
    (b"\xe2\x28\xa1", 1),
    (b"\xe2\x82\x28", 2),
    (b"\xf0\x9f\x98\x28", 3),
    (b"\xf0\x9f\xc3\xa9", 2),
    (b"hello\xffworld", 5),
    (b"\xc3\xa9\xed\xa0\x80", 3),
    (b"a" * 1000 + b"\xfe", 1000),
] + [(bytes([b]), 0) for b in range(0xF5, 0x100)]

TRUNCATED = [b"\xc3", b"\xe2\x82", b"\xe0\xa0", b"\xf0\x9f\x98", b"\xf4\x8f\xbf", b"abc\xf0", b"\xc3\xa9\xe2"]


def dfa_validator():
    """The portable DFA path of Utf8Validator, also on CPython."""
    v = utf8.Utf8Validator()
    v._decoder = None
    return v


VALIDATORS = (utf8.Utf8Validator, dfa_validator)


def first_failure(make, data):
    """Index of the byte at which feeding ``data`` byte by byte first returns False, or None."""
    v = make()
    for i in range(len(data)):
        if not v.feed(data[i : i + 1]):
            return i
    return None


# ---- the validators --------------------------------------------------------------------------


def test_valid_table():
    for data in VALID:
        assert utf8.is_valid_utf8(data), data
        assert utf8.dfa_is_valid_utf8(data), data
        assert utf8.is_valid_utf8(bytearray(data)), data
        assert utf8.dfa_is_valid_utf8(memoryview(data)), data
        for make in VALIDATORS:
            v = make()
            assert v.feed(data) and v.finish(), data
            assert first_failure(make, data) is None, data
            v = make()
            for i in range(len(data)):
                v.feed(data[i : i + 1])
            assert v.finish(), data


def test_valid_split_everywhere():
    data = "a\u00e9\u20ac\U0001f600z\U0010ffff".encode("utf-8")
    for make in VALIDATORS:
        for cut in range(len(data) + 1):
            for cut2 in range(cut, len(data) + 1):
                v = make()
                assert v.feed(data[:cut])
                assert v.feed(memoryview(data)[cut:cut2])
                assert v.feed(bytearray(data[cut2:]))
                assert v.finish(), (cut, cut2)


def test_invalid_table():
    for data, index in INVALID:
        assert not utf8.is_valid_utf8(data), data
        assert not utf8.dfa_is_valid_utf8(data), data
        for make in VALIDATORS:
            v = make()
            assert not v.feed(data), data
            # Fails at the first byte that rules out every continuation, not later.
            assert first_failure(make, data) == index, (data, make)
            # Whatever came before, in whatever chunks.
            v = make()
            assert v.feed(b"ok ")
            assert v.feed(data[:index])
            assert not v.feed(data[index:]), data


def test_truncated_sequences():
    for data in TRUNCATED:
        assert not utf8.is_valid_utf8(data), data
        assert not utf8.dfa_is_valid_utf8(data), data
        for make in VALIDATORS:
            v = make()
            assert v.feed(data), data  # could still be completed
            assert not v.finish(), data
            assert first_failure(make, data) is None, data


def test_dfa_stays_rejected():
    v = dfa_validator()
    assert not v.feed(b"\xff")
    assert not v.feed(b"abc")
    assert not v.finish()


def test_ascii_run_fast_path():
    for n in (0, 1, 7, 8, 9, 100, 4096):
        data = b"x" * n
        assert utf8._ascii_run(data, 0, n) == n
        data = b"x" * n + b"\xc3\xa9" + b"y" * 5
        assert utf8._ascii_run(data, 0, len(data)) == n
        assert utf8._ascii_run(data, n + 2, len(data)) == len(data)
        assert utf8._ascii_run(data, 0, n) == n


def test_micropython_uses_the_viper_dfa():
    if support.ON_MICROPYTHON and _viper is not None:
        assert utf8._dfa_feed is _viper.utf8_feed
    if support.ON_MICROPYTHON:  # no incremental decoder there: the DFA alone checks a whole string
        assert utf8.is_valid_utf8 is utf8.dfa_is_valid_utf8


@support.skip_if(_viper is None, "no micropython.viper on this interpreter")
def test_viper_dfa_matches_the_python_dfa_from_every_state():
    random.seed(3629)
    samples = [data for data in VALID] + [data for data, _ in INVALID] + TRUNCATED
    for _ in range(3000):
        samples.append(bytes([random.choice(INTERESTING) for _ in range(random.randrange(0, 9))]))
    for data in samples:
        tail = data[1:]
        for state in range(8):
            expected = utf8._dfa_feed_plain(state, data, len(data))
            assert _viper.utf8_feed(state, data, len(data)) == expected, (state, data)
            # A view into a bytearray, as the parser passes.
            expected = utf8._dfa_feed_plain(state, tail, len(tail))
            assert _viper.utf8_feed(state, memoryview(bytearray(data))[1:], len(tail)) == expected, (state, data)


INTERESTING = [
    0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC,
    0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF,
]


def cpython_valid(data):
    try:
        data.decode("utf-8")
    except UnicodeError:
        return False
    return True


@support.skip_on_micropython("bytes.decode does not validate UTF-8 on MicroPython, so it cannot be the reference")
def test_dfa_matches_cpython_decoder_on_random_bytes():
    import codecs

    rng = random.Random(6455)
    for trial in range(20000):
        n = rng.randrange(0, 12)
        if trial % 3 == 0:
            data = bytes([rng.randrange(256) for _ in range(n)])
        else:
            data = bytes([rng.choice(INTERESTING) for _ in range(n)])
        expected = cpython_valid(data)
        assert utf8.dfa_is_valid_utf8(data) == expected, data
        assert utf8.is_valid_utf8(data) == expected, data
        # Incremental DFA, split at a random point.
        cut = rng.randrange(0, n + 1)
        v = dfa_validator()
        ok = v.feed(data[:cut]) and v.feed(data[cut:]) and v.finish()
        assert ok == expected, (data, cut)
        # Fail-fast: both validators reject at the first impossible byte. CPython's own
        # incremental decoder is the reference except for surrogates, which it reports late.
        decoder = codecs.getincrementaldecoder("utf-8")()
        reference = None
        for i in range(n):
            try:
                decoder.decode(data[i : i + 1], False)
            except UnicodeError:
                reference = i
                break
        dfa_at = first_failure(dfa_validator, data)
        assert first_failure(utf8.Utf8Validator, data) == dfa_at, data
        if dfa_at != reference:
            assert dfa_at is not None and data[dfa_at - 1] == 0xED and data[dfa_at] >= 0xA0, data
            assert reference is None or reference == dfa_at + 1, data


def encode_code_point(cp):
    """UTF-8 of one code point, by the book (RFC 3629 section 3)."""
    if cp < 0x80:
        return bytes([cp])
    if cp < 0x800:
        return bytes([0xC0 | cp >> 6, 0x80 | cp & 0x3F])
    if cp < 0x10000:
        return bytes([0xE0 | cp >> 12, 0x80 | (cp >> 6) & 0x3F, 0x80 | cp & 0x3F])
    return bytes([0xF0 | cp >> 18, 0x80 | (cp >> 12) & 0x3F, 0x80 | (cp >> 6) & 0x3F, 0x80 | cp & 0x3F])


def test_dfa_accepts_random_valid_text():
    # Built without chr(): MicroPython interns every chr() result, and a million distinct
    # characters never leave its heap.
    random.seed(3629)
    rng = random  # MicroPython has no random.Random
    for _ in range(2000):
        data = b""
        for _ in range(rng.randrange(1, 20)):
            kind = rng.randrange(4)
            if kind == 0:
                cp = rng.randrange(0x80)
            elif kind == 1:
                cp = rng.randrange(0x80, 0x800)
            elif kind == 2:
                cp = rng.choice([rng.randrange(0x800, 0xD800), rng.randrange(0xE000, 0x10000)])
            else:
                cp = rng.randrange(0x10000, 0x110000)
            data += encode_code_point(cp)
        assert utf8.dfa_is_valid_utf8(data), data
        assert utf8.is_valid_utf8(data), data
        v = dfa_validator()
        for i in range(len(data)):
            assert v.feed(data[i : i + 1]), data
        assert v.finish()


@support.skip_on_micropython("chr() interns each result as a qstr that is never freed on MicroPython")
def test_reference_encoder_matches_cpython():
    for cp in list(range(0, 0xD800, 7)) + list(range(0xE000, 0x110000, 101)) + [0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF]:
        assert encode_code_point(cp) == chr(cp).encode("utf-8"), cp


# ---- text messages: 1007 ---------------------------------------------------------------------


def cframe(opcode, payload, fin=True):
    """A masked frame, as a client sends it."""
    n = len(payload)
    if n < 126:
        header = bytes([(0x80 if fin else 0) | opcode, 0x80 | n])
    else:
        header = bytes([(0x80 if fin else 0) | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return header + KEY + xor(payload, KEY)


def close_code_sent(conn):
    out = b"".join([bytes(b) for b in conn.data_to_send()])
    assert out[0] == 0x88, out
    assert out[1] & 0x7F >= 2
    return int.from_bytes(out[2:4], "big")


def assert_1007(conn):
    assert conn.state == CLOSED
    assert conn.error is not None and conn.error.code == 1007
    events = conn.events()
    assert isinstance(events[-1], protocol.Close) and events[-1].code == 1007
    assert close_code_sent(conn) == 1007
    return events


def test_valid_text_messages():
    for data in VALID:
        conn = protocol.Connection()
        conn.receive_data(cframe(0x1, data))
        assert conn.events() == [str(data, "utf-8")], data
        assert conn.state == OPEN


def test_invalid_text_fails_with_1007():
    for data, index in INVALID:
        conn = protocol.Connection()
        conn.receive_data(cframe(0x1, data))
        events = assert_1007(conn)
        assert len(events) == 1
        # Byte by byte too.
        conn = protocol.Connection()
        raw = cframe(0x1, data)
        for i in range(len(raw)):
            conn.receive_data(raw[i : i + 1])
        assert_1007(conn)
    for data in TRUNCATED:
        conn = protocol.Connection()
        conn.receive_data(cframe(0x1, data))
        assert_1007(conn)


def test_invalid_text_fails_client_side_too():
    conn = protocol.Connection(client=True)
    conn.receive_data(b"\x81\x03\xed\xa0\x80")
    assert conn.state == CLOSED and conn.error.code == 1007
    out = b"".join([bytes(b) for b in conn.data_to_send()])
    assert out[0] == 0x88 and out[1] & 0x80  # masked close
    assert xor(out[6:8], out[2:6]) == b"\x03\xef"


def test_binary_is_not_validated():
    conn = protocol.Connection()
    conn.receive_data(cframe(0x2, b"\xff\xed\xa0\x80\xc0"))
    assert conn.events() == [b"\xff\xed\xa0\x80\xc0"]
    assert conn.state == OPEN


def test_invalid_byte_in_first_fragment_fails_at_once():
    for first in (b"abc\xffdef", b"ok\xc0", b"\xed\xa0", b"\xf4\x90", b"abc\xe0\x80"):
        conn = protocol.Connection()
        conn.receive_data(cframe(0x1, first, False))
        # The message has not ended (no FIN yet), the connection is failed already.
        events = assert_1007(conn)
        assert len(events) == 1, first


def test_invalid_byte_in_later_fragment_fails_at_once():
    conn = protocol.Connection()
    conn.receive_data(cframe(0x1, b"valid \xe2\x82", False))
    assert conn.events() == [] and conn.state == OPEN
    conn.receive_data(cframe(0x0, b"\xac fine", False))
    assert conn.state == OPEN
    conn.receive_data(cframe(0x0, b"\xf0\x28", False))
    assert_1007(conn)


def test_invalid_byte_mid_frame_fails_before_frame_ends():
    payload = b"a" * 50 + b"\xff" + b"b" * 50
    raw = cframe(0x1, payload)
    header = len(raw) - len(payload)
    conn = protocol.Connection()
    conn.receive_data(raw[: header + 60])
    events = assert_1007(conn)
    assert len(events) == 1
    # The rest of the frame is ignored.
    conn.receive_data(raw[header + 60 :])
    assert conn.events() == [] and conn.data_to_send() == []
    # A surrogate prefix at the end of the first chunk is enough.
    payload = b"a" * 10 + b"\xed\xa0\x80" + b"b" * 10
    raw = cframe(0x1, payload)
    conn = protocol.Connection()
    conn.receive_data(raw[: len(raw) - len(payload) + 12])
    assert_1007(conn)


def test_four_byte_character_split_across_fragments():
    char = b"\xf0\x9d\x84\x9e"
    for cut in range(5):
        conn = protocol.Connection()
        conn.receive_data(cframe(0x1, b"<" + char[:cut], False))
        assert conn.state == OPEN, cut
        conn.receive_data(cframe(0x0, char[cut:] + b">"))
        assert conn.events() == ["<\U0001d11e>"], cut
    # Split over three fragments, one byte each in the middle, with an empty fragment and a ping.
    conn = protocol.Connection()
    conn.receive_data(
        cframe(0x1, char[:1], False) + cframe(0x0, char[1:2], False) + cframe(0x9, b"p")
        + cframe(0x0, b"", False) + cframe(0x0, char[2:3], False) + cframe(0x0, char[3:])
    )
    events = conn.events()
    assert isinstance(events[0], protocol.Ping)
    assert events[1:] == ["\U0001d11e"]


def test_four_byte_character_split_across_chunks():
    raw = cframe(0x1, b"ab\xf0\x9f\x98\x80cd")
    for cut in range(len(raw) + 1):
        conn = protocol.Connection()
        conn.receive_data(raw[:cut])
        assert conn.state == OPEN
        conn.receive_data(raw[cut:])
        assert conn.events() == ["ab\U0001f600cd"], cut
    conn = protocol.Connection()
    for i in range(len(raw)):
        conn.receive_data(raw[i : i + 1])
    assert conn.events() == ["ab\U0001f600cd"]


def test_truncated_at_message_end_fails_with_1007():
    conn = protocol.Connection()
    conn.receive_data(cframe(0x1, b"a\xe2", False))
    assert conn.state == OPEN
    conn.receive_data(cframe(0x0, b"\x82"))
    assert_1007(conn)
    # The last fragment empty.
    conn = protocol.Connection()
    conn.receive_data(cframe(0x1, b"a\xf0\x9f\x98", False))
    assert conn.state == OPEN
    conn.receive_data(cframe(0x0, b""))
    assert_1007(conn)
    # The first fragment empty, the second truncated.
    conn = protocol.Connection()
    conn.receive_data(cframe(0x1, b"", False) + cframe(0x0, b"\xc3"))
    assert_1007(conn)
