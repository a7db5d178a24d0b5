"""aiohttp echo server at /echo: compression off, max message 16 MiB.

    python bench/servers/aiohttp_echo.py --port P
"""

import asyncio

from aiohttp import WSMsgType, web

from _serve import run  # bench/servers/_serve.py (this script's folder is on sys.path)

MAX_SIZE = 16 * 1024 * 1024


async def echo(request):
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def main(host, port):
    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main)
