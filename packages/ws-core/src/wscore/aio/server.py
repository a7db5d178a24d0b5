"""``App``: a small HTTP/1.1 server and router whose routes can become WebSocket endpoints.

    app = App()

    @app.route('/echo')
    @with_websocket
    async def echo(request, ws):
        async for message in ws:
            await ws.send(message)

    app.run(port=5000)

Each connection is served by one task: it reads the request head (within
``handshake_timeout``) and runs the route in a handler task. If the route upgraded to WebSocket,
the connection's task ends there: the platform's feed delivers what the peer sends, and a task
closes the socket at the end (an idle WebSocket costs its handler and no other task). The
handler returning closes with 1000, raising closes with 1011 (and logs the traceback), and the
peer leaving cancels the handler.
"""

import asyncio
import json

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: annotations are never evaluated there
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from typing import Any, Awaitable, Callable

from ..constants import OPEN
from ..errors import ConnectionClosed, HandshakeError
from ..handshake import accept_response, check_request, origin_allowed, reject_response
from ..http import Headers, is_decimal, parse_query, parse_request, response_head, unquote
from . import runtime
from .options import Options
from .watchdog import Watchdog
from .websocket import WebSocket


# Past max_connections, this many connections at a time get a polite 503 (after reading their
# request); any more are closed at once.
_REFUSALS_IN_FLIGHT = 32
# The answer to a request the heap has no room for (made now, while there is room).
_NO_MEMORY = [reject_response(503, "the server has no memory left for this request")]


class Request:
    """An HTTP request: ``method``, ``path``, ``query_string``, ``args`` (dict), ``headers``
    (case-insensitive ``Headers``), ``version`` (``'HTTP/1.1'``), ``client_addr`` (host, port),
    ``body`` (bytes), ``app``, and ``url_args`` (the path parameters)."""

    # Defaults on the class: heap on a board, where a WebSocket keeps its request for its life.
    # MicroPython gives an instance 12 attribute slots, and 17 from the 13th attribute on: an
    # upgrade's request, HTTP/1.1 with no query string, stays within 12.
    query_string = ""
    version = "HTTP/1.1"
    body = b""
    websocket: "WebSocket | None" = None
    _handler_task = None
    _leftover = b""
    _decided: "asyncio.Event | None" = None  # set when the route returned or upgraded (dispatch)
    _done: "asyncio.Event | None" = None  # set when the route's task ended, if anyone waits
    _response: "list[bytes] | None" = None  # what a plain route's outcome owes the peer

    def __init__(self, app: "App", head: "Any", client_addr: "tuple[str, int] | None", reader: "Any", writer: "Any") -> None:
        self.app = app
        self.method: str = head.method
        self.path: str = unquote(head.path)  # percent-decoded, as routes see it (RFC 3986 6.2.2)
        if head.query_string:
            self.query_string = head.query_string
        self.args: "dict[str, str]" = parse_query(head.query_string)
        self.headers: Headers = head.headers
        if head.version != Request.version:
            self.version = head.version
        self.client_addr = client_addr
        self.url_args: "dict[str, Any]" = {}
        self._reader = reader
        self._writer = writer


class with_websocket:
    """Mark an ``async def handler(request, ws, **url_args)`` route as a WebSocket endpoint.

    A request that is not a valid upgrade gets 400 (426 if it is no upgrade at all). The server
    upgrades and calls the handler itself, one coroutine fewer under every open connection.
    """

    def __init__(self, handler: "Callable[..., Awaitable[Any]]") -> None:
        self.handler = handler

    async def __call__(self, request: "Request", **url_args: "Any") -> None:
        await self.handler(request, await websocket_upgrade(request), **url_args)


async def websocket_upgrade(request: "Request", subprotocols: "list[str] | None" = None) -> WebSocket:
    """Upgrade ``request`` to WebSocket from inside a route and return the ``WebSocket``.

    Call it after checking credentials: until then the route can still answer with an HTTP
    error. Raises ``HandshakeError`` (turned into the matching HTTP error) for a bad upgrade or a
    forbidden ``Origin``.
    """
    options = request.app.options
    if not origin_allowed(request.headers.get("Origin"), request.headers.get("Host"), options.allowed_origins):
        raise HandshakeError("Origin not allowed", 403)
    key, subprotocol = check_request(request, subprotocols or options.subprotocols)
    await runtime.write(request._writer, [accept_response(key, subprotocol)])
    ws = WebSocket(request._reader, request._writer, False, options, request, subprotocol)
    ws._handler_task = request._handler_task
    request.websocket = ws
    if request._decided is not None:
        request._decided.set()
    return ws


