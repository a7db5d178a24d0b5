"""websockets (asyncio implementation) echo server: compression off, max message 16 MiB.

    python bench/servers/websockets_echo.py --port P
"""

import argparse
import asyncio

from websockets.asyncio.server import serve

MAX_SIZE = 16 * 1024 * 1024


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    async with serve(echo, host, port, compression=None, max_size=MAX_SIZE, backlog=1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
