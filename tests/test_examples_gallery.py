"""The example gallery in-process (both interpreters): json_rpc, sensor, auth, client, reconnect_client.

examples/chat.py has its own file (test_examples_chat.py); examples/echo.py is driven by a real
browser in test_browser_cpython.py and serves the client examples here.
"""

import asyncio
import json
import sys

import support
from wire import serving
from wsio import InvalidStatus, connect

sys.path.append((__file__.rpartition("/")[0] or ".") + "/../examples")

import auth  # noqa: E402
import client  # noqa: E402
import echo  # noqa: E402
import json_rpc  # noqa: E402
import reconnect_client  # noqa: E402
import sensor  # noqa: E402


# ---- json_rpc.py -----------------------------------------------------------------------------


async def rpc(ws, request):
    await ws.send(json.dumps(request))
    return json.loads(await ws.receive())


async def test_json_rpc_calls_and_errors():
    async with serving(json_rpc.make_app()) as port:
        async with connect("ws://127.0.0.1:%d/rpc" % port) as ws:
            assert await rpc(ws, {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [2, 3]}) == {"jsonrpc": "2.0", "id": 1, "result": 5}
            reply = await rpc(ws, {"jsonrpc": "2.0", "id": "b", "method": "echo", "params": {"value": "é ✓"}})
            assert reply["id"] == "b" and reply["result"] == "é ✓"
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 1]}))  # notification: no reply
            assert (await rpc(ws, {"jsonrpc": "2.0", "id": 2, "method": "nope"}))["error"]["code"] == -32601
            assert (await rpc(ws, {"jsonrpc": "2.0", "id": 3, "method": "add", "params": [1]}))["error"]["code"] == -32602
            assert (await rpc(ws, {"jsonrpc": "2.0", "id": 4, "method": "add", "params": [1, "x"]}))["error"]["code"] in (-32602, -32603)
            assert (await rpc(ws, [1, 2]))["error"]["code"] == -32600
            await ws.send("{not json")
            reply = json.loads(await ws.receive())
            assert reply["error"]["code"] == -32700 and reply["id"] is None


async def test_json_rpc_a_slow_call_does_not_hold_up_the_next():
    async with serving(json_rpc.make_app()) as port:
        async with connect("ws://127.0.0.1:%d/rpc" % port) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "slow", "method": "sleep", "params": [500]}))
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "fast", "method": "add", "params": [20, 22]}))
            first = json.loads(await ws.receive())
            second = json.loads(await ws.receive())
            assert (first["id"], first["result"]) == ("fast", 42)
            assert (second["id"], second["result"]) == ("slow", 500)


# ---- sensor.py -------------------------------------------------------------------------------


async def next_reply(ws, readings):
    """The next command reply; readings that arrive before it are collected."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.receive(), 5))
        if "ok" in message:
            return message
        readings.append(message)


async def test_sensor_pushes_readings_and_takes_commands():
    async with serving(sensor.make_app(interval_ms=30)) as port:
        async with connect("ws://127.0.0.1:%d/readings" % port) as ws:
            readings = []
            for _ in range(3):  # (no await in a comprehension on MicroPython)
                readings.append(json.loads(await asyncio.wait_for(ws.receive(), 5)))
            assert [r["n"] for r in readings] == [1, 2, 3]
            assert all(isinstance(r["value"], float) for r in readings)
            await ws.send(json.dumps({"cmd": "interval", "ms": 20}))
            reply = await next_reply(ws, readings)
            assert reply["ok"] and reply["interval_ms"] == 20
            await ws.send(json.dumps({"cmd": "pause"}))
            assert (await next_reply(ws, readings))["paused"] is True
            # Paused: nothing comes for many intervals...
            with support.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.receive(), 0.3)
            # ...but a reading on demand still does.
            await ws.send(json.dumps({"cmd": "read"}))
            before = len(readings)
            reply = await next_reply(ws, readings)
            assert reply["ok"] and len(readings) == before + 1
            await ws.send(json.dumps({"cmd": "resume"}))
            await next_reply(ws, readings)
            more = json.loads(await asyncio.wait_for(ws.receive(), 5))
            assert more["n"] > readings[-1]["n"]
            await ws.send(json.dumps({"cmd": "interval", "ms": 1}))
            reply = await next_reply(ws, readings)
            assert reply["ok"] is False and "10 ms" in reply["error"]
            await ws.send("not json")
            assert (await next_reply(ws, readings))["ok"] is False


# ---- auth.py ---------------------------------------------------------------------------------


async def test_auth_rejects_without_a_valid_token_and_accepts_with_one():
    async with serving(auth.make_app({"t0ken-alice": "alice", "t0ken-bob": "bob"})) as port:
        url = "ws://127.0.0.1:%d/private" % port
        for bad in (url, url + "?token=wrong", url + "?token=t0ken-alic", url + "?token=t0ken-alicee"):
            with support.raises(InvalidStatus) as caught:
                await connect(bad).open()
            assert caught.value.status == 401
            assert caught.value.headers.get("WWW-Authenticate") == "Bearer"
        with support.raises(InvalidStatus):
            await connect(url, headers={"Authorization": "Bearer nope"}).open()
        async with connect(url, headers={"Authorization": "Bearer t0ken-alice"}) as ws:
            assert await ws.receive() == "hello alice"
            await ws.send("hi")
            assert await ws.receive() == "alice said: hi"
        async with connect(url + "?token=t0ken-bob") as ws:
            assert await ws.receive() == "hello bob"


def test_auth_compare():
    assert auth.same("abc", "abc")
    assert not auth.same("abc", "abd")
    assert not auth.same("abc", "ab")
    assert not auth.same("", "a")


# ---- client.py and reconnect_client.py against examples/echo.py --------------------------------


async def test_client_gets_its_messages_back():
    async with serving(echo.make_app()) as port:
        replies = await client.run("ws://127.0.0.1:%d/echo" % port)
        assert replies == client.MESSAGES
        assert await client.run("ws://127.0.0.1:%d/echo" % port, ["one", "two"]) == ["one", "two"]


async def test_reconnect_client_backs_off_and_comes_back():
    port = support.free_port()
    url = "ws://127.0.0.1:%d/echo" % port
    delays = []
    connected = []
    stop = asyncio.Event()

    class Recording(reconnect_client.Backoff):
        def next(self):
            delay = super().next()
            delays.append(delay)
            return delay

    async def session(ws):
        await ws.send("hi")
        connected.append(await ws.receive())
        async for _ in ws:
            pass

    backoff = Recording(initial=0.05, maximum=0.4, factor=2.0, jitter=0)
    task = asyncio.create_task(reconnect_client.stay_connected(url, session, backoff, stop))
    try:
        # No server yet: the delays double up to the maximum.
        await support.wait_until(lambda: len(delays) >= 5, 10)
        assert delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]
        for round_number in (1, 2):
            app = echo.make_app()
            await app.start(host="127.0.0.1", port=port)
            await support.wait_until(lambda: len(connected) == round_number, 10)
            failures = len(delays)
            await app.shutdown()  # the client sees 1001 and starts over from the initial delay
            await support.wait_until(lambda: len(delays) > failures, 10)
            assert delays[failures] == 0.05
        assert connected == ["hi", "hi"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
