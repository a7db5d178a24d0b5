"""Raw asyncio streams echo (no WebSocket framing): the ceiling of any server with a handler task.

    python bench/servers/raw_streams_echo.py --port P

A Protocol echo (raw_echo.py) answers inside data_received, in the loop turn that read the
data. A streams server, like every WebSocket server whose handler is a coroutine, answers in the
next turn, when the reading task wakes. This is the "raw asyncio TCP echo" that the `rtt` target
compares with; raw_echo.py stays as the load generator's ceiling.
"""

import argparse
import asyncio


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
