"""``WebSocket``: one open connection, the same class for servers and clients.

Bytes from the socket reach ws-core's ``Connection`` through ``_received``, called by the
platform's feed (``runtime.feed``: the transport's callbacks on CPython, the scheduler's read
events on MicroPython); the events become queued messages for ``receive()``, settled pings, and
the end of the connection, which wakes every waiter. No task waits on an open connection
(a task closes the socket at its end), and no task or future is made per message.
On the server the peer going away cancels the handler, so a handler blocked in ``receive()``
or anywhere else sees ``CancelledError``.
"""

# Builtins used per message, bound as globals for MicroPython's sake (see wscore.protocol).
from builtins import bytes, isinstance, len, str

import asyncio

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: annotations are never evaluated there
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from typing import Any

    from .options import Options
    from .server import Request

from ..constants import CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSED, OPEN
from ..errors import ConnectionClosed, ConnectionClosedOK, connection_closed
from ..protocol import Close, Connection, Pong
from . import runtime

# Seconds between tries of a step the heap had no room for (a board under a flood).
_MEMORY_RETRY = 0.1

# What a message event is. Named once: MicroPython builds a tuple written in the call anew at
# every call, an object per message.
_MESSAGE_TYPES = (str, bytes)


class WebSocket:
    """An open WebSocket connection.

    ``await receive()`` returns the next message (``str`` for text, ``bytes`` for binary);
    ``await send(message)`` sends one; ``async for message in ws`` iterates until a normal
    close. After the connection closed, ``receive`` and ``send`` raise ``ConnectionClosed``
    with the final code and reason.
    """

    # Defaults on the class: an idle connection's instance holds only what differs (heap on a
    # board). The ping table and the event for writers in line are made on first use.
    _writing: "Any" = None  # the task writing what the socket did not take at once, while it runs
    _written: "asyncio.Event | None" = None  # set when that task is done (senders wait on it)
    _write_broken = False  # a write failed: the tasks waiting for it fail too
    _pings: "list[tuple[bytes, asyncio.Event]] | None" = None  # pings awaiting a pong, oldest first
    _feed = None  # the platform's feed (runtime.feed) once started
    _end_task = None  # the task closing the socket, once the feed reported CLOSED
    _awaiting_eof = False  # that task waits for the server to close TCP first (client)
    _on_end = None
    _hard_closed = False  # dropped without waiting for the peer (_abort)
    _ended = False  # the socket is closed
    _ended_event: "asyncio.Event | None" = None
    _handler_task = None
    _handler_closing = False  # the application called close(): the end does not cancel the handler
    _handler_cancelled = False  # cancelled once already: never again
    _cancel_deferred = False  # the peer left, but the handler has messages to take first
    _receiving = False  # a task waits in receive() with nothing queued
    _ping_sent_at = None
    _heard = False  # bytes came since the timers last looked (they note the time, not each read)
    _space: "asyncio.Event | None" = None  # set when the reader of messages took one, or waits
    # Set when a message arrived or the connection closed; made by the first wait for it. On
    # MicroPython the task in receive() mostly reads the socket itself and never waits for it.
    _wakeup: "Any" = None  # a runtime.impl.Event
    _unparsed: "bytes | memoryview | None" = None  # received while the queue was full: parsed once it has room
    _finished = False  # the connection is closed and every waiter was woken
    _closed: "asyncio.Event | None" = None  # set with _finished, for the tasks waiting for it
    subprotocol: "str | None" = None

    def __init__(self, reader, writer, client: bool, options: "Options", request: "Request | None" = None, subprotocol: "str | None" = None) -> None:
        self.request = request
        if subprotocol is not None:
            self.subprotocol = subprotocol
        self.options = options
        self._reader = reader
        self._writer = writer
        self._conn = Connection(client, options.max_size, True, options.max_queue)
        self._messages: "list[str | bytes]" = []
        self._last_received = runtime.impl.monotonic()

    # ---- state ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closed (the closing handshake is over or failed)."""
        return self._finished

    @property
    def close_code(self) -> "int | None":
        """The final close code, or None while the connection is open."""
        return self._conn.close_code if self._conn.state == CLOSED else None

    @property
    def close_reason(self) -> "str | None":
        """The final close reason ('' if none), or None while the connection is open."""
        return self._conn.close_reason if self._conn.state == CLOSED else None

    @property
    def state(self) -> int:
        """OPEN, CLOSING or CLOSED (``wscore.constants``)."""
        return self._conn.state

    # ---- receiving --------------------------------------------------------------------

    async def receive(self) -> "str | bytes":
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises ``ConnectionClosedOK`` or ``ConnectionClosedError`` once the connection is
        closed and every message received before was returned.
        """
        while not self._messages:
            if self._conn.state == CLOSED:
                raise connection_closed(self._conn.close_code, self._conn.close_reason)
            if self._space is not None:
                self._space.set()
            self._receiving = True
            try:
                feed = self._feed
                if feed is None:
                    await self._next_wakeup()
                else:
                    await feed.wait_message()  # the feed's wait clears the wakeup if it uses it
            finally:
                self._receiving = False
        if self._space is not None:
            self._taking_message()
        return self._messages.pop(0)

    def _taking_message(self):
        """receive() takes a message while a reader waits for room or a cancel waits (rare)."""
        if len(self._messages) >= self.options.max_queue:
            self._space.set()
        if self._cancel_deferred and len(self._messages) == 1:
            # The last message from before the peer left: cancel at the handler's next wait.
            self._cancel_deferred = False
            asyncio.create_task(self._cancel_soon())

    async def _cancel_soon(self):
        self._cancel_handler(force=True)

    def _next_wakeup(self):
        """Wait for the next message or the end of the connection (wakeup cleared first)."""
        if self._wakeup is None:
            self._wakeup = runtime.impl.Event()
        else:
            self._wakeup.clear()
        return self._wakeup.wait()

    def _wake(self):
        """Wake the task waiting in ``_next_wakeup()``, if any ever did."""
        if self._wakeup is not None:
            self._wakeup.set()

    def __aiter__(self) -> "WebSocket":
        return self

    async def __anext__(self) -> "str | bytes":
        try:
            return await self.receive()
        except ConnectionClosedOK:
            raise StopAsyncIteration

    # ---- sending ----------------------------------------------------------------------

    async def send(self, message: "str | bytes | bytearray | memoryview") -> None:
        """Send ``message``: a ``str`` as text, bytes-like as binary; waits until written.

        Waiting for the write to drain is what keeps a peer that does not read from making us
        buffer without bound. Sends from several tasks go out whole and in call order.
        """
        try:
            self._conn.send_message(message, self.options.fragment_size)
        except ConnectionClosed:
            await self._raise_closed()  # closing: raised with the final code once it is known
        try:
            pending = self._write()  # no await at all when the socket takes it at once
            if pending is not None:
                await pending
        except OSError:
            await self._write_failed()

    async def ping(self, data: "str | bytes" = b"") -> None:
        """Send a ping and wait for its pong; raises ``ConnectionClosed`` if the connection ends first."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        data = bytes(data)
        if self._pings is None:
            self._pings = []
        index = self._ping_index(data)
        # The same payload in flight: its pong answers both calls.
        waiter = self._pings[index][1] if index >= 0 else None
        if waiter is None:
            try:
                self._conn.send_ping(data)
            except ConnectionClosed:
                await self._raise_closed()
            waiter = asyncio.Event()
            self._pings.append((data, waiter))
            try:
                await self._flush()
            except OSError:
                await self._write_failed()
        await waiter.wait()
        if self._finished and any(event is waiter for _, event in self._pings):  # the end, not a pong
            raise connection_closed(self._conn.close_code, self._conn.close_reason)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason`` and wait for the closing handshake.

        If the peer does not answer within ``close_timeout`` the TCP connection is dropped.
        Closing a closed connection does nothing. The handler is not cancelled by an end the
        application asked for, from whichever task (``wait_for(ws.close(), t)`` runs it in
        another): it sees ``ConnectionClosed`` when it next uses the connection.
        """
        if self._conn.state == OPEN:
            self._conn.send_close(code, reason)  # a code or reason that may not be sent raises here
        self._handler_closing = True
        if not self._finished:
            try:
                # One bound for writing the close frame and for the answer: the frame may wait
                # behind a send blocked on a peer that does not read.
                await runtime.impl.wait_for(self._closing_handshake(), self.options.close_timeout)
            except (OSError, asyncio.TimeoutError):
                self._abort()
                await self._until_finished()
            except asyncio.CancelledError:
                # wait_for(ws.close(), t) gave up waiting: the handshake goes on, and
                # close_timeout still bounds it (a nested function: no method per connection).
                async def bounded():
                    try:
                        await runtime.impl.wait_for(self._until_finished(), self.options.close_timeout)
                    except asyncio.TimeoutError:
                        self._abort()

                asyncio.create_task(bounded())
                raise

    async def _closing_handshake(self):
        await self._flush()
        await self._until_finished()

    async def _write_failed(self):
        """A write failed (reset, broken pipe): the peer is gone. Drop the connection and wait
        until it ended; on the server that cancels the handler, as for any peer
        leaving. Elsewhere this raises ``ConnectionClosed`` (1006), never the ``OSError``."""
        self._abort()
        await self._raise_closed()

    async def _raise_closed(self):
        """Raise ``ConnectionClosed`` with the final code and reason, once the connection ended
        (a send during the closing handshake waits for its end: ``close_timeout`` at most)."""
        await self._until_finished()
        raise connection_closed(self._conn.close_code, self._conn.close_reason)

    def _write(self):
        """Hand the frames the core queued to the socket.

        Returns None when the socket took them at once, else an awaitable that waits until
        the writing task wrote them. That task (``_drain``) writes every frame queued meanwhile,
        so frames never interleave and go out in the order they were queued; and no sender's
        cancel (``wait_for(ws.send(m), t)``) reaches it, so a frame is never cut (MicroPython
        writes a large one in slices, and its drain() forgets its progress when cancelled).
        No lock: on MicroPython ``async with`` costs several coroutine calls per message.
        The awaitable raises ``OSError`` if the socket failed.
        """
        if self._writing:
            return self._after_writer()
        conn = self._conn
        buffers = conn._outgoing  # (data_to_send() written out: a Python call less per message)
        if not buffers:
            return None
        conn._outgoing = ()
        pending = runtime.impl.write_now(self._writer, buffers)
        if pending is None:
            return None
        self._writing = asyncio.create_task(self._drain(pending))
        return self._after_writer()

    async def _drain(self, pending):
        """The writing task: finish ``pending``, then write what was queued meanwhile."""
        try:
            await pending
            if self._hard_closed:  # CPython's drain() returns when the transport is aborted
                raise OSError("the connection was dropped while writing")
            buffers = self._conn.data_to_send()
            while buffers:  # frames of tasks that came meanwhile and wait in _after_writer
                await runtime.write(self._writer, buffers)
                buffers = self._conn.data_to_send()
        except (OSError, asyncio.CancelledError):  # cancelled only once the socket is closed
            self._write_broken = True
        finally:
            self._writing = None
            waiting, self._written = self._written, None
            if waiting is not None:
                waiting.set()

    async def _after_writer(self):
        # Awaited later than it was made (a task of the feed waits for replies): the writing
        # task may have ended meanwhile, having written every frame queued before it did.
        if self._writing:
            if self._written is None:
                self._written = asyncio.Event()
            await self._written.wait()
        if self._write_broken:
            raise OSError("the connection failed while writing")

    async def _flush(self):
        pending = self._write()
        if pending is not None:
            await pending

    # ---- the connection's life ---------------------------------------------------------

    def _start(self, initial=b"", on_end=None):
        """Serve the connection from the platform's feed; no task waits while it is open.

        ``runtime.impl.feed`` hands every chunk the peer sends to ``_received`` (from the
        transport's callbacks on CPython, from the scheduler on MicroPython) and calls
        ``_feed_closed`` once the core is CLOSED. On a board every suspended coroutine under an
        idle connection costs heap, so nothing waits for that moment. ``on_end(ws)`` runs once
        the socket is closed (awaited if it returns an awaitable).
        """
        if on_end is not None:
            self._on_end = on_end
        self._feed = runtime.impl.feed(self, initial, self._feed_closed)

    def _feed_closed(self):
        """The feed saw CLOSED or was stopped: end the connection in a task of its own.

        On a board's full heap there may be no room for that task: the watchdog's next tick
        tries again (``_check_timers``), so that the socket is closed and the App forgets the
        connection all the same."""
        try:
            self._end_task = asyncio.create_task(self._release())
        except MemoryError:
            pass

    async def _release(self):
        """Close the socket and wake every waiter; then ``on_end``. Tried again after a moment
        while the heap has no room for a step (each can be done twice)."""
        task = asyncio.current_task()
        if self._end_task is None:
            self._end_task = task  # before _feed_closed could record it (an eager task factory)
        elif self._end_task is not task:
            return  # one made again by the watchdog, after the heap had no room to record this one
        conn = self._conn
        if conn.client and conn.close_received and not self._hard_closed:
            # RFC 6455 7.1.1: the server closes TCP first; give it close_timeout to do so.
            self._awaiting_eof = True
            try:
                await runtime.impl.wait_for(self._feed.until_eof(), self.options.close_timeout)
            except (OSError, EOFError, asyncio.TimeoutError, asyncio.CancelledError):
                pass
            self._awaiting_eof = False
        while True:
            try:
                await self._close_and_forget()
                return
            except MemoryError:
                await asyncio.sleep(_MEMORY_RETRY)

    async def _close_and_forget(self):
        self._finish()
        # Cancel in the same step as _finish() wakes the waiters, so that a handler woken
        # by it sees CancelledError, not ConnectionClosed, whatever it was blocked in.
        self._cancel_handler()
        # Dropped (a timeout, shutdown's last pass): what is still buffered is not waited for.
        await runtime.impl.close(self._writer, 0 if self._hard_closed else self.options.close_timeout)
        if self._writing is not None:
            # The socket is closed. A writer may still wait for it where nothing will wake it:
            # MicroPython's asyncio drops a socket's whole poll entry when any task waiting on
            # it is cancelled (a client's wait for the server's FIN, after close_timeout).
            self._writing.cancel()
        self._ended = True
        if self._ended_event is not None:
            self._ended_event.set()
        if self._on_end is not None:
            result = self._on_end(self)
            if result is not None:
                await result

    async def _until_ended(self):
        """Wait until the socket is closed."""
        if not self._ended:
            if self._ended_event is None:
                self._ended_event = asyncio.Event()
            await self._ended_event.wait()

    def _received(self, data, scratch=False):
        """Feed bytes from the peer (``b''`` at end of stream) to the core and act on the events.

        ``scratch``: ``data`` is a read buffer the core may unmask in place (``receive_data``)."""
        self._heard = True
        if data:
            conn = self._conn
            if self._messages:  # the reader is behind: only the room left (else max_queue)
                conn.max_events = self.options.max_queue - len(self._messages)
                taken = conn.receive_data(data, scratch)
                conn.max_events = self.options.max_queue
            else:
                taken = conn.receive_data(data, scratch)
            if taken < len(data):
                # The core stopped at max_events: the rest waits here, copied out of a shared
                # read buffer (once: the rest of a rest is a view), until the application
                # makes room.
                self._unparsed = bytes(data[taken:]) if scratch else memoryview(data)[taken:]
        else:
            self._conn.receive_eof()
        self._handle_events()

    def _reading_waits_for(self):
        """What reading must wait for before it goes on, as an awaitable; None to go on.

        A full queue waits for the application to take a message (the feed then parses what
        was left in ``_unparsed`` before it reads again); a protocol error waits
        until the messages before it were dealt with, then fails the connection.
        """
        if self._conn.state == CLOSED:
            return None
        if self._conn.pending_error is not None:
            return self._fail_after_messages()
        if len(self._messages) >= self.options.max_queue or self._unparsed is not None:
            return self._until_space()
        return None

    async def _until_space(self):
        while len(self._messages) >= self.options.max_queue and self._conn.state != CLOSED:
            await self._space_event().wait()

    def _space_event(self):
        """The event receive() sets when it takes a message or waits, cleared for a new wait."""
        if self._space is None:
            self._space = asyncio.Event()
        self._space.clear()
        return self._space

    async def _until_finished(self):
        """Wait until the connection is closed and its waiters were woken."""
        if not self._finished:
            if self._closed is None:
                self._closed = asyncio.Event()
            await self._closed.wait()

    async def _fail_after_messages(self):
        """Fail the connection once the messages before the bad frame were taken and answered.

        "Answered" means the reader came back to ``receive()`` with nothing left: for an echo
        handler its reply is out. A reader that never comes back gets ``close_timeout``.
        """
        if self._messages:
            deadline = runtime.impl.monotonic() + self.options.close_timeout
            try:
                while self._messages or not self._receiving:
                    await runtime.impl.wait_for(self._space_event().wait(), max(0, deadline - runtime.impl.monotonic()))
            except asyncio.TimeoutError:
                pass
        self._conn.fail()
        self._handle_events()
        pending = self._write_replies()
        if pending is not None:
            await pending

    def _handle_events(self):
        """Act on what the core produced: queue messages, settle pings, see the peer leave."""
        conn = self._conn
        events = conn._events  # (events() written out: a Python call less per message)
        if not events:
            return
        conn._events = ()
        for event in events:
            if isinstance(event, _MESSAGE_TYPES):
                self._messages.append(event)
                if self._wakeup is not None:  # (_wake() written out: a call less per message)
                    self._wakeup.set()
            elif isinstance(event, Pong):
                self._ponged(bytes(event.data))
            elif isinstance(event, Close):
                # On the server the peer leaving cancels the handler; cancel before waking it,
                # so that a handler blocked in receive() sees CancelledError, as documented.
                self._cancel_handler()
                self._wake()

    def _ping_index(self, data):
        """Where the ping in flight with payload ``data`` is in ``_pings``; -1 if none is."""
        pings = self._pings or []
        for index in range(len(pings)):
            if pings[index][0] == data:
                return index
        return -1

    def _ponged(self, data):
        """A pong answers the ping with its payload and every ping sent before it: a peer may
        answer only the latest of several (RFC 6455 5.5.3)."""
        pings = self._pings
        index = self._ping_index(data)
        if pings and index >= 0:
            for _, waiter in pings[: index + 1]:
                waiter.set()
            del pings[: index + 1]

    def _write_replies(self):
        """Write the pongs and close frames the core queued in answer to the peer.

        Returns None when they went out at once, else an awaitable that finishes the job.
        """
        if self._writing and len(self._conn._outgoing) <= 2 * self.options.max_queue:
            # The writing task sends them after the frame in progress. Reading goes on: a peer
            # that sends before it reads must not wait for our long message (a deadlock).
            # Beyond a few, reading waits for them, so that a ping flood stays bounded.
            return None
        try:
            pending = self._write()
        except OSError:
            self._lost()
            return None
        return None if pending is None else self._wait_replies(pending)

    async def _wait_replies(self, pending):
        try:
            if self._conn.state == CLOSED:
                # The handshake is over and the timers stopped: a peer that does not read our
                # close reply (behind a blocked send) gets close_timeout, as for any close.
                await runtime.impl.wait_for(pending, self.options.close_timeout)
            else:
                await pending
        except (OSError, asyncio.TimeoutError):
            self._lost()

    def _lost(self):
        """Writing failed: the peer is gone (1006)."""
        self._conn.receive_eof()
        self._handle_events()

    def _abort(self, code=CLOSE_ABNORMAL, reason=""):
        """Drop the connection without (further) handshake: stop the feed, close the socket."""
        self._conn.abort(code, reason)
        self._hard_closed = True
        if self._feed is not None:
            self._feed.stop()  # reports CLOSED unless it did already
        if self._awaiting_eof and self._end_task is not asyncio.current_task():
            self._end_task.cancel()  # stop waiting for the server to close TCP (client)

    def _finish(self):
        self._conn.abort()  # CLOSED with 1006 unless a code was already final
        self._finished = True
        if self._closed is not None:
            self._closed.set()
        self._wake()
        if self._space is not None:
            self._space.set()
        for _, waiter in self._pings or ():
            waiter.set()

    async def _let_handler_end(self, done):
        """Give the handler (cancelled if the peer left) ``close_timeout`` to set ``done``; log if not.

        A handler that has not taken the messages from before the end in that time is cancelled
        then, and gets ``close_timeout`` more."""
        for _ in range(2):
            try:
                await runtime.impl.wait_for(done.wait(), self.options.close_timeout)
                return
            except asyncio.TimeoutError:
                if not self._cancel_deferred:
                    break
                self._cancel_handler(force=True)
        path = self.request.path if self.request is not None else "?"
        runtime.impl.log("handler of %s still running %.1f s after its connection closed" % (path, self.options.close_timeout))

    def _cancel_handler(self, force=False):
        """Cancel the handler because the peer left; once only, so its cleanup can await.

        Messages that came before the end are the handler's: while some wait in the queue, the
        cancel waits until the handler took the last one (``_taking_message``), or ``force``.
        """
        task = self._handler_task
        if task is None or self._handler_closing or self._handler_cancelled or task is asyncio.current_task():
            return
        if self._messages and not force:
            self._cancel_deferred = True
            if self._space is None:
                self._space = asyncio.Event()  # so that receive() looks at _taking_message
            return
        self._cancel_deferred = False
        self._handler_cancelled = True
        task.cancel()

    # ---- timers (called by the Watchdog) -----------------------------------------------

    def _check_timers(self, now):
        """Send a keepalive ping or drop the connection when a timer expired."""
        options = self.options
        if self._conn.state != OPEN:
            # Closing: close_timeout bounds it, and a second close would cut a frame.
            if self._end_task is None and self._feed is not None and self._feed.on_closed is None:
                self._feed_closed()  # the feed reported CLOSED when the heap had no room to end it
            return
        if self._heard:  # noted here rather than per read: a clock read per message costs on a board
            self._heard = False
            self._last_received = now
            self._ping_sent_at = None
        silent = now - self._last_received
        if options.idle_timeout and silent > options.idle_timeout:
            self._fail_timer(CLOSE_GOING_AWAY, "idle timeout")
        elif self._ping_sent_at is not None and options.ping_timeout:
            if now - self._ping_sent_at > options.ping_timeout:
                self._fail_timer(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
        elif options.ping_interval and now - (self._ping_sent_at or self._last_received) > options.ping_interval:
            # (Without ping_timeout, a peer that never answers still gets a ping per interval:
            # that traffic is what keeps NATs and firewalls from forgetting the connection.)
            self._ping_sent_at = now
            self._conn.send_ping(b"keepalive")
            self._write_nowait()

    def _fail_timer(self, code, reason):
        """Close with ``code`` and drop the connection without waiting for an answer (timers,
        the Broadcaster). No close frame came back, so the connection's own code is 1006
        (RFC 6455 7.1.5), with ``reason``: ``receive()`` raises ``ConnectionClosedError``, and
        ``async for`` does not end as if the peer had said goodbye."""
        self._close_nowait(code, reason, self._abort, CLOSE_ABNORMAL, reason)

    def _close_nowait(self, code, reason, then, *args):
        """Send a close frame without waiting for the socket, then call ``then(*args)``.

        A frame being written goes out whole first and the close frame after it: ``then``
        waits for both, ``close_timeout`` at most (the peer may not read)."""
        if self._conn.state == OPEN:
            self._conn.send_close(code, reason)
            if self._writing:
                asyncio.create_task(self._after_write(then, *args))
                return
            self._write_nowait()
        then(*args)

    async def _after_write(self, then, *args):
        """Wait until the frame being written and those queued after it are out (``close_timeout``
        at most: the peer may not read), then call ``then(*args)``."""
        try:
            await runtime.impl.wait_for(self._flush(), self.options.close_timeout)
        except (OSError, asyncio.TimeoutError):
            pass
        then(*args)

    def _write_nowait(self):
        # Timers must not block on a peer that does not read: write what fits, never drain.
        if self._writing:
            return
        try:
            for buf in self._conn.data_to_send():
                self._writer.write(buf)
        except OSError:
            pass
