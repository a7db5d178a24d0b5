"""Frame encoding and header decoding (RFC 6455 section 5.2). No state, no I/O.

A frame goes out as a header and a payload kept apart (``encode_frame`` returns both), so a large
payload is written as it is, never copied into a joined buffer. Small payloads are joined to
their header instead: one write is cheaper than two for them.
"""

# Builtins used per message, bound as globals for MicroPython's sake (see wscore.protocol).
from builtins import bytes, len, memoryview

import struct

from .constants import MAX_CONTROL_PAYLOAD, OP_CONTINUATION, OP_CLOSE
from .errors import ProtocolError
from .mask import masked

# Below this size a payload is joined to its header: a copy costs less than a second write.
JOIN_BELOW = 1024


def encode_header(opcode, length, fin=True, mask_key=None):
    """The header of one frame: FIN, opcode, the shortest length encoding, and the mask key."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask_key else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 0x10000:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask_key:
        header += mask_key
    return header


def encode_frame(opcode, payload, fin=True, mask_key=None):
    """The buffers that carry one frame, in order: ``[header + payload]`` or ``[header, payload]``.

    ``payload`` is any bytes-like object; with ``mask_key`` (4 bytes) it is masked into a new
    buffer, as a client must (RFC 6455 section 5.3); without, it is used as it is.
    """
    length = len(payload)
    header = encode_header(opcode, length, fin, mask_key)
    if mask_key and length:
        payload = masked(payload, mask_key, 0)
    if length < JOIN_BELOW:
        return [header + payload] if length else [header]
    return [header, payload]


def encode_message(opcode, payload, mask_key_source=None, fragment_size=None):
    """The buffers for a whole message, split into frames of ``fragment_size`` bytes if given.

    ``mask_key_source`` is a function returning a fresh 4-byte key per frame (clients), or None.
    """
    length = len(payload)
    if not fragment_size or length <= fragment_size:
        if length < 126 and not mask_key_source:
            # The most common message, a small one from the server: encode_header's first
            # branch, written here because the calls to encode_frame and encode_header cost
            # MicroPython 2.5% of the instructions of an echoed message. Filled in place, not
            # joined to a header made from a tuple: on MicroPython three objects fewer (96
            # bytes less garbage per message on a board) and faster; on CPython 0.2 us slower.
            frame = bytearray(length + 2)
            frame[0] = 0x80 | opcode
            frame[1] = length
            frame[2:] = payload
            return [frame]
        key = mask_key_source() if mask_key_source else None
        return encode_frame(opcode, payload, True, key)
    return _encode_fragments(opcode, payload, mask_key_source, fragment_size)


def _encode_fragments(opcode, payload, mask_key_source, fragment_size):
    # Apart from encode_message, so that its frame stays small enough for MicroPython to keep
    # it on the C stack (more than 11 words go to the heap, at every call).
    length = len(payload)
    view = memoryview(payload)
    buffers = []
    start = 0
    while start < length:
        end = min(start + fragment_size, length)
        key = mask_key_source() if mask_key_source else None
        buffers.extend(encode_frame(opcode if start == 0 else OP_CONTINUATION, view[start:end], end == length, key))
        start = end
    return buffers


def encode_close_payload(code=None, reason=""):
    """The payload of a close frame: nothing, or a 2-byte code and a UTF-8 reason (≤ 123 bytes)."""
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    reason_bytes = reason.encode("utf-8")
    if len(reason_bytes) > MAX_CONTROL_PAYLOAD - 2:
        raise ValueError("close reason is longer than 123 bytes of UTF-8")
    return struct.pack("!H", code) + reason_bytes


def decode_header(buf, start, available, from_client):
    """Decode the frame header at ``buf[start:start + available]``.

    Returns None when the header is not complete yet, else a tuple
    ``(header_length, fin, opcode, payload_length, mask_key)``. Raises ``ProtocolError`` for
    reserved bits, a masking rule broken (clients must mask, servers must not), a 64-bit length
    with its top bit set, and for control frames that are fragmented or longer than 125 bytes.
    Opcode validity against the message state is the caller's business.
    """
    if available < 2:
        return None
    first = buf[start]
    second = buf[start + 1]
    if first & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    fin = bool(first & 0x80)
    opcode = first & 0x0F
    masked_frame = second & 0x80
    length = second & 0x7F
    if masked_frame and not from_client:
        raise ProtocolError("masked frame from server")
    if not masked_frame and from_client:
        raise ProtocolError("unmasked frame from client")
    if opcode >= OP_CLOSE and (not fin or length > MAX_CONTROL_PAYLOAD):
        raise ProtocolError("fragmented control frame" if not fin else "control frame longer than 125 bytes")
    size = 2
    if length == 126:
        size = 4
    elif length == 127:
        size = 10
    header_length = size + (4 if masked_frame else 0)
    if available < header_length:
        return None
    if length == 126:
        length = (buf[start + 2] << 8) | buf[start + 3]
    elif length == 127:
        length = int.from_bytes(bytes(buf[start + 2 : start + 10]), "big")
        if length >> 63:
            raise ProtocolError("64-bit payload length with the most significant bit set")
    mask_key = bytes(buf[start + size : start + header_length]) if masked_frame else None
    return header_length, fin, opcode, length, mask_key
