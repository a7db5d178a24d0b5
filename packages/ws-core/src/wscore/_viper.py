"""Native-code twins of the hot loops, for MicroPython builds that have viper.

Imported only when ``micropython.viper`` compiles (``ImportError`` or ``SyntaxError`` elsewhere,
and the callers fall back to the portable code). Never imported on CPython.
"""

import micropython


@micropython.viper
def _xor(dst: ptr8, src: ptr8, n: int, key: ptr8, phase: int):
    i = 0
    while i < n:
        dst[i] = src[i] ^ key[(i + phase) & 3]
        i += 1


def mask_into(dst, src, key, phase=0):
    """XOR ``src`` with ``key`` from ``phase`` into ``dst`` (see ``wscore.mask``)."""
    n = len(src)
    if n == 0:
        return
    _xor(dst, src, n, key, phase)


def masked(src, key, phase=0):
    """``src`` XOR ``key`` from ``phase`` as a new ``bytearray``."""
    n = len(src)
    out = bytearray(n)
    if n:
        _xor(out, src, n, key, phase)
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
