"""One timer task for many connections: keepalive pings, ping and idle timeouts.

A task per connection would cost heap on a board for every idle client; instead one task wakes
every ``tick`` seconds and lets each registered WebSocket check its own deadlines.
"""

import asyncio

from . import runtime


class Watchdog:
    """Checks the timers of a set of WebSockets every ``tick`` seconds while any is registered."""

    def __init__(self, tick, sockets=None):
        self.tick = tick
        # The server passes its set of open WebSockets: one set fewer to grow per connection.
        self._sockets = set() if sockets is None else sockets
        self._task = None

    def add(self, ws):
        """Watch ``ws`` until ``discard``; starts the timer task if needed."""
        if not self.tick:
            return
        self._sockets.add(ws)
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def discard(self, ws):
        """Stop watching ``ws``."""
        self._sockets.discard(ws)

    def stop(self):
        """Cancel the timer task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self):
        try:
            while self._sockets:
                await asyncio.sleep(self.tick)
                now = runtime.impl.monotonic()
                try:
                    # No copy of the set (hundreds of entries on a board's heap): checking
                    # timers never adds or removes a WebSocket, the tasks they start do.
                    for ws in self._sockets:
                        ws._check_timers(now)
                except Exception as exc:  # e.g. MemoryError on a full heap: keep the timers alive
                    runtime.impl.log_exception("error checking timers", exc)
        finally:
            self._task = None
