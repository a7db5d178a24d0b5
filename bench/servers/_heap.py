"""GET /heap for the MicroPython bench servers (wsio's and microdot's): one figure, one way."""

import gc


def heap_reply():
    """A route's answer: ``gc.mem_alloc()`` after a collection, or 404 where there is none."""
    if not hasattr(gc, "mem_alloc"):
        return "no gc.mem_alloc on this interpreter", 404
    gc.collect()
    return str(gc.mem_alloc())
