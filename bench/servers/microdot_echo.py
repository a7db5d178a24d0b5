"""microdot echo server at /echo; runs on CPython and on MicroPython (microdot's sources on
MICROPYPATH). Max message 16 MiB. On MicroPython, GET /heap answers gc.mem_alloc() after
gc.collect(), for the per-connection heap figure.

    python bench/servers/microdot_echo.py --port P
    micropython -X heapsize=64M bench/servers/microdot_echo.py --port P
"""

import argparse

from _heap import heap_reply
from microdot import Microdot, Request
from microdot.websocket import WebSocket, with_websocket

MAX_SIZE = 16 * 1024 * 1024
Request.max_body_length = MAX_SIZE
WebSocket.max_message_length = MAX_SIZE

app = Microdot()


@app.route("/echo")
@with_websocket
async def echo(request, ws):
    while True:
        message = await ws.receive()
        await ws.send(message)


@app.route("/heap")
async def heap(request):
    return heap_reply()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
