"""Native-code twins of the hot loops, for MicroPython builds that have viper.

Imported only when ``micropython.viper`` compiles (``ImportError`` or ``SyntaxError`` elsewhere,
and the callers fall back to the portable code). Never imported on CPython.
"""

import sys

import micropython


@micropython.viper
def _xor(dst: ptr8, src: ptr8, n: int, key: ptr8, phase: int):
    i = 0
    while i < n:
        dst[i] = src[i] ^ key[(i + phase) & 3]
        i += 1


@micropython.viper
def _xor32(dst: ptr8, src: ptr8, n: int, key: ptr8, phase: int):
    # Byte by byte up to a 4-aligned dst, then a word at a time (src is aligned too: the caller
    # checked that both addresses are equal modulo 4), then the tail byte by byte. Little-endian
    # only: the key word is assembled with its first byte lowest.
    d = int(dst)
    i = 0
    while (d + i) & 3:
        dst[i] = src[i] ^ key[(i + phase) & 3]
        i += 1
    p = i + phase
    k = key[p & 3] | (key[(p + 1) & 3] << 8) | (key[(p + 2) & 3] << 16) | (key[(p + 3) & 3] << 24)
    d32 = ptr32(d + i)
    s32 = ptr32(int(src) + i)
    words = (n - i) >> 2
    j = 0
    while j < words:
        d32[j] = s32[j] ^ k
        j += 1
    i += words << 2
    while i < n:
        dst[i] = src[i] ^ key[(i + phase) & 3]
        i += 1


@micropython.viper
def _address(buf: ptr8) -> int:
    return int(buf)


# Word access needs both buffers aligned alike (some cores fault on unaligned words); below this
# size the byte loop is as fast.
_WORDS_FROM = 16
_LITTLE = sys.byteorder == "little"


def _mask(dst, src, n, key, phase):
    if _LITTLE and n >= _WORDS_FROM and (_address(dst) - _address(src)) & 3 == 0:
        _xor32(dst, src, n, key, phase)
    else:
        _xor(dst, src, n, key, phase)


def mask_into(dst, src, key, phase=0):
    """XOR ``src`` with ``key`` from ``phase`` into ``dst`` (see ``wscore.mask``)."""
    n = len(src)
    if n == 0:
        return
    _mask(dst, src, n, key, phase)


def masked(src, key, phase=0):
    """``src`` XOR ``key`` from ``phase`` as a new ``bytearray``."""
    n = len(src)
    out = bytearray(n)
    if n:
        _mask(out, src, n, key, phase)
    return out


@micropython.viper
def _ascii_end(data: ptr8, start: int, end: int) -> int:
    i = start
    while i < end:
        if data[i] & 0x80:
            return i
        i += 1
    return end


def ascii_run(data, start, end):
    """Index of the first non-ASCII byte of ``data[start:end]``, or ``end``."""
    return _ascii_end(data, start, end)
