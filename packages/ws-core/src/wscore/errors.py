"""The exceptions users catch, shared by both platforms.

    WebSocketError
    ├── ProtocolError            the peer broke RFC 6455 (carries the close code we sent)
    ├── HandshakeError           the opening handshake failed
    │   ├── InvalidStatus        the server answered with something other than 101
    │   ├── InvalidUpgrade       Upgrade/Connection headers missing or wrong
    │   ├── InvalidAccept        Sec-WebSocket-Accept does not match our key
    │   ├── InvalidSubprotocol   the server chose a subprotocol we did not offer
    │   └── InvalidExtension     the server enabled an extension we did not offer
    └── ConnectionClosed         the connection is closed (code, reason)
        ├── ConnectionClosedOK       ...with 1000, 1001 or 1005 (no status)
        └── ConnectionClosedError    ...with any other code
"""

from .constants import CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS


class WebSocketError(Exception):
    """Base class of every exception this library raises on purpose."""


class ProtocolError(WebSocketError):
    """The peer violated the protocol; ``code`` is the close code that answers it."""

    def __init__(self, message, code=1002):
        super().__init__(message)
        self.code = code


class HandshakeError(WebSocketError):
    """The opening handshake failed.

    On the server side ``status`` is the HTTP status to answer with and ``headers`` any
    extra response headers (e.g. ``Sec-WebSocket-Version`` with 426).
    """

    head_request = False  # the server's: the request was a HEAD, so the answer has no body

    def __init__(self, message, status=400, headers=None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []

    @property
    def reason(self):
        """The human-readable reason, as sent in a rejection body."""
        return self.args[0]


class InvalidStatus(HandshakeError):
    """The server did not switch protocols; ``status``, ``headers`` and ``body`` say what it sent."""

    def __init__(self, status, headers=None, body=b""):
        super().__init__("server rejected WebSocket connection: HTTP %d" % status, status, headers)
        self.body = body


class InvalidUpgrade(HandshakeError):
    """The response's ``Upgrade`` or ``Connection`` header is missing or wrong."""


class InvalidAccept(HandshakeError):
    """The response's ``Sec-WebSocket-Accept`` does not match the key we sent."""


class InvalidSubprotocol(HandshakeError):
    """The server chose a subprotocol the client did not offer."""


class InvalidExtension(HandshakeError):
    """The server enabled an extension the client did not offer."""


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` are the final close code and reason.

    ``code`` is 1006 when the connection dropped without a close frame and 1005 when the close
    frame carried no code.
    """

    def __init__(self, code, reason=""):
        super().__init__("connection closed: %d %s" % (code, reason) if reason else "connection closed: %d" % code)
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000, 1001, or a close frame with no code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or dropped without a close handshake."""


def connection_closed(code, reason=""):
    """The right ``ConnectionClosed`` subclass for a final ``code`` and ``reason``."""
    if code in (CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS):
        return ConnectionClosedOK(code, reason)
    return ConnectionClosedError(code, reason)
