"""A client that stays connected: when the connection fails or ends, it reconnects after a delay
that doubles each time (0.5 s, 1 s, 2 s ... up to 30 s, with some jitter) and resets once in.

    python examples/reconnect_client.py --url ws://127.0.0.1:5000/echo          (CPython)
    micropython examples/reconnect_client.py --url ws://127.0.0.1:5000/echo     (MicroPython)

Start it before the server, or stop and restart the server while it runs, and watch it come back.
"""

import argparse
import asyncio
import random

from wsio import WebSocketError, connect


class Backoff:
    """Delays for successive attempts: ``initial`` * ``factor`` ** n, at most ``maximum``,
    each stretched by up to ``jitter`` (a fraction) so that many clients do not retry in step."""

    def __init__(self, initial=0.5, maximum=30.0, factor=2.0, jitter=0.1):
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.delay = initial

    def reset(self):
        self.delay = self.initial

    def next(self):
        delay = self.delay
        self.delay = min(self.delay * self.factor, self.maximum)
        return delay * (1 + self.jitter * random.getrandbits(16) / 65536)


async def stay_connected(url, session, backoff=None, stop=None):
    """Run ``await session(ws)`` on a connection to ``url`` again and again until ``stop`` is set."""
    backoff = backoff or Backoff()
    while stop is None or not stop.is_set():
        try:
            async with connect(url) as ws:
                print("connected to", url)
                backoff.reset()
                await session(ws)
            print("connection closed")
        except (OSError, EOFError, asyncio.TimeoutError, WebSocketError) as exc:
            print("connection failed or lost:", repr(exc))
        if stop is not None and stop.is_set():
            break
        delay = backoff.next()
        print("reconnecting in %.2f s" % delay)
        await asyncio.sleep(delay)


async def greet_and_listen(ws):
    """The example's session: say hello, then print what arrives until the connection ends."""
    await ws.send("hello")
    async for message in ws:
        print("received:", message)


def main():
    parser = argparse.ArgumentParser(description="a WebSocket client that reconnects with backoff")
    parser.add_argument("--url", default="ws://127.0.0.1:5000/echo", help="WebSocket URL (default ws://127.0.0.1:5000/echo)")
    args = parser.parse_args()
    try:
        asyncio.run(stay_connected(args.url, greet_and_listen))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
