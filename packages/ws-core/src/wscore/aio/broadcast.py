"""``Broadcaster``: send the same messages to many WebSockets; a slow one never holds up the rest.

    room = Broadcaster()

    @app.route('/chat')
    @with_websocket
    async def chat(request, ws):
        room.add(ws)
        try:
            async for message in ws:
                room.broadcast(message)
        finally:
            room.discard(ws)

``broadcast`` does not wait: each member has a bounded outbox and a task that sends from it.
A member whose outbox is full (it has not read ``max_pending`` messages) is dropped: its
connection is closed with 1008 and it leaves the group, so memory stays bounded and the other
members never wait for it.
"""

import asyncio

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: annotations are never evaluated there
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from typing import Iterator

    from .websocket import WebSocket

from ..constants import CLOSED
from ..errors import ConnectionClosed
from . import runtime


class _Member:
    __slots__ = ("outbox", "ready", "task")

    def __init__(self):
        self.outbox = []
        self.ready = asyncio.Event()
        self.task = None


class Broadcaster:
    """A group of WebSockets that ``broadcast(message)`` sends to, in order, without waiting."""

    def __init__(self, max_pending: int = 32) -> None:
        self.max_pending = max_pending
        self._members: "dict[WebSocket, _Member]" = {}

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> "Iterator[WebSocket]":
        return iter(list(self._members))

    def __contains__(self, ws: object) -> bool:
        return ws in self._members

    def add(self, ws: "WebSocket") -> None:
        """Add ``ws``; it receives every message broadcast from now on until it leaves."""
        if ws not in self._members:
            member = self._members[ws] = _Member()
            member.task = asyncio.create_task(self._send_loop(ws, member))

    def discard(self, ws: "WebSocket") -> None:
        """Remove ``ws`` (messages still in its outbox are not sent)."""
        member = self._members.pop(ws, None)
        if member is not None:
            # Its sender ends by itself once the message it is sending, if any, went out whole:
            # cancelled in the middle of a frame, it would leave the peer half a frame.
            member.outbox.clear()
            member.ready.set()

    def broadcast(self, message: "str | bytes", exclude: "WebSocket | None" = None) -> int:
        """Queue ``message`` (str or bytes) for every member but ``exclude``; return how many got it."""
        queued = 0
        for ws, member in list(self._members.items()):
            if ws is exclude:
                continue
            if ws.state == CLOSED:
                self.discard(ws)
            elif len(member.outbox) >= self.max_pending:
                self._drop(ws)
            else:
                member.outbox.append(message)
                member.ready.set()
                queued += 1
        return queued

    def _drop(self, ws):
        """A member that does not keep up: close it with 1008 without waiting for it, and forget it."""
        self.discard(ws)
        ws._fail_timer(1008, "too slow: %d messages not read" % self.max_pending)

    async def _send_loop(self, ws, member):
        try:
            while True:
                while not member.outbox:
                    if self._members.get(ws) is not member:
                        return  # discarded
                    member.ready.clear()
                    await member.ready.wait()
                await ws.send(member.outbox.pop(0))
        except (asyncio.CancelledError, ConnectionClosed, OSError):
            pass
        except Exception as exc:  # a bug must not kill the broadcaster silently
            runtime.impl.log_exception("error broadcasting", exc)
        finally:
            if self._members.get(ws) is member:
                del self._members[ws]
