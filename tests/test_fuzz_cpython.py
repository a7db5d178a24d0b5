# micropython: skip hypothesis is CPython-only; the regression corpus in test_fuzz_corpus.py runs on both
"""Property-based fuzzing of ws-core's parsers: request heads, frames, UTF-8.

Every input is fed whole and in random chunkings. A parser must end in one of its documented
outcomes (events and replies, a HandshakeError with an HTTP status, a Close event with 1002,
1007 or 1009), never raise anything else, and chunking must never change the outcome.

The frame and UTF-8 checks compare against small, independent reference models written here
(a whole-buffer RFC 6455 parser and a regular expression for well-formed UTF-8, Unicode table
3-7), not against the code under test. Inputs are random bytes, but mostly valid frames and
requests with a few bytes mutated, so that the fuzzer reaches deep states. Interesting inputs
found this way live on as plain regression tests in test_fuzz_corpus.py (both interpreters).

Budget: the whole file runs in well under 60 s (HYPOTHESIS_MAX_EXAMPLES scales it for a longer
hunt: `HYPOTHESIS_MAX_EXAMPLES=5000 pytest --timeout=0 tests/test_fuzz_cpython.py`: 5,000 per
test ran clean in 12 minutes).
"""

import os
import re
import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wscore.constants import is_valid_close_code
from wscore.errors import HandshakeError
from wscore.handshake import check_request
from wscore.http import HeadReader, parse_request
from wscore.protocol import Close, Connection, Ping, Pong
from wscore import utf8

EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FAILURE_CODES = {1002, 1007, 1009}
HANDSHAKE_STATUSES = {400, 405, 414, 426, 431, 501}

# ---- strategies shared by all parsers ----------------------------------------------------------


def split(data, cuts):
    """``data`` cut at the (sorted, deduplicated) positions ``cuts``."""
    points = sorted(set(c for c in cuts if 0 < c < len(data)))
    pieces = []
    start = 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


def chunkings(data, draw):
    """Whole, one byte at a time, and one random chunking."""
    cuts = draw(st.lists(st.integers(0, max(0, len(data))), max_size=12))
    return [[data], [data[i : i + 1] for i in range(len(data))], split(data, cuts)]


