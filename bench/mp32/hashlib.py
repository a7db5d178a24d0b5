"""``hashlib.sha1`` in Python, frozen into bench/mp32/build.sh's 32-bit unix port.

MicroPython's unix port takes sha1 from its TLS library, which that build leaves out; the
handshake needs it once per connection (RFC 6455 section 4.2.2). Not for anything else.
"""

import struct


def _rol(x, n):
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


class sha1:
    """SHA-1 (FIPS 180-4): ``update()`` and ``digest()``, what the handshake uses."""

    def __init__(self, data=b""):
        self._data = bytearray(data)

    def update(self, data):
        self._data.extend(data)

    def digest(self):
        msg = bytes(self._data)
        ml = len(msg) * 8
        msg += b"\x80" + b"\x00" * ((56 - (len(msg) + 1) % 64) % 64) + struct.pack(">Q", ml)
        h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
        for off in range(0, len(msg), 64):
            w = list(struct.unpack(">16I", msg[off:off + 64]))
            for i in range(16, 80):
                w.append(_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1))
            a, b, c, d, e = h
            for i in range(80):
                if i < 20:
                    f, k = (b & c) | (~b & d), 0x5A827999
                elif i < 40:
                    f, k = b ^ c ^ d, 0x6ED9EBA1
                elif i < 60:
                    f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
                else:
                    f, k = b ^ c ^ d, 0xCA62C1D6
                a, b, c, d, e = (_rol(a, 5) + (f & 0xFFFFFFFF) + e + k + w[i]) & 0xFFFFFFFF, a, _rol(b, 30), c, d
            h = [(x + y) & 0xFFFFFFFF for x, y in zip(h, (a, b, c, d, e))]
        return struct.pack(">5I", *h)
