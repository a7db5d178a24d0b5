# micropython: skip drives a second interpreter as a subprocess from CPython (both directions are tested here)
"""A MicroPython server with a CPython client, and a MicroPython client with a CPython server.

The same example files run on both sides: examples/echo.py as the server, examples/client.py
as the client.
"""

import asyncio
import os
import subprocess
import sys

import support
from cpython_support import ROOT, MicroPythonProcess, find_micropython, micropython_env

sys.path.insert(0, os.path.join(ROOT, "examples"))
import echo  # noqa: E402

from wsio import ConnectionClosedOK, connect  # noqa: E402

MP_PATH = [os.path.join(ROOT, "packages", "ws-core", "src"), os.path.join(ROOT, "packages", "ws-micropython", "src")]


async def test_cpython_client_talks_to_micropython_server():
    port = support.free_port()
    cmd = [find_micropython(), "-X", "heapsize=8M", os.path.join(ROOT, "examples", "echo.py"), "--port", str(port)]
    with MicroPythonProcess(cmd, env=micropython_env(*MP_PATH)) as mp:
        mp.wait_for_port(port)
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            await ws.send("héllo ✓")
            assert await ws.receive() == "héllo ✓"
            payload = bytes(range(256)) * 1024  # 256 KiB, several frames' worth of reads
            await ws.send(payload)
            assert await ws.receive() == payload
            await ws.close(1000, "bye")
        assert ws.close_code == 1000
        with support.raises(ConnectionClosedOK):
            await ws.receive()
        assert mp.alive(), mp.output


async def test_micropython_client_talks_to_cpython_server():
    port = support.free_port()
    app = echo.make_app()
    await app.start(host="127.0.0.1", port=port)
    try:
        cmd = [find_micropython(), os.path.join(ROOT, "examples", "client.py"), "--url", "ws://127.0.0.1:%d/echo" % port, "one", "dwa ✓"]
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=micropython_env(*MP_PATH), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
        text = output.decode("utf-8")
        assert proc.returncode == 0, text
        assert "sent: one | got: one" in text, text
        assert "sent: dwa ✓ | got: dwa ✓" in text, text
    finally:
        await app.shutdown()


async def test_ctrl_c_under_app_run_closes_clients_with_1001_on_both_interpreters():
    # App.run's promise: Ctrl-C is a graceful shutdown. On MicroPython the interrupt comes out
    # of the scheduler rather than the application's task, so run() must shut down after it.
    import signal

    from wsio import ConnectionClosed

    cpython_env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "packages", "ws-core", "src"), os.path.join(ROOT, "packages", "ws-cpython", "src")]))
    for name, interpreter, env in (("micropython", find_micropython(), micropython_env(*MP_PATH)), ("cpython", sys.executable, cpython_env)):
        port = support.free_port()
        cmd = [interpreter, os.path.join(ROOT, "examples", "echo.py"), "--host", "127.0.0.1", "--port", str(port)]
        with MicroPythonProcess(cmd, env=env) as server:
            server.wait_for_port(port)
            async with connect("ws://127.0.0.1:%d/echo" % port, ping_interval=None) as ws:
                await ws.send("before")
                assert await ws.receive() == "before"
                server.proc.send_signal(signal.SIGINT)
                with support.raises(ConnectionClosed) as caught:
                    await asyncio.wait_for(ws.receive(), 10)
                assert (caught.value.code, caught.value.reason) == (1001, "server shutting down"), (name, caught.value.code, server.output)
            # Within shutdown's own timeout (5 s), which CPython 3.10 waits out: its asyncio.run
            # cancels every task before run()'s shutdown starts, so nothing reports it quiet.
            await support.wait_until(lambda: not server.alive(), timeout=15)
            assert server.proc.returncode == 0, (name, server.output)
