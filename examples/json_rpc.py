"""JSON-RPC 2.0 over WebSocket: each request is handled on its own, so a slow call holds up no other.

    python examples/json_rpc.py --port 5000          (CPython)
    micropython examples/json_rpc.py --port 5000     (MicroPython)

Send {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [2, 3]} to ws://127.0.0.1:5000/rpc
and get {"jsonrpc": "2.0", "id": 1, "result": 5}. Replies carry the request's id and may come
out of order; a request without an id is a notification and gets no reply.
"""

import argparse
import asyncio
import json

from wsio import App, ConnectionClosed, with_websocket

METHODS: dict = {}  # name -> async function


def rpc_method(function):
    """Register an ``async def`` as a method callable by its name."""
    METHODS[function.__name__] = function
    return function


@rpc_method
async def add(a, b):
    return a + b


@rpc_method
async def echo(value):
    return value


@rpc_method
async def sleep(ms):
    await asyncio.sleep(ms / 1000)
    return ms


def error(request_id, code, message):
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


async def call(request):
    """The reply to one decoded request (None for a notification)."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return error(None, -32600, "invalid request")
    request_id = request.get("id")
    method = METHODS.get(request["method"])
    params = request.get("params", [])
    if method is None:
        reply = error(request_id, -32601, "method not found: " + request["method"])
    else:
        try:
            if isinstance(params, dict):
                result = await method(**params)
            else:
                result = await method(*params)
            reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except TypeError as exc:
            reply = error(request_id, -32602, "invalid params: %s" % exc)
        except Exception as exc:  # a method's failure is the caller's answer, not the connection's end
            reply = error(request_id, -32603, "%s: %s" % (type(exc).__name__, exc))
    return reply if "id" in request else None


async def answer(ws, text, pending):
    try:
        try:
            request = json.loads(text)
        except ValueError:
            reply = error(None, -32700, "parse error")
        else:
            reply = await call(request)
        if reply is not None:
            await ws.send(json.dumps(reply))
    except ConnectionClosed:
        pass  # the client left before its answer was ready
    finally:
        pending.discard(asyncio.current_task())


def make_app():
    app = App()

    @app.route("/rpc")
    @with_websocket
    async def rpc(request, ws):
        pending = set()  # calls still running; cancelled if the client leaves
        try:
            async for text in ws:
                pending.add(asyncio.create_task(answer(ws, text, pending)))
        finally:
            for task in list(pending):
                task.cancel()

    return app


def main():
    parser = argparse.ArgumentParser(description="JSON-RPC over WebSocket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    make_app().run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
