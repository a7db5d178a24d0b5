# micropython: skip drives Chromium from CPython; the MicroPython server is started as a subprocess by this test
"""A real browser against examples/echo.py, served by CPython and by MicroPython.

Headless Chromium (Debian's package, /usr/bin/chromium; scripts/test installs it) opens the
example's page, which sends text with non-ASCII characters, a small binary message and a 1 MiB
binary message over WebSocket and records in `window.wsResults` whether each came back intact.
The test drives Chromium through the DevTools protocol with this library's own client, waits
(bounded) for `wsResults.done`, checks every result, and saves a screenshot to
test-artifacts/browser-{cpython,micropython}.png.
"""

import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

import pytest

import support
from cpython_support import ROOT, MicroPythonProcess, find_micropython, micropython_env
from wsio import connect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
ECHO = os.path.join(ROOT, "examples", "echo.py")
TEXT = "héllo wörld ✓ 🚀"  # what the page sends as text (examples/echo.py)


def chromium_or_skip():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip("no Chromium: %s is missing (scripts/test installs Debian's chromium with apt-get as root)" % CHROMIUM)
    return CHROMIUM


def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


class DevTools:
    """A DevTools protocol session over wsio's client: ``await call(method, **params)``."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method, timeout=10, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))

        async def answer():
            while True:
                message = json.loads(await self.ws.receive())
                if message.get("id") == self.next_id:  # anything else is an event: skip it
                    return message

        message = await asyncio.wait_for(answer(), timeout)
        assert "error" not in message, "%s failed: %r" % (method, message["error"])
        return message["result"]

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")


async def check_page_in_chromium(port, screenshot_name):
    chromium = chromium_or_skip()
    debug_port = support.free_port()
    profile = tempfile.mkdtemp(prefix="wsio-chromium-")
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--user-data-dir=" + profile, "--remote-debugging-port=%d" % debug_port, "--window-size=1000,700",
        "about:blank",
    ]  # fmt: skip
    try:
        with MicroPythonProcess(cmd) as browser:  # any child process: output kept, group stopped
            browser.wait_for_port(debug_port, timeout=30)
            deadline = time.monotonic() + 20
            pages = []
            while not pages:  # the first tab appears a little after the port opens
                pages = [t for t in http_json("http://127.0.0.1:%d/json/list" % debug_port) if t.get("type") == "page"]
                if not pages:
                    assert time.monotonic() < deadline, "Chromium opened no page:\n" + browser.output
                    await asyncio.sleep(0.1)
            # Screenshots of the page are a few hundred KiB of base64 in one message.
            async with connect(pages[0]["webSocketDebuggerUrl"], max_size=64 << 20) as ws:
                devtools = DevTools(ws)
                await devtools.call("Page.enable")
                await devtools.call("Page.navigate", url="http://127.0.0.1:%d/" % port)
                results = None
                deadline = time.monotonic() + 30
                while not (results and results.get("done")):
                    assert time.monotonic() < deadline, "the page did not finish: wsResults = %r\n%s" % (results, browser.output[-3000:])
                    await asyncio.sleep(0.1)
                    value = await devtools.evaluate("JSON.stringify(window.wsResults || null)")
                    results = json.loads(value) if value else None
                log = await devtools.evaluate("document.getElementById('log').textContent")
                shot = await devtools.call("Page.captureScreenshot", format="png")
            os.makedirs(ARTIFACTS, exist_ok=True)
            with open(os.path.join(ARTIFACTS, screenshot_name), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    for name in ("text", "binary", "binary 1 MiB"):
        assert name in results, "no result for %r: %r" % (name, results)
    assert all(value is True for value in results.values()), results
    assert TEXT in log, "the non-ASCII text did not come back as sent: %r" % log


async def test_chromium_against_the_cpython_server():
    chromium_or_skip()
    port = support.free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(os.path.join(ROOT, "packages", p, "src") for p in ("ws-core", "ws-cpython")))
    with MicroPythonProcess([sys.executable, ECHO, "--port", str(port)], cwd=ROOT, env=env) as server:
        server.wait_for_port(port)
        await check_page_in_chromium(port, "browser-cpython.png")
        assert server.alive(), server.output


async def test_chromium_against_the_micropython_server():
    chromium_or_skip()
    micropython = find_micropython()
    port = support.free_port()
    env = micropython_env(*(os.path.join(ROOT, "packages", p, "src") for p in ("ws-core", "ws-micropython")))
    # The default 2 MiB heap cannot hold a 1 MiB message while it is assembled and echoed.
    cmd = [micropython, "-X", "heapsize=8M", ECHO, "--port", str(port)]
    with MicroPythonProcess(cmd, cwd=ROOT, env=env) as server:
        server.wait_for_port(port)
        await check_page_in_chromium(port, "browser-micropython.png")
        assert server.alive(), server.output
