"""Raw HTTP and WebSocket wire helpers for the server and client tests (both interpreters).

The tests drive our server with hand-written bytes over `asyncio.open_connection`, so that
they see exactly what goes over the wire and can misbehave on purpose (never read, stop in
the middle of a frame, never answer a close). Only the MicroPython subset is used here.

    async with serving(app) as port:             # App.start on 127.0.0.1, App.shutdown after
        status, headers, body = await http_get(port, '/rooms/x')
        reader, writer = await upgrade(port, '/echo')
        writer.write(client_frame(OP_TEXT, b'hi'))
        opcode, payload = await read_frame(reader)
"""

import asyncio
import binascii
import hashlib
import struct

import support

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# A valid Sec-WebSocket-Key (16 bytes in base64) and its accept value (RFC 6455 1.3).
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# Generous bound for a single network wait on loopback; a test fails instead of hanging.
STEP = 5


class serving:
    """`async with serving(app) as port`: start `app` on 127.0.0.1 and shut it down after."""

    def __init__(self, app, port=None, ssl=None, shutdown_timeout=2):
        self.app = app
        self.port = port or support.free_port()
        self.ssl = ssl
        self.shutdown_timeout = shutdown_timeout

    async def __aenter__(self):
        if self.ssl is None:
            await self.app.start(host="127.0.0.1", port=self.port)
        else:
            await self.app.start(host="127.0.0.1", port=self.port, ssl=self.ssl)
        return self.port

    async def __aexit__(self, exc_type, exc, tb):
        await self.app.shutdown(timeout=self.shutdown_timeout)
        return False


async def close_writer(writer):
    """Close a raw stream, ignoring errors (the peer may be gone already)."""
    try:
        writer.close()
        await writer.wait_closed()
    except (OSError, asyncio.CancelledError):
        pass


async def read_until_eof(reader, timeout=STEP, limit=1 << 24):
    """Everything the peer sends until it closes; fails (asyncio.TimeoutError) after `timeout`."""

    async def drain():
        data = bytearray()
        while len(data) < limit:
            try:
                chunk = await reader.read(65536)
            except OSError:  # reset by the peer: that is an end of stream too
                break
            if not chunk:
                break
            data.extend(chunk)
        return bytes(data)

    return await asyncio.wait_for(drain(), timeout)


def parse_response(data):
    """`(status, headers, body)` of a whole HTTP response; header names lower-cased."""
    end = data.find(b"\r\n\r\n")
    assert end >= 0, "no complete response head in %r" % data[:200]
    lines = data[:end].decode().split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0] == "HTTP/1.1", lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, data[end + 4 :]


async def http_exchange(port, request, timeout=STEP):
    """Send raw `request` bytes, read the answer until the server closes; `(status, headers, body)`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await read_until_eof(reader, timeout)
    finally:
        await close_writer(writer)
    return parse_response(data)


async def http_get(port, target, method="GET", headers=(), body=b""):
    """A minimal HTTP/1.1 request; `headers` are extra `(name, value)` pairs."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1:%d" % port]
    for name, value in headers:
        lines.append("%s: %s" % (name, value))
    if body:
        lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return await http_exchange(port, head + body)


def upgrade_request(port, path="/echo", version="13", key=KEY, extra=()):
    """The bytes of a WebSocket upgrade request."""
    lines = [
        "GET %s HTTP/1.1" % path,
        "Host: 127.0.0.1:%d" % port,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: %s" % key,
        "Sec-WebSocket-Version: %s" % version,
    ]
    for name, value in extra:
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_head(reader, timeout=STEP):
    """Read a response head byte by byte (so no frame byte after it is consumed)."""

    async def collect():
        head = bytearray()
        while not head.endswith(b"\r\n\r\n"):
            byte = await reader.read(1)
            if not byte:
                raise EOFError("connection closed in the response head: %r" % bytes(head))
            head.extend(byte)
        return bytes(head)

    return await asyncio.wait_for(collect(), timeout)


async def upgrade(port, path="/echo", extra=()):
    """Open a raw connection and complete the opening handshake; returns `(reader, writer)`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(upgrade_request(port, path, extra=extra))
        await writer.drain()
        status, headers, _ = parse_response(await read_head(reader))
        assert status == 101, "expected 101, got %d" % status
        assert headers["sec-websocket-accept"] == ACCEPT
    except BaseException:
        await close_writer(writer)
        raise
    return reader, writer


def echo_app(**options):
    """An ``App`` with the echo route at ``/echo``; tests add the routes they need to it."""
    from wsio import App, with_websocket  # here, so that the core's tests need only wscore

    app = App(**options)

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        async for message in ws:
            await ws.send(message)

    return app


def collecting_app(path, **options):
    """``echo_app(**options)`` plus a route at ``path`` whose handler keeps every message it
    receives until the connection closes; returns the App and the list they go to."""
    from wsio import with_websocket

    app = echo_app(**options)
    received = []

    @app.route(path)
    @with_websocket
    async def collect(request, ws):
        async for message in ws:
            received.append(message)

    return app, received


def xor(data, key, phase=0):
    """``data`` XOR the 4-byte ``key`` from ``phase``, byte by byte: the reference for the
    library's masking."""
    out = bytearray(data)
    for i in range(len(out)):
        out[i] ^= key[(i + phase) & 3]
    return bytes(out)


