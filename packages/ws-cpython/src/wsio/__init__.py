"""wsio on CPython: the WebSocket server and client of ws-core, over asyncio streams."""

from wscore.aio import runtime as _runtime
from wsio import _cpython

_runtime.use(_cpython)

from wscore.aio import *  # noqa: E402,F401,F403
