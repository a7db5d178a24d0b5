"""wsio on MicroPython: the WebSocket server and client of ws-core, over MicroPython's asyncio."""

from wscore.aio import runtime as _runtime
from wsio import _micropython

_runtime.use(_micropython)

from wscore.aio import *  # noqa: E402,F401,F403
