"""Autobahn|Testsuite client driver: echo every case of a fuzzing server with the wsio client.

    python scripts/autobahn_client.py ws://127.0.0.1:9001 --agent wsio
    micropython scripts/autobahn_client.py ws://127.0.0.1:9001 --agent wsio-mp

Runs on CPython and MicroPython alike (the conformance runner's client mode calls it).
"""

import argparse
import asyncio

from wsio import ConnectionClosed, WebSocketError, connect

MAX_SIZE = 32 * 1024 * 1024


async def echo_case(url):
    try:
        async with connect(url, max_size=MAX_SIZE, ping_interval=None) as ws:
            async for message in ws:
                await ws.send(message)
    except (ConnectionClosed, WebSocketError, OSError):
        pass


async def main(base, agent):
    async with connect(base + "/getCaseCount") as ws:
        count = int(await ws.receive())
    for case in range(1, count + 1):
        await echo_case("%s/runCase?case=%d&agent=%s" % (base, case, agent))
    async with connect("%s/updateReports?agent=%s" % (base, agent)) as ws:
        try:
            await ws.receive()
        except ConnectionClosed:
            pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--agent", default="wsio")
    args = parser.parse_args()
    asyncio.run(main(args.url.rstrip("/"), args.agent))
