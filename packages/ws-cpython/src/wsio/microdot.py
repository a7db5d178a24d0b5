"""``wsio.microdot``: drop-in for ``microdot.websocket`` (the logic is in ``wscore.aio.microdot``)."""

from wscore.aio.microdot import *  # noqa: F401,F403
