"""A device that pushes sensor readings every N ms and takes commands on the same WebSocket.

    python examples/sensor.py --port 5000 --interval 500          (CPython)
    micropython examples/sensor.py --port 5000 --interval 500     (MicroPython, e.g. on a board)

Connect to ws://127.0.0.1:5000/readings: a JSON reading {"n": 1, "ms": ..., "value": ...}
arrives every interval. Send commands as JSON: {"cmd": "interval", "ms": 200},
{"cmd": "pause"}, {"cmd": "resume"}, {"cmd": "read"} (one reading now); each gets
{"ok": true, ...} or {"ok": false, "error": ...}.
"""

import argparse
import asyncio
import json
import random
import time

from wsio import App, ConnectionClosed, with_websocket

try:
    ticks_ms = time.ticks_ms  # type: ignore[attr-defined]  # MicroPython
except AttributeError:

    def ticks_ms():
        return int(time.monotonic() * 1000)


def read_sensor():
    """Stand-in for the hardware (on a board: machine.ADC(pin).read_u16(), a DHT22, ...)."""
    return round(20 + random.getrandbits(10) / 256, 2)


class Device:
    """One client's view of the sensor: how often readings go out, and whether they are paused."""

    def __init__(self, ws, interval_ms):
        self.ws = ws
        self.interval_ms = interval_ms
        self.paused = False
        self.count = 0
        self.wake = asyncio.Event()  # the interval changed or readings resumed: do not wait it out

    async def send_reading(self):
        self.count += 1
        await self.ws.send(json.dumps({"n": self.count, "ms": ticks_ms(), "value": read_sensor()}))

    async def push(self):
        """Send a reading every interval until cancelled or the client is gone."""
        try:
            while True:
                if not self.paused:
                    await self.send_reading()
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.interval_ms / 1000)
                except asyncio.TimeoutError:
                    pass
        except ConnectionClosed:
            pass

    async def command(self, text):
        try:
            command = json.loads(text)
            name = command["cmd"]
            if name == "interval":
                ms = int(command["ms"])
                if ms < 10:
                    raise ValueError("interval below 10 ms")
                self.interval_ms = ms
            elif name == "pause":
                self.paused = True
            elif name == "resume":
                self.paused = False
            elif name == "read":
                await self.send_reading()
            else:
                raise ValueError("unknown command %r" % name)
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": str(exc)}
        self.wake.set()
        return {"ok": True, "cmd": name, "interval_ms": self.interval_ms, "paused": self.paused}


def make_app(interval_ms=1000):
    app = App()

    @app.route("/readings")
    @with_websocket
    async def readings(request, ws):
        device = Device(ws, interval_ms)
        pusher = asyncio.create_task(device.push())
        try:
            async for text in ws:
                await ws.send(json.dumps(await device.command(text)))
        finally:
            pusher.cancel()

    return app


def main():
    parser = argparse.ArgumentParser(description="a sensor pushing readings over WebSocket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--interval", type=int, default=1000, help="ms between readings (default 1000)")
    args = parser.parse_args()
    make_app(args.interval).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
