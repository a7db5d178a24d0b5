"""Incremental UTF-8 validation that fails on the first invalid byte (RFC 3629, RFC 6455 8.1).

``Utf8Validator().feed(chunk)`` returns False as soon as the bytes seen so far cannot start a
valid UTF-8 string, so a text message split over frames or TCP reads is refused the moment the
bad byte arrives (close 1007), not at the end of the message.

CPython's incremental ``utf-8`` decoder is strict and fails early, so it is used where present.
MicroPython's ``bytes.decode`` accepts surrogates, overlongs and code points above U+10FFFF and
has no incremental decoder, so there a DFA does the work: as native code where the build has
viper (``_viper.utf8_feed``), else in Python with no per-byte loop over ASCII runs.
"""

try:
    import codecs  # type: ignore[import-not-found,unused-ignore]

    _incremental_decoder = codecs.getincrementaldecoder("utf-8")
except (ImportError, AttributeError):  # MicroPython
    _incremental_decoder = None  # type: ignore[assignment,unused-ignore]

# DFA states: 0 = accept; other values count the continuation bytes still due, with a range for
# the next byte (RFC 3629 section 4): _NEXT_LO/_NEXT_HI[state] bound the next byte.
# State numbering: 1..3 = plain continuations due (80..BF);
# 4 = after E0 (A0..BF), 5 = after ED (80..9F), 6 = after F0 (90..BF), 7 = after F4 (80..8F).
_ACCEPT = 0
_REJECT = -1
_NEXT_LO = (0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80)
_NEXT_HI = (0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F)
# After a byte accepted in state s, how many continuation bytes are still due.
_AFTER = (0, 0, 1, 2, 1, 1, 2, 2)


def _lead_state(byte):
    """The state after lead byte ``byte``, or _REJECT."""
    if byte < 0x80:
        return _ACCEPT
    if byte < 0xC2:  # continuation byte as lead, or overlong C0/C1
        return _REJECT
    if byte < 0xE0:
        return 1
    if byte == 0xE0:
        return 4
    if byte == 0xED:
        return 5
    if byte < 0xF0:
        return 2
    if byte == 0xF0:
        return 6
    if byte < 0xF4:
        return 3
    if byte == 0xF4:
        return 7
    return _REJECT


def _ascii_run(data, start, end):
    """Index of the first non-ASCII byte of ``data[start:end]``, or ``end``."""
    i = start
    while i < end and data[i] < 0x80:
        i += 1
    return i


def _dfa_feed_plain(state, data, n):
    """Run the DFA over ``data[:n]`` from ``state``; the resulting state, or _REJECT."""
    i = 0
    while i < n:
        if state == _ACCEPT:
            i = _ascii_run(data, i, n)
            if i == n:
                break
            state = _lead_state(data[i])
            if state == _REJECT:
                return _REJECT
        else:
            byte = data[i]
            if byte < _NEXT_LO[state] or byte > _NEXT_HI[state]:
                return _REJECT
            due = _AFTER[state]
            state = due  # 0 means complete; 1 and 2 are plain continuation states
        i += 1
    return state


_dfa_feed = _dfa_feed_plain
try:
    from ._viper import utf8_feed as _dfa_feed  # type: ignore
except (ImportError, SyntaxError):  # CPython, or a MicroPython build without viper
    pass


class Utf8Validator:
    """Checks a byte stream for UTF-8 validity, chunk by chunk."""

    def __init__(self):
        self._decoder = _incremental_decoder() if _incremental_decoder else None
        self._state = _ACCEPT

    def feed(self, data):
        """Add ``data`` (any bytes-like object); False when the stream can no longer be valid."""
        if self._decoder is not None:
            try:
                self._decoder.decode(data, False)
            except UnicodeError:
                return False
            if len(data) and data[-1] >= 0x80:
                # CPython's decoder reports a surrogate (ED A0..BF) only at its third byte.
                pending = self._decoder.getstate()[0]
                if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                    return False
            return True
        if self._state == _REJECT:
            return False
        self._state = _dfa_feed(self._state, data, len(data))
        return self._state != _REJECT

    def finish(self):
        """True when everything fed so far is a complete, valid UTF-8 string."""
        if self._decoder is not None:
            try:
                self._decoder.decode(b"", True)
            except UnicodeError:
                return False
            return True
        return self._state == _ACCEPT


def dfa_is_valid_utf8(data):
    """``is_valid_utf8`` through the DFA (native code on viper builds), also on CPython (for tests)."""
    return _dfa_feed(_ACCEPT, data, len(data)) == _ACCEPT


def is_valid_utf8(data):
    """True when ``data`` (bytes-like) is complete, valid UTF-8."""
    validator = Utf8Validator()
    return validator.feed(data) and validator.finish()


if _incremental_decoder is None:  # MicroPython: the DFA alone, without a validator object
    is_valid_utf8 = dfa_is_valid_utf8  # noqa: F811
