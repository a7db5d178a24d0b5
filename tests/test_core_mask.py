"""Payload masking (RFC 6455 section 5.3): every implementation against a per-byte XOR."""

import support
from wire import pattern, xor

from wscore import mask

try:
    from wscore import _viper
except (ImportError, SyntaxError):  # CPython, or a MicroPython build without viper
    _viper = None

KEYS = (b"\x37\xfa\x21\x3d", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x80\x7f\xfe")
LENGTHS = (0, 1, 2, 3, 4, 5, 7, 8, 63, 1000, 65535, 65536, 65537, 70000)


def implementations():
    """``(name, masked, mask_into)`` for every implementation present."""
    impls = [
        ("selected", mask.masked, mask.mask_into),
        ("portable", mask.masked_portable, mask.mask_into_portable),
    ]
    if _viper is not None:
        impls.append(("viper", _viper.masked, _viper.mask_into))
    return impls


def test_masked_matches_xor():
    for n in LENGTHS:
        data = pattern(n)
        for key in KEYS[:2] if n > 5000 else KEYS:
            for phase in range(4):
                expected = xor(data, key, phase)
                for name, masked, _ in implementations():
                    result = masked(data, key, phase)
                    assert len(result) == n, (name, n, phase)
                    assert bytes(result) == expected, (name, n, key, phase)


def test_masked_accepts_any_bytes_like_input():
    data = pattern(1000)
    key = KEYS[0]
    expected = xor(data, key, 2)
    for name, masked, _ in implementations():
        assert bytes(masked(bytearray(data), key, 2)) == expected, name
        assert bytes(masked(memoryview(data), key, 2)) == expected, name
        assert bytes(masked(memoryview(b"xx" + data)[2:], key, 2)) == expected, name
    # The source is left alone.
    assert data == pattern(1000)


def test_the_key_may_be_a_view_of_the_frame_header():
    # The parser unmasks a small frame with a view of its header's key, in place.
    for n in (5, 63, 1000, 70000):
        data = pattern(n)
        for phase in range(4):
            expected = xor(data, KEYS[3], phase)
            for name, masked, mask_into in implementations():
                frame = bytearray(b"\x81\xfe" + KEYS[3] + data)
                view = memoryview(frame)
                key = view[2:6]
                assert bytes(masked(data, key, phase)) == expected, (name, n, phase)
                mask_into(view[6:], view[6:], key, phase)
                assert bytes(frame[6:]) == expected, (name, n, phase)
                assert bytes(frame[2:6]) == KEYS[3], (name, n, phase)


def test_phase_default_is_zero_and_phases_repeat():
    data = pattern(37)
    key = KEYS[3]
    for name, masked, _ in implementations():
        assert bytes(masked(data, key)) == xor(data, key, 0), name
        for phase in range(4):
            assert bytes(masked(data, key, phase + 4)) == xor(data, key, phase), (name, phase)
            assert bytes(masked(data, key, phase + 1000)) == xor(data, key, phase), (name, phase)


def test_mask_into_matches_xor():
    for n in LENGTHS:
        data = pattern(n)
        key = KEYS[0]
        for phase in range(4):
            expected = xor(data, key, phase)
            for name, _, mask_into in implementations():
                dst = bytearray(n)
                mask_into(dst, data, key, phase)
                assert dst == expected, (name, n, phase)


def test_mask_into_a_view_of_a_larger_buffer():
    data = pattern(300)
    key = KEYS[3]
    for name, _, mask_into in implementations():
        buf = bytearray(b"A" * 310)
        mask_into(memoryview(buf)[5:305], data, key, 1)
        assert buf[:5] == b"AAAAA" and buf[305:] == b"AAAAA", name
        assert bytes(buf[5:305]) == xor(data, key, 1), name


def test_masking_twice_is_the_identity():
    data = pattern(70000)
    key = KEYS[3]
    for name, masked, _ in implementations():
        for phase in (0, 3):
            assert bytes(masked(masked(data, key, phase), key, phase)) == data, (name, phase)


def test_unmask_in_place_in_pieces():
    # A payload arriving in pieces at arbitrary boundaries is unmasked piece by piece, in place,
    # with phase = the number of payload bytes before the piece.
    key = KEYS[0]
    for n, cuts in (
        (1000, (1, 2, 3, 5, 8, 13, 100, 333, 999)),
        (70000, (3, 65536, 65539, 69999)),
        (70000, (1, 65535)),
        (17, (4, 8, 12, 16)),
    ):
        data = pattern(n)
        for name, _, mask_into in implementations():
            buf = bytearray(xor(data, key))
            view = memoryview(buf)
            start = 0
            for end in cuts + (n,):
                mask_into(view[start:end], view[start:end], key, start)
                start = end
            assert buf == data, (name, n, cuts)


def test_every_split_of_a_short_payload():
    data = pattern(23)
    key = KEYS[3]
    masked_data = xor(data, key)
    for name, masked, mask_into in implementations():
        for cut in range(24):
            for cut2 in range(cut, 24):
                out = bytes(masked(masked_data[:cut], key, 0))
                out += bytes(masked(masked_data[cut:cut2], key, cut))
                out += bytes(masked(masked_data[cut2:], key, cut2))
                assert out == data, (name, cut, cut2)


def test_empty_inputs():
    for name, masked, mask_into in implementations():
        assert bytes(masked(b"", KEYS[0], 0)) == b"", name
        assert bytes(masked(b"", KEYS[0], 3)) == b"", name
        dst = bytearray()
        mask_into(dst, b"", KEYS[0], 1)
        assert dst == bytearray(), name


def test_micropython_selects_viper():
    # On a MicroPython build with viper the fast path must be the one in use.
    if support.ON_MICROPYTHON and _viper is not None:
        assert mask.masked is _viper.masked
        assert mask.mask_into is _viper.mask_into
    if not support.ON_MICROPYTHON:
        assert _viper is None
        assert mask.masked is mask.masked_portable
        assert mask.mask_into is mask.mask_into_portable