class _Route:
    def __init__(self, pattern, methods, handler):
        self.methods = methods
        self.handler = handler
        self.segments = pattern.strip("/").split("/") if pattern.strip("/") else []

    def match(self, path):
        """The path parameters if ``path`` (``Request.path``: percent-decoded, so that ``%2F`` is
        a ``/`` like any other and no parameter holds one) matches, else None."""
        if "\x00" in path:
            return None  # (a %00): no route serves it
        parts = path.strip("/").split("/") if path.strip("/") else []
        params = {}
        for i, segment in enumerate(self.segments):
            if segment.startswith("<") and segment.endswith(">"):
                kind, _, name = segment[1:-1].rpartition(":")
                if kind == "path":
                    params[name] = "/".join(parts[i:])
                    return params if parts[i:] else None
                if i >= len(parts):
                    return None
                value = parts[i]
                if kind == "int":
                    if not is_decimal(value):
                        return None
                    value = int(value)
                params[name] = value
            elif i >= len(parts) or parts[i] != segment:
                return None
        return params if len(parts) == len(self.segments) else None


def _http_response(result):
    """Turn what a plain route returned into response bytes."""
    status, headers = 200, {}
    if isinstance(result, tuple):
        body = result[0]
        status = result[1] if len(result) > 1 else 200
        headers = dict(result[2]) if len(result) > 2 else {}
    else:
        body = result
    content_type = "text/plain; charset=utf-8"
    if body is None:
        body = b""
        status = 204 if status == 200 else status
    if status == 204:  # no content, and no Content-Length either (RFC 9110 section 8.6)
        return [response_head(status, list(headers.items()) + [("Connection", "close")])]
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        content_type = "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
        if body.startswith(b"<"):
            content_type = "text/html; charset=utf-8"
    elif not isinstance(body, (bytes, bytearray)):
        raise TypeError("a route must return str, bytes, dict, list, None or a (body, status, headers) tuple")
    else:
        content_type = "application/octet-stream"
    fields = [(name, value) for name, value in headers.items()]
    if not any(name.lower() == "content-type" for name, _ in fields):
        fields.append(("Content-Type", content_type))
    fields.append(("Content-Length", str(len(body))))
    fields.append(("Connection", "close"))
    return [response_head(status, fields), body]


def _head_only(buffers):
    """A response's head without its body."""
    response = b"".join(buffers)
    return [response[: response.find(b"\r\n\r\n") + 4]]


def _reject(exc):
    """The error response for ``exc`` before routing: without a body to a HEAD request."""
    response = [reject_response(exc.status, exc.reason, exc.headers)]
    return _head_only(response) if exc.head_request else response


