"""The asyncio layer shared by CPython and MicroPython, and the public API of ``wsio``.

It does no I/O of its own: it drives the streams that the platform package hands it, through
the small interface in ``runtime``. Everything here runs unchanged on both interpreters. The
platform packages re-export this module's names as ``wsio``.
"""

import asyncio  # noqa: F401
import gc

# The modules, bottom-up, before the names. MicroPython runs an import inside the one that
# asked for it, on the C stack, so the chain client -> websocket -> protocol -> frames -> mask
# -> _viper took a level of stack each (~5 KB on the unix port, most of it the path buffer of
# PATH_MAX that its import keeps per level; boards keep 128 bytes). Loaded here in order, no
# module is imported more than two levels below this package (tests/test_mp_stack_cpython.py).
#
# MicroPython also compiles a .py file as it imports it, and collects only when an allocation
# fails: each module's code and state would land among the garbage of compiling the ones
# before, and the heap ends up in small pieces. A collection after each import packs them:
# from .py files examples/echo.py now serves in every heap from 176 KiB on the unix port,
# where 224 to 288 KiB failed to start (tests/test_mp_heap_cpython.py). The heap is told by
# gc.mem_free, as in wscore.protocol: CPython has none, and no need of this.
_collect = gc.collect if hasattr(gc, "mem_free") else None
for _module in (
    "constants", "errors", "utf8", "mask", "frames", "protocol", "http", "handshake",
    "aio.runtime", "aio.options", "aio.watchdog", "aio.websocket", "aio.broadcast", "aio.client", "aio.server",
):
    __import__("wscore." + _module)
    if _collect is not None:
        _collect()
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
