"""Native-code twins of the hot loops, for MicroPython builds that have viper.

Imported only when ``micropython.viper`` compiles (``ImportError`` or ``SyntaxError`` elsewhere,
and the callers fall back to the portable code). Never imported on CPython.
"""

import sys

import micropython


# 1 on little-endian cores, where the key word is assembled with its first byte lowest.
_LITTLE = 1 if sys.byteorder == "little" else 0


@micropython.viper
def mask_into(dst, src, key, phase: int):
    """XOR ``src`` with ``key`` from ``phase`` into ``dst`` (see ``wscore.mask``), in one call.

    A word at a time once ``dst`` is aligned, for runs of 16 bytes or more: byte by byte up to
    an aligned ``dst``, then words, then the tail byte by byte. Only aligned words are read and
    written (some cores fault on others), so a ``src`` that is not aligned like ``dst`` is read
    a word at a time too and each word written is shifted out of two read (a large message is
    unmasked from the read buffer into its own bytes at any offset: byte by byte ran 4x slower).
    Such a read may take up to 3 bytes past the end of ``src``, never past its aligned word.
    """
    n = int(len(src))
    d = ptr8(dst)
    s = ptr8(src)
    k = ptr8(key)
    i = 0
    if n >= 16 and int(_LITTLE):
        while (int(d) + i) & 3:
            d[i] = s[i] ^ k[(i + phase) & 3]
            i += 1
        p = i + phase
        word = uint(k[p & 3] | (k[(p + 1) & 3] << 8) | (k[(p + 2) & 3] << 16) | (k[(p + 3) & 3] << 24))
        d32 = ptr32(int(d) + i)
        words = (n - i) >> 2
        lag = (int(s) + i) & 3
        j = 0
        if lag == 0:
            s32 = ptr32(int(s) + i)
            while j < words:
                d32[j] = s32[j] ^ word
                j += 1
        else:
            s32 = ptr32(int(s) + i - lag)
            shift = lag << 3
            back = 32 - shift
            low = uint(s32[0]) >> shift
            while j < words:
                high = uint(s32[j + 1])
                d32[j] = (low | (high << back)) ^ word
                low = high >> shift
                j += 1
        i += words << 2
    while i < n:
        d[i] = s[i] ^ k[(i + phase) & 3]
        i += 1


def masked(src, key, phase=0):
    """``src`` XOR ``key`` from ``phase`` as a new ``bytearray``."""
    out = bytearray(len(src))
    mask_into(out, src, key, phase)
    return out


@micropython.viper
def utf8_feed(state: int, data: ptr8, n: int) -> int:
    """``wscore.utf8._dfa_feed_plain`` as native code: the DFA state after ``data[:n]``, or -1.

    The states are utf8.py's: 0 accepts; 1 to 3 are plain continuation bytes due; 4 to 7 are the
    restricted second bytes after E0, ED, F0 and F4 (RFC 3629 section 4).
    """
    i = 0
    while i < n:
        b = data[i]
        i += 1
        if state == 0:
            if b < 0x80:
                continue
            if b < 0xC2:
                return -1
            if b < 0xE0:
                state = 1
            elif b == 0xE0:
                state = 4
            elif b == 0xED:
                state = 5
            elif b < 0xF0:
                state = 2
            elif b == 0xF0:
                state = 6
            elif b < 0xF4:
                state = 3
            elif b == 0xF4:
                state = 7
            else:
                return -1
        elif state <= 3:
            if b < 0x80 or b > 0xBF:
                return -1
            state -= 1
        elif state == 4:
            if b < 0xA0 or b > 0xBF:
                return -1
            state = 1
        elif state == 5:
            if b < 0x80 or b > 0x9F:
                return -1
            state = 1
        elif state == 6:
            if b < 0x90 or b > 0xBF:
                return -1
            state = 2
        else:
            if b < 0x80 or b > 0x8F:
                return -1
            state = 2
    return state
