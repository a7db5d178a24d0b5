"""XOR masking of payloads (RFC 6455 section 5.3), with no per-byte Python loop.

``masked(src, key, phase)`` returns a new buffer holding ``src`` XOR the 4-byte ``key``;
``mask_into(dst, src, key, phase)`` writes ``src`` XOR the 4-byte ``key`` into ``dst`` (which
may be ``src`` itself, to unmask in place). ``phase`` is how many payload bytes precede ``src``
in the frame, so a payload that arrives in pieces is unmasked piece by piece. ``key`` is any
bytes-like object (the parser passes a view of the frame's header).

The portable method turns the whole block into one big integer and XORs it with the repeated
key: CPython does that in C at several hundred MB/s (and larger buffers faster still with
``bytes.translate``, see ``_TRANSLATE_FROM``). MicroPython builds with viper use a native loop
instead (``_viper.mask_into``), which also keeps the heap flat; all are tested.
"""

# Big-int XOR needs temporaries of a few times the block; blocks keep that bounded on small heaps.
_BLOCK = 1 << 16

# CPython: from this size on, ``masked_portable`` XORs through ``bytes.translate``, one table
# per byte lane (every 4th byte), which measured 1.3-1.9x faster than the big-int method on
# 16 KiB-256 KiB (bench/profile_hotpaths.py: the int conversions were 60% of the server's CPU
# for 1 MiB messages). MicroPython has no ``translate`` and never takes this path.
_TRANSLATE_FROM = 8192
_HAS_TRANSLATE = hasattr(bytes, "translate")
_xor_tables = [None] * 256 if _HAS_TRANSLATE else None


def _masked_translate(src, key, phase):
    """``src`` XOR ``key`` from ``phase`` as a new ``bytearray``, lane by lane."""
    out = bytearray(src)
    for lane in range(4):
        k = key[(lane + phase) & 3]
        table = _xor_tables[k]
        if table is None:
            table = _xor_tables[k] = bytes(b ^ k for b in range(256))
        out[lane::4] = out[lane::4].translate(table)
    return out


def _key_int(key, phase, n):
    """The key (any 4-byte bytes-like) rotated by ``phase`` and repeated to ``n`` bytes, as a
    little-endian integer."""
    key = bytes(key)
    if phase & 3:
        key = key[phase & 3 :] + key[: phase & 3]
    repeated = key * ((n >> 2) + 1)
    return int.from_bytes(repeated[:n], "little")


def mask_into_portable(dst, src, key, phase=0):
    """XOR ``src`` with ``key`` (starting ``phase`` bytes into it) into ``dst``; same length."""
    n = len(src)
    if n == 0:
        return
    start = 0
    block_key = None
    while start < n:
        size = min(_BLOCK, n - start)
        if size == _BLOCK:
            # Every full block starts at the same key phase (_BLOCK is a multiple of 4).
            if block_key is None:
                block_key = _key_int(key, phase, _BLOCK)
            k = block_key
        else:
            k = _key_int(key, phase, size)
        chunk = src[start : start + size]
        dst[start : start + size] = (int.from_bytes(chunk, "little") ^ k).to_bytes(size, "little")
        start += size


mask_into = mask_into_portable
try:
    from ._viper import mask_into  # type: ignore # noqa: F811
except (ImportError, SyntaxError):  # CPython, or a MicroPython build without viper
    pass


def masked_portable(src, key, phase=0):
    """``src`` XOR ``key`` as a new ``bytes`` object (the big-int result is the output: no extra copy)."""
    n = len(src)
    if n >= _TRANSLATE_FROM and _HAS_TRANSLATE:
        return _masked_translate(src, key, phase)
    if n <= _BLOCK:
        return (int.from_bytes(src, "little") ^ _key_int(key, phase, n)).to_bytes(n, "little")
    out = bytearray(n)
    mask_into_portable(out, src, key, phase)
    return out


masked = masked_portable
try:
    from ._viper import masked  # type: ignore # noqa: F811
except (ImportError, SyntaxError):
    pass
