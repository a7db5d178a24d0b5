"""websockets (asyncio implementation) echo server: compression off, max message 16 MiB.

    python bench/servers/websockets_echo.py --port P
"""

import asyncio

from websockets.asyncio.server import serve

from _serve import run  # bench/servers/_serve.py (this script's folder is on sys.path)

MAX_SIZE = 16 * 1024 * 1024


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    async with serve(echo, host, port, compression=None, max_size=MAX_SIZE, backlog=1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main)
