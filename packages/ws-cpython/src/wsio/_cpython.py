"""What CPython's asyncio does differently: stdlib logging, ssl defaults, stream details."""

import asyncio
import logging
import ssl
import time

from wscore.constants import CLOSED

logger = logging.getLogger("wsio")

# A large read lets a 1 MiB message arrive in a few chunks; the stream buffers this much at most.
_READ_SIZE = 1 << 18

monotonic = time.monotonic

if hasattr(asyncio, "timeout"):  # 3.11+: no task per timeout, unlike asyncio.wait_for

    async def wait_for(awaitable, timeout):
        """Await ``awaitable`` in this task; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await awaitable

else:
    wait_for = asyncio.wait_for


class Event:
    """``asyncio.Event`` with its waiters in a list: asyncio's own keeps them in a deque, which
    takes 624-760 bytes at once, and the handler of every idle connection waits on one of these
    in ``receive()`` (7.3 -> 6.5 KiB per idle connection in the benchmark)."""

    __slots__ = ("_value", "_waiters")

    def __init__(self):
        self._value = False
        self._waiters = []

    def is_set(self):
        """True once ``set()`` was called, until ``clear()``."""
        return self._value

    def set(self):
        """Wake every task waiting, and every later ``wait()`` until ``clear()``."""
        if not self._value:
            self._value = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self):
        """Make ``wait()`` wait again."""
        self._value = False

    async def wait(self):
        """Return True once the event is set (at once if it is)."""
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)


async def read(reader):
    """The next chunk from the stream; ``b''`` at end of stream or after a reset."""
    try:
        return await reader.read(_READ_SIZE)
    except ConnectionResetError:
        return b""


# Buffers smaller than this together are joined into one write (one send, a cheap copy).
_JOIN_BELOW = 16 * 1024


def write_now(writer, buffers):
    """Write ``buffers`` in order; None if the socket took them all, else ``drain()`` to await.

    Not ``writelines``: on CPython 3.12 and 3.13.0 it never pauses the protocol, so ``drain()``
    would not wait and a peer that stops reading would make us buffer without bound (and 3.11's
    joins every buffer into one copy).
    """
    if writer.transport.is_closing():
        # Reset by the peer: the transport drops what it is given and reports the loss only
        # later, in a callback; a sender that never waited would loop without yielding.
        raise ConnectionResetError("the connection is closed")
    if len(buffers) == 1:
        writer.write(buffers[0])
    elif sum(len(buf) for buf in buffers) < _JOIN_BELOW:
        writer.write(b"".join(buffers))
    else:
        for buf in buffers:
            writer.write(buf)
    if writer.transport.get_write_buffer_size():  # all sent already: nothing to wait for
        return writer.drain()
    return None


# How long closing waits for our last bytes to reach the peer before the socket is dropped.
_CLOSE_FLUSH_TIMEOUT = 5.0


async def close(writer, flush_timeout=_CLOSE_FLUSH_TIMEOUT):
    """Close the stream and wait for the socket to be released; errors are moot by now.

    The transport first sends what it still buffers; a peer that stopped reading would hold
    that, and the socket, forever, so after ``flush_timeout`` the transport is aborted.
    """
    try:
        writer.close()
        await wait_for(writer.wait_closed(), flush_timeout)
    except asyncio.TimeoutError:
        writer.transport.abort()
    except (OSError, asyncio.CancelledError, RuntimeError):
        pass


def peer_address(writer):
    """``(host, port)`` of the peer."""
    peer = writer.get_extra_info("peername")
    return (peer[0], peer[1]) if peer else None


async def open_connection(host, port, ssl_context, server_hostname):
    """Open a TCP (or TLS) connection; returns ``(reader, writer)``."""
    return await asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=server_hostname, limit=_READ_SIZE)


async def start_server(callback, host, port, ssl_context, backlog, handshake_timeout):
    """Listen on ``host``:``port``; ``callback(reader, writer)`` serves each connection.

    The TLS handshake happens before the callback, so ``handshake_timeout`` bounds it here
    (asyncio's default is 60 s, for which a silent peer holds a socket)."""
    tls_timeout = handshake_timeout if ssl_context is not None else None
    return await asyncio.start_server(callback, host, port, ssl=ssl_context, backlog=backlog, limit=_READ_SIZE, ssl_handshake_timeout=tls_timeout)


def client_ssl_context():
    """The default client context: certificates and host names verified against the system store."""
    return ssl.create_default_context()


def log_exception(message, exc):
    """Log ``message`` with ``exc``'s traceback (logger ``wsio``, level ERROR)."""
    logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def log(message):
    """Log an operational message (logger ``wsio``, level WARNING)."""
    logger.warning(message)


# ---- feeding a WebSocket from the transport's callbacks ------------------------------------
#
# A reading task per connection costs a task switch per message: the reader wakes, then the
# handler. Feeding the core from data_received() leaves one, as in a plain asyncio echo. The
# stream protocol that served the HTTP head stays behind ours for what StreamWriter needs
# (drain() and wait_closed() listen to its flow-control and connection_lost callbacks).

# Stop reading while this much of our output (pongs, close replies) waits in the transport.
_WRITE_HIGH = 1 << 16


class _Feeder(asyncio.Protocol):
    """Transport protocol that hands every received chunk to a ``WebSocket``."""

    eof_seen = False
    eof_deferred = False  # the FIN came with the upgrade, behind bytes still unparsed
    _eof_event = None  # made only for a client waiting for the server to close TCP

    def __init__(self, ws, transport, writer, on_closed):
        self.ws = ws
        self.transport = transport
        self.writer = writer
        self.stream_protocol = transport.get_protocol()
        self.on_closed = on_closed  # called once, when the core is CLOSED or stop() was called
        self.paused = False

    def data_received(self, data):
        self.ws._received(data)
        self._settle()

    def eof_received(self):
        self._eof()
        self.ws._received(b"")
        self._settle()
        return False

    def connection_lost(self, exc):
        self._eof()
        if self.on_closed is not None:
            self.ws._received(b"")
            self._settle()
        self.stream_protocol.connection_lost(exc)

    def pause_writing(self):
        self.stream_protocol.pause_writing()

    def resume_writing(self):
        self.stream_protocol.resume_writing()

    def _settle(self):
        """Write the core's replies, and stop reading while the connection cannot take more."""
        ws = self.ws
        replies = ws._conn.data_to_send()
        for buf in replies:  # writes are synchronous here: order is kept
            self.transport.write(buf)
        if ws._conn.state == CLOSED:
            self.stop()
        elif not self.paused:
            wait = ws._reading_waits_for()
            # Only replies pause reading on a full write buffer (a ping flood): the buffer also
            # holds the application's sends, and two peers each sending a large message would
            # both stop reading, each waiting for the other.
            backlog = replies and self.transport.get_write_buffer_size() > _WRITE_HIGH
            if wait is not None or backlog:
                self.paused = True
                self.transport.pause_reading()
                asyncio.create_task(self._resume_after(wait, backlog))

    async def _resume_after(self, wait, backlog):
        try:
            if wait is not None:
                await wait
            if backlog:  # only then: a peer that sends before it reads would wait for us
                await self.writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        self.paused = False
        ws = self.ws
        unparsed, ws._unparsed = ws._unparsed, None
        if unparsed is not None and self.on_closed is not None:
            ws._received(unparsed)  # what came while the queue was full, before reading on
            if self.eof_deferred and ws._unparsed is None:
                self.eof_deferred = False
                self._eof()
                ws._received(b"")
        self._settle()  # what the wait wrote or ended; it may pause again
        if not self.paused and self.on_closed is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def wait_message(self):
        """What ``receive()`` awaits when nothing is queued: the WebSocket's wakeup."""
        return self.ws._next_wakeup()

    def stop(self):
        """Report CLOSED (once); the WebSocket closes the transport."""
        if self.on_closed is not None:
            on_closed, self.on_closed = self.on_closed, None
            on_closed()

    def _eof(self):
        self.eof_seen = True
        if self._eof_event is not None:
            self._eof_event.set()

    async def until_eof(self):
        """Return once the peer's TCP stream ended."""
        if not self.eof_seen:
            self._eof_event = asyncio.Event()  # an asyncio.Event is ~0.7 KB: not one per connection
            await self._eof_event.wait()


def feed(ws, initial, on_closed):
    """Feed ``ws`` from its transport's callbacks (see ``runtime``); returns the feeder."""
    writer = ws._writer
    transport = writer.transport
    # Bytes the stream read past the HTTP head but did not hand out belong to the WebSocket.
    reader = ws._reader
    buffered = getattr(reader, "_buffer", None)
    if buffered:
        initial = bytes(initial) + bytes(buffered)
        buffered.clear()
    feeder = _Feeder(ws, transport, writer, on_closed)
    transport.set_protocol(feeder)
    if initial:
        feeder.data_received(initial)
    if reader.at_eof():  # the peer's FIN came with the head, before our protocol was in place
        if ws._unparsed is not None:
            feeder.eof_deferred = True  # after the messages still to parse
        else:
            feeder.eof_received()
    elif not initial and transport.is_closing():
        feeder.connection_lost(None)
    return feeder
