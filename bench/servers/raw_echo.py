"""Raw asyncio TCP echo (no WebSocket framing): the ceiling of the load generator.

    python bench/servers/raw_echo.py --port P
"""

import asyncio

from _serve import run  # bench/servers/_serve.py (this script's folder is on sys.path)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(host, port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main)
