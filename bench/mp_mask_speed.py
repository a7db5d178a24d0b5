"""Masking speed on MicroPython: the selected implementation and each path, in MB/s.

    MICROPYPATH=packages/ws-core/src:.frozen micropython -X heapsize=8M bench/mp_mask_speed.py
"""

import time

from wscore import mask

N = 1 << 20
KEY = b"\x37\xfa\x21\x9d"
src = bytearray(N + 8)
dst = bytearray(N + 8)


def rate(fn, repeat=10):
    fn()
    start = time.ticks_us()
    for _ in range(repeat):
        fn()
    return repeat * N / max(1, time.ticks_diff(time.ticks_us(), start))


view_src, view_dst = memoryview(src), memoryview(dst)
cases = [
    ("mask_into, aligned (words)", lambda: mask.mask_into(dst, src, KEY, 0)),
    ("mask_into, both at offset 1", lambda: mask.mask_into(view_dst[1 : N + 1], view_src[1 : N + 1], KEY, 1)),
    ("mask_into, offsets 1 and 2 (shifted)", lambda: mask.mask_into(view_dst[2 : N + 2], view_src[1 : N + 1], KEY, 1)),
    ("masked (new buffer)", lambda: mask.masked(view_src[:N], KEY, 0)),
    ("portable big-int, 64 KiB blocks", lambda: mask.mask_into_portable(dst, view_src[:N], KEY, 0)),
]
for name, fn in cases:
    print("%-36s %7.0f MB/s" % (name, rate(fn, 3 if "portable" in name else 10)))
