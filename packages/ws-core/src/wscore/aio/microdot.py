"""Drop-in replacement for ``microdot.websocket`` (Microdot 2.x), as ``wsio.microdot``.

    from microdot import Microdot
    from wsio.microdot import with_websocket      # was: from microdot.websocket import ...

    app = Microdot()

    @app.route('/echo')
    @with_websocket
    async def echo(request, ws):
        while True:
            await ws.send(await ws.receive())

The protocol is this library's (``WebSocket`` below is ``wscore.aio``'s with Microdot's names
added), so fragmentation, close codes, UTF-8 validation and keepalive pings follow RFC 6455.
Microdot closes the TCP connection as soon as the route coroutine returns, so the whole session
runs inside it: ``with_websocket`` runs the handler in a task of its own while the route reads
the socket; a route that calls ``websocket_upgrade`` itself is the handler, and a task reads.
Either way the handler returning closes with 1000 (a full closing handshake) and raising closes
with 1011 and logs. The client leaving cancels a ``with_websocket`` handler with
``CancelledError``; a route that upgraded itself gets ``ConnectionClosed`` from ``receive`` and
``send`` instead (cancelling it would end Microdot's own connection task).

``WebSocket.max_message_length`` works as in Microdot: -1 (the default) means Microdot's
``Request.max_body_length`` (16 KiB), 0 means no limit, and a bigger message closes with 1009.
Microdot is not a dependency: it is imported when a request arrives.
"""

import asyncio

from ..errors import ConnectionClosed, HandshakeError, WebSocketError
from ..handshake import accept_response, check_request
from . import runtime
from .options import Options
from .watchdog import Watchdog
from .websocket import WebSocket as _WebSocket

__all__ = ["ConnectionClosed", "WebSocket", "WebSocketError", "websocket_upgrade", "with_websocket"]


def _already_handled():
    from microdot import Response  # type: ignore

    return Response.already_handled


class _Head:
    """What ``check_request`` reads, taken from a Microdot ``Request``."""

    def __init__(self, request):
        self.method = request.method
        self.version = "HTTP/" + request.http_version
        self.headers = request.headers


class WebSocket(_WebSocket):
    """A WebSocket connection on a Microdot request (``receive``, ``send``, ``close``, ``closed``).

    Besides Microdot's names it has everything of ``wsio.WebSocket``: ``async for``, ``ping``,
    ``close(code, reason)``, ``close_code``, ``subprotocol``. ``receive`` and ``send`` raise
    ``ConnectionClosed`` (a ``WebSocketError``) once the connection is closed.
    """

    CONT = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10

    #: Largest message received: -1 for Microdot's ``Request.max_body_length``, 0 for no limit.
    max_message_length = -1

    def __init__(self, request, **options):
        settings = Options(**options)
        if "max_size" not in options:
            settings.max_size = self._max_size()
        super().__init__(request.sock[0], request.sock[1], False, settings, request)
        self._session_task = None
        self._handler_done = asyncio.Event()

    def _max_size(self):
        limit = self.max_message_length
        if limit == 0:
            return None
        if limit < 0:
            from microdot import Request  # type: ignore

            return Request.max_body_length
        return limit

    async def handshake(self, subprotocols=None):
        """Validate the upgrade request and send the ``101`` response (400/426 otherwise)."""
        try:
            key, self.subprotocol = check_request(_Head(self.request), subprotocols or self.options.subprotocols)
        except HandshakeError as exc:
            self.request.app.abort(exc.status, exc.reason)
        await runtime.write(self._writer, [accept_response(key, self.subprotocol)])

    async def send(self, data, opcode=None):
        """Send ``data``: a ``str`` as text, bytes as binary, or as ``opcode`` if given."""
        if opcode is None or opcode in (self.TEXT, self.BINARY):
            if opcode == self.TEXT and not isinstance(data, str):
                data = str(data, "utf-8")
            elif opcode == self.BINARY and isinstance(data, str):
                data = data.encode("utf-8")
            await super().send(data)
        elif opcode == self.CLOSE:
            await self.close()
        elif opcode in (self.PING, self.PONG):
            if opcode == self.PING:
                self._conn.send_ping(data)
            else:
                self._conn.send_pong(data)
            await self._flush()
        else:
            raise ValueError("opcode %r cannot be sent" % opcode)

    # ---- the session, inside the route coroutine ---------------------------------------

    async def _session(self):
        """Serve until the connection's socket is closed, with the keepalive timers running."""
        watchdog = Watchdog(self.options.timer_tick())
        watchdog.add(self)
        try:
            self._start()
            await self._until_ended()
        finally:
            watchdog.stop()

    async def _run_handler(self, handler, args, kwargs):
        """``with_websocket``'s handler task: run the handler, then close as its outcome says."""
        code, reason = 1000, ""
        try:
            await handler(self.request, self, *args, **kwargs)
        except asyncio.CancelledError:
            return  # the client left
        except (ConnectionClosed, OSError):
            pass  # the handler used a closed connection: it ended, which is no error
        except Exception as exc:
            runtime.impl.log_exception("error in WebSocket handler of %s" % self.request.path, exc)
            code, reason = 1011, "internal error"
        finally:
            self._handler_done.set()
        try:
            await self.close(code, reason)
        except asyncio.CancelledError:
            pass

    async def _end(self, code, reason=""):
        """End a ``websocket_upgrade`` session from the route's task: close, wait for the reader."""
        self._handler_task = None
        await self.close(code, reason)
        await self._until_finished()


def with_websocket(f):
    """Make ``async def f(request, ws, **url_args)`` a WebSocket route (as Microdot's decorator)."""

    async def wrapper(request, *args, **kwargs):
        ws = WebSocket(request)
        await ws.handshake()
        ws._handler_task = asyncio.create_task(ws._run_handler(f, args, kwargs))
        await ws._session()
        if not ws._handler_done.is_set():
            await ws._let_handler_end(ws._handler_done)
        return _already_handled()

    for name in ("__name__", "__qualname__", "__doc__"):
        try:
            setattr(wrapper, name, getattr(f, name))
        except AttributeError:  # MicroPython functions take no attributes
            pass
    return wrapper


async def websocket_upgrade(request, subprotocols=None):
    """Upgrade ``request`` from inside a route (e.g. after checking credentials); return the ``WebSocket``.

    The route is the handler: its returning closes with 1000 and its raising with 1011. Once
    the client left, ``receive`` and ``send`` raise ``ConnectionClosed`` (a ``WebSocketError``).
    """
    ws = WebSocket(request)
    await ws.handshake(subprotocols)
    # The route is not cancelled when the client leaves: the CancelledError would end Microdot's
    # connection task (CPython 3.11 logs that as an error). receive() and send() raise
    # ConnectionClosed instead, as microdot.websocket raises its WebSocketError.
    ws._session_task = asyncio.create_task(ws._session())
    request._wsio_websocket = ws

    async def after_request(request, response):
        await ws._end(1000)
        return _already_handled()

    request.after_request(after_request)
    _catch_route_errors(request.app)
    return ws


def _catch_route_errors(app):
    """Once per app: a route that raises after ``websocket_upgrade`` closes with 1011.

    Microdot would otherwise write its 500 response onto the upgraded connection.
    """
    if getattr(app, "_wsio_error_hook", False):
        return
    app._wsio_error_hook = True

    async def after_error_request(request, response):
        ws = getattr(request, "_wsio_websocket", None)
        if ws is None:
            return None
        await ws._end(1011, "internal error")
        return _already_handled()

    app.after_error_request(after_error_request)