class App:
    """A web application: routes, options, and the server that runs them.

    ``App(**options)`` takes the options of ``Options`` (``max_size``, timeouts, limits...).
    """

    def __init__(self, **options: "Any") -> None:
        self.options = Options(**options)
        self._routes: "list[_Route]" = []
        self._servers: "list[Any]" = []
        self._connections: "set[Any]" = set()
        self._handlers: "set[Any]" = set()
        self._websockets: "set[WebSocket]" = set()
        self._watchdog = Watchdog(self.options.timer_tick(), self._websockets)
        self._stopped: "asyncio.Event | None" = None
        self._limit = self.options.max_connections  # see start()
        self._quiet: "asyncio.Event | None" = None  # set when the last connection and handler are gone (shutdown)
        self._shutting_down = False
        self._shutdown_task: "asyncio.Task[None] | None" = None  # the shutdown, once shutdown() was called

    def route(self, path: str, methods: "list[str] | None" = None) -> "Callable[[Any], Any]":
        """Decorator: serve ``path`` (``/rooms/<name>``, ``<int:id>``, ``<path:rest>``) with the function."""

        def register(handler):
            self._routes.append(_Route(path, methods or ["GET"], handler))
            return handler

        return register

    # ---- running ----------------------------------------------------------------------

    async def start(self, host: str = "0.0.0.0", port: int = 5000, ssl: "Any" = None, backlog: int = 100) -> "Any":
        """Start listening; returns once the server accepts connections."""
        self._stopped = asyncio.Event()
        limit = self.options.max_connections
        if limit is None and hasattr(runtime.impl, "connection_limit"):
            limit = runtime.impl.connection_limit()
        self._limit = limit
        if limit is not None and hasattr(runtime.impl, "reserve"):
            # Every socket the server may hold at once: the connections it serves and the 503s.
            runtime.impl.reserve(limit + _REFUSALS_IN_FLIGHT, (self._connections, self._handlers, self._websockets))
        server = await runtime.impl.start_server(self._serve_connection, host, port, ssl, backlog, self.options.handshake_timeout)
        self._servers.append(server)
        return server

    async def serve(self, host: str = "0.0.0.0", port: int = 5000, ssl: "Any" = None) -> None:
        """Start listening and serve until ``shutdown()``."""
        await self.start(host, port, ssl)
        stopped = self._stopped
        assert stopped is not None  # made by start()
        await stopped.wait()

    def run(self, host: str = "0.0.0.0", port: int = 5000, ssl: "Any" = None, debug: bool = False) -> None:
        """Serve until interrupted (Ctrl-C); then shut down gracefully."""
        runtime.impl.log("serving on %s://%s:%d" % ("https" if ssl else "http", host, port))

        async def main():
            try:
                await self.serve(host, port, ssl)
            finally:
                await self.shutdown()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            if not self._shutting_down:
                # MicroPython: the interrupt comes out of the scheduler, not out of main(), whose
                # finally never ran. The connections' tasks are still there: shut them down.
                self._shutdown_task = None  # (made in the interrupted loop, if at all)
                try:
                    asyncio.run(self.shutdown())
                except KeyboardInterrupt:
                    pass

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every WebSocket with 1001, cancel the handlers, and wait up to
        ``timeout`` for them. A request that completes meanwhile gets 503.

        The shutdown runs in a task of its own, which the caller's cancel does not stop, and
        calls made meanwhile wait for the same one. Called from one of this App's handlers (a
        "quit" route), it returns at once: the shutdown cancels the caller with the others."""
        if self._shutdown_task is None:
            if self._stopped is None:  # never started: nothing waits in serve()
                self._stopped = asyncio.Event()
            self._shutdown_task = asyncio.create_task(self._shut_down(timeout))
        current = asyncio.current_task()
        if current in self._handlers or current in self._connections:
            return
        stopped = self._stopped
        assert stopped is not None  # made above or by start()
        await stopped.wait()

    async def _shut_down(self, timeout):
        try:
            self._shutting_down = True
            for server in self._servers:
                server.close()
            self._servers = []
            websocket_handlers: "set[Any]" = set()
            for ws in list(self._websockets):
                websocket_handlers.add(ws._handler_task)
                if ws._conn.state == OPEN:
                    ws._close_nowait(1001, "server shutting down", ws._cancel_handler)
            for task in list(self._handlers):
                if task not in websocket_handlers:
                    task.cancel()  # a plain route still running
            # A peer that does not answer the close frame is dropped after close_timeout, as for
            # any closing handshake, instead of holding shutdown for its whole timeout.
            first = min(timeout, self.options.close_timeout or timeout)
            if not await self._until_quiet(first):
                for ws in list(self._websockets):
                    ws._abort()
                await self._until_quiet(timeout - first)
            for task in list(self._connections):
                task.cancel()
            self._watchdog.stop()
        finally:
            if self._stopped is not None:  # what serve() and every shutdown() caller wait for
                self._stopped.set()

    def _busy(self):
        return self._handlers or self._connections or self._websockets

    def _held(self):
        """Connections held: being read or answered, and open WebSockets (what max_connections counts)."""
        return len(self._connections) + len(self._websockets)

    async def _until_quiet(self, seconds):
        """Wait up to ``seconds`` until no connection or handler is left; True if none is."""
        if not self._busy():
            return True
        if self._quiet is None or self._quiet.is_set():
            self._quiet = asyncio.Event()  # shared by shutdown() calls that run at once
        try:
            await runtime.impl.wait_for(self._quiet.wait(), max(0, seconds))
            return True
        except asyncio.TimeoutError:
            return False

    def _forget(self, tasks, task):
        tasks.discard(task)
        if self._quiet is not None and not self._busy():
            self._quiet.set()

    # ---- one connection ---------------------------------------------------------------

    async def _serve_connection(self, reader, writer):
        impl = runtime.impl
        task = asyncio.current_task()
        self._connections.add(task)
        upgraded = False
        request = None
        try:
            limit = self._limit
            held = self._held()
            if limit is not None and held > limit:
                if held > limit + _REFUSALS_IN_FLIGHT:
                    return  # a flood: answering costs memory the server may not have
                # Read the request first (briefly): closing a socket with unread bytes sends an
                # RST, and a client that gets it (MicroPython's, asyncio's) loses the 503.
                refusal = HandshakeError("too many connections", 503)
                try:
                    refusal.head_request = await runtime.impl.wait_for(self._skip_head(reader), self._answer_timeout())
                except (asyncio.TimeoutError, HandshakeError):
                    pass
                await self._answer(writer, refusal)
                return
            try:
                request = await runtime.impl.wait_for(self._read_request(reader, writer), self.options.handshake_timeout)
            except asyncio.TimeoutError:
                return  # slowloris: no answer owed to a client that never finished its request
            except HandshakeError as exc:
                await self._answer(writer, exc)
                return
            if request is None:
                return
            upgraded = await self._dispatch(request)
        except (OSError, EOFError):
            pass
        except asyncio.CancelledError:
            pass
        except MemoryError:
            # A heap with no room for this request (a board under a flood): no bug of ours, so
            # no traceback. Before the request was routed nothing was written yet: an answer
            # made at import, when there was room; after, the connection is only dropped.
            impl.log("out of memory serving a request: dropped")
            if request is None:
                try:
                    await impl.wait_for(runtime.write(writer, _NO_MEMORY), 1.0)
                except (OSError, MemoryError, asyncio.TimeoutError):
                    pass
            elif request._handler_task is not None and not upgraded:
                request._handler_task.cancel()  # its WebSocket never started: nothing would end it
        except Exception as exc:  # a bug of ours must not take the server down
            impl.log_exception("error serving a connection", exc)
        finally:
            self._forget(self._connections, task)
            if not upgraded:  # else the WebSocket owns the stream and closes it at its end
                await impl.close(writer)

    async def _answer(self, writer, exc):
        """Write the error response for ``exc``, within a second at most: a peer that does not
        read it is dropped (over TLS on MicroPython, a peer that never shook hands holds the
        write, which waits for the handshake, for good)."""
        try:
            await runtime.impl.wait_for(runtime.write(writer, _reject(exc)), self._answer_timeout())
        except asyncio.TimeoutError:
            pass

    def _answer_timeout(self):
        """A second, or ``handshake_timeout`` if shorter (None: no deadline for the head)."""
        timeout = self.options.handshake_timeout
        return min(1.0, timeout) if timeout else 1.0

    async def _skip_head(self, reader):
        """Read a request head away; True if it was a HEAD request."""
        head_reader = self.options.head_reader()
        await runtime.read_head(reader, head_reader)
        return head_reader.is_head_request()

    async def _read_request(self, reader, writer):
        # The head reader is made here, not in the connection's task, which outlives the
        # handshake: made there, a flood of upgrades ran a 2 MiB heap out of memory.
        head_reader = self.options.head_reader()
        try:
            return await self._read_request_with(reader, writer, head_reader)
        except HandshakeError as exc:
            exc.head_request = head_reader.is_head_request()
            raise

    async def _read_request_with(self, reader, writer, head_reader):
        options = self.options
        if not await runtime.read_head(reader, head_reader):
            return None
        request = Request(self, parse_request(head_reader.head), runtime.impl.peer_address(writer), reader, writer)
        rest = head_reader.rest
        length = request.headers.get("Content-Length")
        if length is not None:
            if not is_decimal(length):
                raise HandshakeError("invalid Content-Length", 400)
            length = int(length)
            if length > options.max_body_size:
                # Answer, then read the body away (within handshake_timeout): a socket closed with
                # unread bytes sends an RST, and a client that gets it may lose the answer.
                await self._respond(request, [reject_response(413, "request body larger than %d bytes" % options.max_body_size)])
                unread = length - len(rest)
                while unread > 0:
                    data = await runtime.impl.read(reader)
                    if not data:
                        break
                    unread -= len(data)
                return None
            body = bytearray(rest)
            while len(body) < length:
                data = await runtime.impl.read(reader)
                if not data:
                    return None
                body.extend(data)
            request.body = bytes(body[:length])
            rest = bytes(body[length:])
        if rest:
            request._leftover = rest
        return request

    def _find_route(self, request):
        allowed = []
        for route in self._routes:
            params = route.match(request.path)
            if params is None:
                continue
            if request.method in route.methods or (request.method == "HEAD" and "GET" in route.methods):
                return route, params
            allowed.extend(m for m in route.methods + (["HEAD"] if "GET" in route.methods else []) if m not in allowed)
        if allowed:
            raise HandshakeError("method not allowed", 405, [("Allow", ", ".join(allowed))])
        raise HandshakeError("not found", 404)

    async def _respond(self, request, buffers):
        """Write a response; to a HEAD request, its head only (RFC 9110 section 9.3.2)."""
        await runtime.write(request._writer, _head_only(buffers) if request.method == "HEAD" else buffers)

    async def _dispatch(self, request):
        """Run the route; True if it upgraded to WebSocket (which then owns the stream)."""
        if self._shutting_down:
            await self._respond(request, [reject_response(503, "server shutting down")])
            return False
        try:
            route, params = self._find_route(request)
        except HandshakeError as exc:
            await self._respond(request, [reject_response(exc.status, exc.reason, exc.headers)])
            return False
        request.url_args = params
        request._decided = asyncio.Event()
        handler_task = asyncio.create_task(self._run_handler(route.handler, request, params))
        request._handler_task = handler_task
        self._handlers.add(handler_task)
        await request._decided.wait()
        request._decided = None  # no longer needed: not kept for the WebSocket's life
        ws = request.websocket
        if ws is None:
            if request._response is not None:
                await self._respond(request, request._response)
            return False
        self._websockets.add(ws)
        self._watchdog.add(ws)
        ws._start(request._leftover, self._websocket_ended)
        if self._shutting_down:  # upgraded while shutdown() ran, which did not see this one
            ws._fail_timer(1001, "server shutting down")  # close frame, then drop: no waiting now
        return True

    async def _websocket_ended(self, ws):
        """After a WebSocket's socket closed: let a cancelled handler clean up, within reason; forget it."""
        request = ws.request
        handler_task = request._handler_task
        if handler_task is not None and not handler_task.done():
            request._done = asyncio.Event()
            await ws._let_handler_end(request._done)
        self._forget(self._websockets, ws)

    async def _run_handler(self, handler, request, params):
        """Run a route to its end and decide what the connection owes the peer."""
        try:
            if isinstance(handler, with_websocket):
                result = await handler.handler(request, await websocket_upgrade(request), **params)
            else:
                result = await handler(request, **params)
            if request.websocket is None:
                request._response = _http_response(result)
            else:
                await request.websocket.close(1000)
        except asyncio.CancelledError:
            # The peer left, or the server is shutting down: a plain route still owes an answer.
            if request.websocket is None and self._shutting_down:
                request._response = [reject_response(503, "server shutting down")]
        except HandshakeError as exc:
            if request.websocket is None:
                request._response = [reject_response(exc.status, exc.reason, exc.headers)]
        except ConnectionClosed:
            pass  # the handler used a closed connection: it ended, which is no error
        except Exception as exc:
            ws = request.websocket
            runtime.impl.log_exception("error in handler of %s" % request.path, exc)
            if ws is None:
                request._response = [reject_response(500, "internal server error")]
            else:
                try:
                    await ws.close(1011, "internal error")
                except asyncio.CancelledError:
                    pass
        finally:
            self._forget(self._handlers, asyncio.current_task())
            for event in (request._done, request._decided):
                if event is not None:
                    event.set()
