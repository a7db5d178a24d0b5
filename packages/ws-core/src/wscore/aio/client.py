"""``connect``: open a client WebSocket connection.

    async with connect('ws://127.0.0.1:5000/echo') as ws:
        await ws.send('hello')
        print(await ws.receive())
"""

import asyncio

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: annotations are never evaluated there
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from typing import Any

from ..errors import HandshakeError
from ..handshake import ClientHandshake, parse_uri
from ..http import is_decimal, parse_response
from . import runtime
from .options import Options
from .watchdog import Watchdog
from .websocket import WebSocket

# The most of a rejection's body we keep for InvalidStatus.
_MAX_ERROR_BODY = 64 * 1024


class connect:
    """Connect to a ``ws://`` or ``wss://`` URI; use as ``async with connect(uri) as ws``.

    Options: ``subprotocols`` (offered, in order), ``headers`` (extra request headers, dict or
    pairs), ``origin``, ``ssl`` (an ``ssl.SSLContext``; ``wss://`` without one verifies the
    server's certificate and host name with the default trust store), and any ``Options`` name.
    Raises ``OSError`` when the connection is refused, ``asyncio.TimeoutError`` after
    ``open_timeout``, and a ``HandshakeError`` subclass when the server does not accept.
    ``ws = await connect(uri).open()`` works too; then close it with ``await ws.close()``.
    """

    def __init__(
        self,
        uri: str,
        subprotocols: "list[str] | None" = None,
        headers: "dict[str, str] | list[tuple[str, str]] | None" = None,
        origin: "str | None" = None,
        ssl: "Any" = None,
        **options: "Any",
    ) -> None:
        self.uri = uri
        self.subprotocols = subprotocols
        self.headers = headers or ()
        self.origin = origin
        self.ssl = ssl
        self.options = Options(**options)
        self.ws: "WebSocket | None" = None

    async def open(self) -> WebSocket:
        """Open the connection and return the ``WebSocket``."""
        try:
            return await runtime.impl.wait_for(self._open(), self.options.open_timeout)
        except BaseException:
            # MicroPython's wait_for can raise TimeoutError for an _open() that finished in the
            # same round: that WebSocket is nobody's, so it must not stay open.
            if self.ws is not None:
                self.ws._abort()
                self.ws = None
            raise

    async def _open(self):
        impl = runtime.impl
        secure, host, port, resource = parse_uri(self.uri)
        context = self.ssl
        if secure and context is None:
            context = impl.client_ssl_context()
        if not secure:
            context = None
        reader, writer = await impl.open_connection(host, port, context, host if context else None)
        try:
            handshake = ClientHandshake(host, port, resource, secure, self.subprotocols, self.origin, self.headers)
            await runtime.write(writer, [handshake.request])
            status, headers, rest = await self._read_response(reader)
            body = rest
            if status != 101:
                body = await self._read_error_body(reader, status, headers, body)
            subprotocol = handshake.check_response(status, headers, body)
        except BaseException:
            await impl.close(writer)
            raise
        ws = WebSocket(reader, writer, True, self.options, None, subprotocol)
        watchdog = Watchdog(self.options.timer_tick())
        watchdog.add(ws)
        ws._start(rest, lambda ws: watchdog.stop())
        self.ws = ws
        return ws

    async def _read_response(self, reader):
        """The final response's status, headers and the bytes after its head.

        Interim responses (1xx other than 101, e.g. 100 Continue) are skipped: the final one
        follows them (RFC 9110 section 15.2)."""
        rest = b""
        while True:
            head_reader = self.options.head_reader()
            done = bool(rest) and head_reader.feed(rest)  # the final head may have come along
            if not done and not await runtime.read_head(reader, head_reader):
                raise HandshakeError("connection closed during the opening handshake", 0)
            status, _, headers = parse_response(head_reader.head)
            if status == 101 or not 100 <= status < 200:
                return status, headers, head_reader.rest
            rest = head_reader.rest

    async def _read_error_body(self, reader, status, headers, body):
        if status in (204, 304) or "Transfer-Encoding" in headers:
            # No body to read, or one in a coding not decoded here: keep what came with the head.
            return bytes(body[:_MAX_ERROR_BODY])
        length = headers.get("Content-Length")
        limit = min(int(length), _MAX_ERROR_BODY) if length and is_decimal(length) else _MAX_ERROR_BODY
        body = bytearray(body)
        try:
            while len(body) < limit:
                data = await runtime.impl.read(reader)
                if not data:
                    break
                body.extend(data)
        except OSError:
            pass
        return bytes(body[:limit])

    async def __aenter__(self) -> WebSocket:
        return await self.open()

    async def __aexit__(self, exc_type: "Any", exc: "Any", tb: "Any") -> bool:
        """Close with 1000, or 1011 when the body raised an error (as a server's handler does)."""
        if self.ws is not None:
            failed = exc_type is not None and issubclass(exc_type, Exception)
            await self.ws.close(1011 if failed else 1000)
        return False