def pattern(n):
    """``n`` bytes that are not all alike and not periodic by 4 (masking test data)."""
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 131 + 17) & 0xFF
    return bytes(out)


def raw_frame(opcode, payload=b"", fin=True, key=None, rsv=0, length=None):
    """One frame built by hand, not by the library: masked with ``key`` unless None (a server's
    frame); ``rsv`` sets reserved bits; ``length`` overrides the announced payload length."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if key is not None else 0
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head.append(bit | 126)
        head.extend(struct.pack("!H", n))
    else:
        head.append(bit | 127)
        head.extend(struct.pack("!Q", n))
    if key is not None:
        head.extend(key)
        payload = xor(payload, key)
    return bytes(head) + bytes(payload)


def client_frame(opcode, payload=b"", fin=True, mask=b"\x37\xfa\x21\x3d", length=None):
    """A masked client frame; `length` overrides the announced payload length (for stalls)."""
    return raw_frame(opcode, payload, fin, mask, 0, length)


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode()


async def read_frame(reader, timeout=STEP, from_client=False):
    """The next frame as `(opcode, payload)`, unmasked.

    Server frames must not be masked; with `from_client` (a fake server reading our client)
    frames must be masked.
    """

    async def one():
        b0, b1 = await reader.readexactly(2)
        assert bool(b1 & 0x80) == from_client, "frame masking is wrong for its direction"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if from_client else None
        payload = bytearray(await reader.readexactly(n)) if n else bytearray()
        if mask:
            for i in range(n):
                payload[i] ^= mask[i & 3]
        return b0 & 0x0F, bytes(payload)

    return await asyncio.wait_for(one(), timeout)


def close_code_of(payload):
    """The code carried by a close frame's payload (1005 when it has none)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


async def read_until_close(reader, timeout=STEP):
    """Read frames until a close frame; returns `(close code, reason, frames before it)`."""
    before = []
    while True:
        opcode, payload = await read_frame(reader, timeout)
        if opcode == OP_CLOSE:
            return close_code_of(payload), payload[2:].decode(), before
        before.append((opcode, payload))


async def answer_close(reader, writer, code):
    """Expect a close frame with ``code`` next, answer it as a client must, then expect the
    server to close TCP."""
    opcode, payload = await read_frame(reader)
    assert (opcode, close_code_of(payload)) == (OP_CLOSE, code), (opcode, payload)
    writer.write(client_frame(OP_CLOSE, payload))
    await writer.drain()
    assert await read_until_eof(reader) == b""


async def echo_and_close(reader, writer, message=b"hello"):
    """A well-behaved client on an upgraded connection: one binary echo, then a clean close
    (1000, with nothing else before it); the writer is closed in any case."""
    try:
        writer.write(client_frame(OP_BINARY, message))
        await writer.drain()
        assert await read_frame(reader) == (OP_BINARY, message)
        writer.write(client_frame(OP_CLOSE, close_payload(1000)))
        await writer.drain()
        code, _, before = await read_until_close(reader)
        assert (code, before) == (1000, [])
    finally:
        await close_writer(writer)


# --- a fake server, to test the client against misbehaviour -------------------------------


def accept_for(key):
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    digest = hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return binascii.b2a_base64(digest)[:-1].decode()


def frame(opcode, payload=b"", fin=True):
    """An unmasked (server) frame."""
    return raw_frame(opcode, payload, fin)


async def read_request_head(reader, timeout=STEP):
    """Read a request head; returns `{lower-case name: value}` (the request line as '')."""
    head = await read_head(reader, timeout)
    lines = head.decode().split("\r\n")
    headers = {"": lines[0]}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


async def accept_handshake(reader, writer, accept=None, extra=()):
    """Answer a client's upgrade with 101 (and `accept`, or the right value); returns the request headers."""
    headers = await read_request_head(reader)
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: %s" % (accept or accept_for(headers["sec-websocket-key"])),
    ]
    for name, value in extra:
        lines.append("%s: %s" % (name, value))
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    return headers


class fake_server:
    """`async with fake_server(callback) as port`: asyncio.start_server on 127.0.0.1.

    Every task the callback runs in is cancelled on exit, so a callback may block forever.
    """

    def __init__(self, callback):
        self.callback = callback
        self.port = support.free_port()
        self.server = None
        self.tasks = []
        self.writers = []

    async def _serve(self, reader, writer):
        self.tasks.append(asyncio.current_task())
        self.writers.append(writer)
        try:
            await self.callback(reader, writer)
        except (asyncio.CancelledError, OSError, EOFError):
            pass
        finally:
            await close_writer(writer)

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self.port

    async def __aexit__(self, exc_type, exc, tb):
        self.server.close()
        for task in self.tasks:
            task.cancel()
        for writer in self.writers:
            await close_writer(writer)
        await self.server.wait_closed()
        return False