@st.composite
def mutated(draw, base):
    """``base`` (bytes) with a few bytes flipped, replaced, inserted, deleted, or the tail cut."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
            continue
        if not data:
            continue
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xED, 0xF4, 0xFF, 0x0A, 0x0D, 0x20, 0x3A]))
        elif kind == "delete":
            del data[at]
        else:
            del data[at:]
    return bytes(data)


# ---- UTF-8: an independent reference ------------------------------------------------------------

# Well-formed UTF-8 byte sequences (Unicode 15, table 3-7), and the proper prefixes of one.
_UTF8_CHAR = (
    rb"[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_UTF8_PARTIAL = (
    rb"[\xc2-\xdf]|\xe0(?:[\xa0-\xbf])?|[\xe1-\xec\xee\xef](?:[\x80-\xbf])?|\xed(?:[\x80-\x9f])?"
    rb"|\xf0(?:[\x90-\xbf][\x80-\xbf]?)?|[\xf1-\xf3](?:[\x80-\xbf]{1,2})?|\xf4(?:[\x80-\x8f][\x80-\xbf]?)?"
)
_VALID = re.compile(rb"(?:" + _UTF8_CHAR + rb")*")
_VALID_PREFIX = re.compile(rb"(?:" + _UTF8_CHAR + rb")*(?:" + _UTF8_PARTIAL + rb")?")


def ref_valid(data):
    return _VALID.fullmatch(bytes(data)) is not None


def ref_valid_prefix(data):
    """True when ``data`` can still be completed into valid UTF-8."""
    return _VALID_PREFIX.fullmatch(bytes(data)) is not None


EDGE_BYTES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF]

# Encoded code points, well-formed or not: each of every length, surrogates (ED A0..BF ..),
# overlongs (C0/C1 .., E0 80..9F .., F0 80..8F .. ..), past U+10FFFF (F4 90.., F5..), and any of
# them cut short, so that sequences meet the chunk boundaries in every state.
_CONT = st.integers(0x80, 0xBF)
_sequences = st.one_of(
    st.integers(0, 0x7F).map(lambda c: bytes([c])),
    st.integers(0x80, 0x10FFFF).map(lambda c: chr(c).encode("utf-8", "surrogatepass")),
    st.tuples(st.integers(0xA0, 0xBF), _CONT).map(lambda t: bytes([0xED, t[0], t[1]])),
    st.tuples(st.sampled_from([0xC0, 0xC1]), _CONT).map(bytes),
    st.tuples(st.integers(0x80, 0x9F), _CONT).map(lambda t: bytes([0xE0, t[0], t[1]])),
    st.tuples(st.integers(0x80, 0x8F), _CONT, _CONT).map(lambda t: bytes([0xF0]) + bytes(t)),
    st.tuples(st.integers(0x90, 0xBF), _CONT, _CONT).map(lambda t: bytes([0xF4]) + bytes(t)),
    st.tuples(st.integers(0xF5, 0xFF), _CONT, _CONT, _CONT).map(bytes),
    _CONT.map(lambda c: bytes([c])),
)
_maybe_cut = st.tuples(_sequences, st.integers(0, 4)).map(lambda t: t[0][: max(1, len(t[0]) - t[1])] if t[1] < 3 else t[0])

utf8_inputs = st.one_of(
    st.lists(_maybe_cut, max_size=12).map(b"".join),
    st.binary(max_size=64),
    st.lists(st.sampled_from(EDGE_BYTES), max_size=24).map(bytes),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")).flatmap(mutated),
)


def test_reference_utf8_model_agrees_with_cpython_on_samples():
    # The reference itself, against CPython's strict decoder, on a few classics.
    for data in (b"", b"abc", "é€😀".encode(), b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xf5", b"\x80"):
        try:
            data.decode("utf-8")
            ok = True
        except UnicodeError:
            ok = False
        assert ref_valid(data) == ok, data


@FUZZ
@given(utf8_inputs)
def test_utf8_whole_buffer_matches_cpython_decoder(data):
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert ref_valid(data) == expected
    assert utf8.is_valid_utf8(data) == expected
    assert utf8.dfa_is_valid_utf8(data) == expected
    assert utf8.dfa_is_valid_utf8(bytearray(data)) == expected
    assert utf8.dfa_is_valid_utf8(memoryview(data)) == expected


def _check_validator(validator, pieces):
    """Feed ``pieces``; every answer must match the reference. Returns the final verdict."""
    seen = b""
    for piece in pieces:
        seen += bytes(piece)
        ok = validator.feed(piece)
        assert ok == ref_valid_prefix(seen), (pieces, seen)
        if not ok:
            return False
    final = validator.finish()
    assert final == ref_valid(seen), (pieces, seen)
    return final


@FUZZ
@given(utf8_inputs, st.data())
def test_utf8_validator_fails_at_the_first_bad_byte_in_any_chunking(data, draw):
    expected = ref_valid(data)
    for pieces in chunkings(data, draw.draw):
        # CPython's incremental decoder, and the portable DFA that MicroPython uses.
        assert _check_validator(utf8.Utf8Validator(), pieces) == expected
        dfa = utf8.Utf8Validator()
        dfa._decoder = None
        assert _check_validator(dfa, [memoryview(p) for p in pieces]) == expected


# ---- frames: an independent reference parser -------------------------------------------------

MASK_KEYS = [b"\x00\x00\x00\x00", b"\x37\xfa\x21\x3d", b"\xff\xff\xff\xff"]


def encode(opcode, payload, fin=True, mask=None, rsv=0, length=None, long_form=False):
    """One frame, built by hand (not with wscore.frames), optionally lying about its length."""
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask is not None else 0
    if n < 126 and not long_form:
        head.append(bit | n)
    elif n < 65536 and not long_form:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    body = bytearray(payload)
    if mask is not None:
        head += mask
        for i in range(len(body)):
            body[i] ^= mask[i & 3]
    return bytes(head + body)


class RefResult:
    def __init__(self):
        self.events = []  # ('text', str) ('binary', bytes) ('ping', b) ('pong', b) ('close', code)
        self.failed = None  # our close code when we failed the connection


def ref_parse(data, from_client, max_size):
    """Parse ``data`` in one go; the events a conforming endpoint reports (RFC 6455 5-7)."""
    out = RefResult()
    pos = 0
    msg_opcode = None
    parts = []
    size = 0

    def fail(code):
        out.failed = code
        out.events.append(("close", code))
        return out

    while True:
        if len(data) - pos < 2:
            return out
        b0, b1 = data[pos], data[pos + 1]
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        masked, n = b1 & 0x80, b1 & 0x7F
        if rsv or bool(masked) != from_client:
            return fail(1002)
        if opcode >= 8 and (not fin or n > 125):
            return fail(1002)
        hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if masked else 0)
        if len(data) - pos < hlen:
            return out
        if n == 126:
            n = struct.unpack_from("!H", data, pos + 2)[0]
        elif n == 127:
            n = struct.unpack_from("!Q", data, pos + 2)[0]
            if n >> 63:
                return fail(1002)
        key = data[pos + hlen - 4 : pos + hlen] if masked else b"\0\0\0\0"
        if opcode > 10 or 3 <= opcode <= 7:
            return fail(1002)
        if opcode == 0 and msg_opcode is None:
            return fail(1002)
        if opcode in (1, 2):
            if msg_opcode is not None:
                return fail(1002)
            msg_opcode = opcode
        if opcode < 8 and max_size is not None and size + n > max_size:
            return fail(1009)
        start = pos + hlen
        raw = data[start : start + n]
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(raw))
        if opcode < 8:
            parts.append(payload)
            size += len(payload)
            if msg_opcode == 1 and not ref_valid_prefix(b"".join(parts)):
                return fail(1007)
        if len(raw) < n:
            return out
        pos = start + n
        if opcode == 9:
            out.events.append(("ping", payload))
        elif opcode == 10:
            out.events.append(("pong", payload))
        elif opcode == 8:
            if len(payload) == 1:
                return fail(1002)
            if not payload:
                out.events.append(("close", 1005))
                return out
            code = struct.unpack("!H", payload[:2])[0]
            if not is_valid_close_code(code) or not ref_valid(payload[2:]):
                return fail(1002)
            out.events.append(("close", code))
            return out
        elif fin:
            whole = b"".join(parts)
            if msg_opcode == 1:
                if not ref_valid(whole):
                    return fail(1007)
                out.events.append(("text", whole.decode("utf-8")))
            else:
                out.events.append(("binary", whole))
            msg_opcode, parts, size = None, [], 0


def normalise(events):
    result = []
    for event in events:
        if isinstance(event, str):
            result.append(("text", event))
        elif isinstance(event, bytes):
            result.append(("binary", event))
        elif isinstance(event, Ping):
            result.append(("ping", bytes(event.data)))
        elif isinstance(event, Pong):
            result.append(("pong", bytes(event.data)))
        elif isinstance(event, Close):
            result.append(("close", event.code))
        else:
            raise AssertionError("unexpected event %r" % (event,))
    return result


def run_connection(pieces, client, max_size, defer, eof=False):
    """Feed ``pieces``; return (events, bytes written, close reason, error code)."""
    conn = Connection(client=client, max_size=max_size, defer_errors=defer)
    if client:
        conn._mask_source = lambda: b"\x01\x02\x03\x04"  # deterministic, to compare outputs
    events = []
    for piece in pieces:
        conn.receive_data(piece)
        events.extend(conn.events())
        if defer and conn.pending_error is not None:
            break
    if defer and conn.pending_error is not None:
        assert conn.pending_error.code in FAILURE_CODES
        conn.fail()
        events.extend(conn.events())
    if eof:
        conn.receive_eof()
        events.extend(conn.events())
    out = b"".join(bytes(b) for b in conn.data_to_send())
    return normalise(events), out, conn.close_reason, conn.close_code


def frame_plan(from_client):
    """A valid frame sequence (masked from a client), as (bytes, kind) to mutate later."""
    mask = st.sampled_from(MASK_KEYS) if from_client else st.none()
    text = st.one_of(st.text(max_size=30).map(lambda t: t.encode("utf-8")), utf8_inputs)
    data_frame = st.tuples(st.sampled_from([1, 2]), st.one_of(text, st.binary(max_size=300)), mask, st.booleans())
    control = st.tuples(st.sampled_from([9, 10]), st.binary(max_size=125), mask, st.just(False))
    fragmented = st.tuples(st.just(-1), st.lists(text, min_size=2, max_size=4).map(b"".join), mask, st.booleans())
    close = st.tuples(st.just(8), st.sampled_from([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x0f\xa0\xc3\xa9", b"\x03\xed", b"\x03"]), mask, st.just(False))
    return st.lists(st.one_of(data_frame, control, fragmented, close), max_size=6)


def build(plan, long_forms):
    out = bytearray()
    for opcode, payload, mask, long_form in plan:
        if opcode == -1:  # a text message in 3 fragments, cut inside characters on purpose
            a, b = len(payload) // 3, 2 * len(payload) // 3
            out += encode(1, payload[:a], False, mask)
            out += encode(9, b"mid", True, mask)  # a control frame between fragments
            out += encode(0, payload[a:b], False, mask)
            out += encode(0, payload[b:], True, mask)
        else:
            out += encode(opcode, payload, True, mask, long_form=long_form and long_forms)
    return bytes(out)


def _check_stream(data, draw, client):
    from_client = not client
    max_size = draw.draw(st.sampled_from([None, 16, 200, 1 << 20]))
    ref = ref_parse(data, from_client, max_size)
    results = []
    for defer in (False, True):
        for pieces in chunkings(data, draw.draw):
            results.append(run_connection(pieces, client, max_size, defer))
    first = results[0]
    for result in results[1:]:
        assert result == first, "chunking or defer_errors changed the outcome"
    events, out, reason, code = first
    assert events == ref.events, (events, ref.events)
    event("close %s" % code if code is not None else "open, %d events" % min(len(events), 3))
    if ref.failed is not None:
        assert code == ref.failed in FAILURE_CODES
    # At most one Close, and it comes last.
    closes = [e for e in events if e[0] == "close"]
    assert len(closes) <= 1 and (not closes or events[-1][0] == "close")
    # Replies on the wire: one pong per ping (until a close is sent), then at most one close.
    written = ref_parse(out, client, None) if out else RefResult()
    assert written.failed is None, "we wrote frames that break RFC 6455: %r" % out
    pongs = [e[1] for e in written.events if e[0] == "pong"]
    assert pongs == [e[1] for e in events if e[0] == "ping"]
    sent_closes = [e for e in written.events if e[0] == "close"]
    if closes:
        assert len(sent_closes) == 1
        assert sent_closes[0][1] == closes[0][1]
    else:
        assert sent_closes == []
    # EOF at the end: 1006 exactly when nothing closed the connection before.
    with_eof = run_connection([data], client, max_size, False, eof=True)[0]
    assert with_eof == (events if closes else events + [("close", 1006)])


@FUZZ
@given(frame_plan(True), st.booleans(), st.data())
def test_server_side_frames_mutated(plan, long_forms, draw):
    data = draw.draw(mutated(build(plan, long_forms)))
    _check_stream(data, draw, client=False)


@FUZZ
@given(frame_plan(False), st.booleans(), st.data())
def test_client_side_frames_mutated(plan, long_forms, draw):
    data = draw.draw(mutated(build(plan, long_forms)))
    _check_stream(data, draw, client=True)


@FUZZ
@given(st.binary(max_size=200), st.booleans(), st.data())
def test_frames_random_bytes(data, client, draw):
    _check_stream(data, draw, client=client)


# Frame headers only, every field drawn: lengths near the 7/16/64-bit edges and 2^63.
LENGTH_EDGES = [0, 1, 125, 126, 127, 65535, 65536, (1 << 20) + 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


@st.composite
def frame_headers(draw, client):
    b0 = draw(st.one_of(st.integers(0, 255), st.sampled_from([0x81, 0x82, 0x01, 0x00, 0x80, 0x88, 0x89, 0x8A])))
    masked = draw(st.booleans()) if draw(st.integers(0, 5)) == 0 else not client
    key = draw(st.sampled_from(MASK_KEYS)) if masked else None
    return encode(b0 & 0x0F, b"", bool(b0 & 0x80), key, b0 & 0x70, length=draw(st.sampled_from(LENGTH_EDGES)))


@FUZZ
@given(st.booleans(), st.data())
def test_frame_headers_at_length_edges(client, draw):
    headers = b"".join(draw.draw(st.lists(frame_headers(client), min_size=1, max_size=3)))
    _check_stream(headers + draw.draw(st.binary(max_size=20)), draw, client)


# ---- request heads ----------------------------------------------------------------------------

HEADER_CHOICES = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "keep-alive, Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Protocol", "chat, superchat"),
    ("Origin", "http://example.com"),
    ("Authorization", "Bearer secret"),
    ("Cookie", "a=b; c=d"),
    ("X-Long", "x" * 200),
]
REQUIRED = HEADER_CHOICES[:5]


@st.composite
def upgrade_requests(draw):
    method = draw(st.sampled_from(["GET"] * 6 + ["POST", "get", "HEAD"]))
    target = draw(st.sampled_from(["/", "/chat", "/a?b=c&d=%20", "*", "/" + "p" * 300]))
    version = draw(st.sampled_from(["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/2"]))
    fields = list(REQUIRED)
    if draw(st.booleans()):
        fields = draw(st.permutations(fields))
    extra = draw(st.lists(st.sampled_from(HEADER_CHOICES), max_size=4))
    fields = fields + extra
    dropped = draw(st.sets(st.integers(0, len(fields) - 1), max_size=2)) if draw(st.integers(0, 3)) == 0 else set()
    lines = ["%s %s %s" % (method, target, version)]
    lines += ["%s: %s" % f for i, f in enumerate(fields) if i not in dropped]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + draw(st.sampled_from([b"", b"\x81\x85", b"GET / HTTP/1.1\r\n\r\n"]))


def run_head(pieces, max_size):
    """Feed pieces as the server does; ('incomplete',) / ('error', status) / ('ok', key, proto, rest)."""
    reader = HeadReader(max_size, max_size // 2)
    try:
        done = None
        for i, piece in enumerate(pieces):
            if reader.feed(piece):
                done = i
                break
        if done is None:
            return ("incomplete",)
        # What came after the head in the chunk that completed it, plus the chunks not fed.
        rest = reader.rest + b"".join(pieces[done + 1 :])
        request = parse_request(reader.head)
        key, proto = check_request(request, ["superchat", "chat"])
        return ("ok", key, proto, rest)
    except HandshakeError as exc:
        assert exc.status in HANDSHAKE_STATUSES, exc.status
        assert isinstance(exc.reason, str) and exc.reason
        return ("error", exc.status)


def _check_head(data, draw):
    max_size = draw.draw(st.sampled_from([64, 256] + [8192] * 4))
    outcomes = [run_head(pieces, max_size) for pieces in chunkings(data, draw.draw)]
    assert all(o == outcomes[0] for o in outcomes), outcomes
    event(" ".join(str(x) for x in outcomes[0][:2]) if outcomes[0][0] != "ok" else "ok")
    if outcomes[0][0] == "ok":
        head_end = data.find(b"\r\n\r\n")
        assert head_end + 4 <= max_size
        assert outcomes[0][3] == data[head_end + 4 :]


@FUZZ
@given(upgrade_requests(), st.booleans(), st.data())
def test_request_heads_valid_and_mutated(base, mutate, draw):
    _check_head(draw.draw(mutated(base)) if mutate else base, draw)


@FUZZ
@given(st.binary(max_size=300), st.data())
def test_request_heads_random_bytes(data, draw):
    _check_head(data, draw)


@FUZZ
@given(
    st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b":", b" ", b"\t", b"a", b"Host", b"GET / HTTP/1.1", b"\r\n\r\n", b"\xff", b"x" * 40]), max_size=40),
    st.data(),
)
def test_request_heads_from_http_tokens(tokens, draw):
    _check_head(b"".join(tokens), draw)


def test_a_valid_request_is_accepted_in_every_chunking():
    # Sanity check of the harness: a valid request really does come out as 'ok'.
    head = ("GET /chat HTTP/1.1\r\n" + "".join("%s: %s\r\n" % f for f in REQUIRED) + "\r\n").encode()
    for i in range(len(head) + 1):
        assert run_head([head[:i], head[i:]], 8192) == ("ok", "dGhlIHNhbXBsZSBub25jZQ==", None, b"")
