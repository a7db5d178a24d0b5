"""The asyncio layer shared by CPython and MicroPython, and the public API of ``wsio``.

It does no I/O of its own: it drives the streams that the platform package hands it, through
the small interface in ``runtime``. Everything here runs unchanged on both interpreters. The
platform packages re-export this module's names as ``wsio``.
"""

from ..errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidAccept,
    InvalidExtension,
    InvalidStatus,
    InvalidSubprotocol,
    InvalidUpgrade,
    ProtocolError,
    WebSocketError,
)
from .broadcast import Broadcaster
from .client import connect
from .options import Options
from .server import App, Request, websocket_upgrade, with_websocket
from .websocket import WebSocket

__all__ = [
    "App",
    "Broadcaster",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeError",
    "InvalidAccept",
    "InvalidExtension",
    "InvalidStatus",
    "InvalidSubprotocol",
    "InvalidUpgrade",
    "Options",
    "ProtocolError",
    "Request",
    "WebSocket",
    "WebSocketError",
    "connect",
    "websocket_upgrade",
    "with_websocket",
]
