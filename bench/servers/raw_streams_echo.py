"""Raw asyncio streams echo (no WebSocket framing): the ceiling of any server with a handler task.

    python bench/servers/raw_streams_echo.py --port P

A Protocol echo (raw_echo.py) answers inside data_received, in the loop turn that read the
data. A streams server, like every WebSocket server whose handler is a coroutine, answers in the
next turn, when the reading task wakes. This is the "raw asyncio TCP echo" that the `rtt` target
compares with; raw_echo.py stays as the load generator's ceiling.
"""

import asyncio

from _serve import run  # bench/servers/_serve.py (this script's folder is on sys.path)


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(1 << 18)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(host, port):
    server = await asyncio.start_server(echo, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main)
