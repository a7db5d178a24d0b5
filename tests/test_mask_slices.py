"""Masking on slices: viper (MicroPython) and portable against a per-byte reference.

The viper path XORs a word at a time when source and destination are aligned alike, and byte by
byte for the head, the tail and any pair that is not; so every offset of source and destination
modulo 4, every key phase, and lengths around the word threshold are checked, out of place and
in place.
"""

import support
from wire import pattern, xor

from wscore import mask

try:
    from wscore import _viper
except (ImportError, SyntaxError):  # CPython, or a MicroPython build without viper
    _viper = None

KEY = b"\x37\xfa\x21\x9d"
LENGTHS = (0, 1, 3, 4, 5, 15, 16, 17, 19, 31, 32, 33, 64, 101, 1000, 4099)


def check(name, masked, mask_into):
    for n in LENGTHS:
        whole = pattern(n + 8)
        for src_offset in range(4):
            src = memoryview(whole)[src_offset : src_offset + n]
            for phase in range(4):
                expected = xor(src, KEY, phase)
                assert bytes(masked(src, KEY, phase)) == expected, (name, "masked", n, src_offset, phase)
                for dst_offset in range(4):
                    out = bytearray(n + 8)
                    mask_into(memoryview(out)[dst_offset : dst_offset + n], src, KEY, phase)
                    assert bytes(out[dst_offset : dst_offset + n]) == expected, (name, n, src_offset, dst_offset, phase)
                    assert out[:dst_offset] == bytearray(dst_offset), (name, "wrote before dst", n, src_offset, dst_offset)
                    assert out[dst_offset + n :] == bytearray(8 - dst_offset), (name, "wrote past dst", n, src_offset, dst_offset)
                # In place, as the connection unmasks a buffer it owns.
                buf = bytearray(whole)
                view = memoryview(buf)[src_offset : src_offset + n]
                mask_into(view, view, KEY, phase)
                assert bytes(view) == expected, (name, "in place", n, src_offset, phase)


def test_portable_matches_reference_on_slices():
    check("portable", mask.masked_portable, mask.mask_into_portable)


@support.skip_if(_viper is None, "no micropython.viper on this interpreter")
def test_viper_matches_reference_on_slices():
    check("viper", _viper.masked, _viper.mask_into)
