"""Talk to the echo server: send a few messages and print the replies.

    python examples/echo.py --port 5000 &                         (any echo server will do)
    python examples/client.py --url ws://127.0.0.1:5000/echo      (CPython)
    micropython examples/client.py --url ws://127.0.0.1:5000/echo (MicroPython)
    python examples/client.py hello world                         (send these instead)
"""

import argparse
import asyncio

from wsio import connect

MESSAGES = ["hello", "héllo wörld ✓", b"\x00\x01\x02 binary"]


async def run(url, messages=MESSAGES):
    """Send each message, wait for its reply, print both; return the replies."""
    replies = []
    async with connect(url) as ws:
        for message in messages:
            await ws.send(message)
            reply = await ws.receive()
            print("sent:", message, "| got:", reply)
            replies.append(reply)
    return replies


def main():
    parser = argparse.ArgumentParser(description="send messages to an echo server")
    parser.add_argument("--url", default="ws://127.0.0.1:5000/echo", help="WebSocket URL (default ws://127.0.0.1:5000/echo)")
    parser.add_argument("messages", nargs="*", help="text messages to send (default: a few samples)")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.messages or MESSAGES))


if __name__ == "__main__":
    main()
