"""The protocol's vocabulary: opcodes, close codes and connection states (RFC 6455).

Plain integers, so that the same names work on CPython and MicroPython (which has no ``enum``).
"""

# Opcodes (RFC 6455 section 5.2).
OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Close codes (RFC 6455 section 7.4.1 and the IANA registry).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never sent: reported when a close frame carried no code
CLOSE_ABNORMAL = 1006  # never sent: reported when the TCP connection dropped without a close frame
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_MANDATORY_EXTENSION = 1010
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_GATEWAY = 1014

# Connection states (RFC 6455 section 4 and 7).
CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3

STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

# Appended to the client's key before hashing (RFC 6455 section 1.3).
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# The largest control frame payload, and the longest close reason that fits in it.
MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON = 123


def is_valid_close_code(code):
    """True when ``code`` may appear in a close frame on the wire (RFC 6455 section 7.4).

    1000-1003 and 1007-1014 are defined; 3000-4999 belong to libraries and applications.
    1004 is reserved, 1005 and 1006 are for reporting only, 1015 is TLS-only and the rest of
    1016-2999 is unassigned.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
