"""examples/echo.py's application plus GET /stats (bench/soak.py) and GET /heap (bench/run.py).

/stats answers JSON with what the server holds right now, after a garbage collection:
``tasks`` (``len(asyncio.all_tasks())``, CPython only), ``heap`` (``gc.mem_alloc()``,
MicroPython only), and the App's own ``connections``, ``handlers`` and ``websockets`` counts.
The request for /stats is itself one connection and one handler: they are subtracted.
/heap answers ``gc.mem_alloc()`` after a collection as a plain number (MicroPython only), the
same route microdot's bench server has, for the idle workloads.

    PYTHONPATH=packages/ws-core/src:packages/ws-cpython/src:examples python bench/servers/wsio_stats.py --port P
    MICROPYPATH=packages/ws-core/src:packages/ws-micropython/src:examples:.frozen \\
        micropython bench/servers/wsio_stats.py --port P
"""

import argparse
import asyncio
import gc

from _heap import heap_reply
from echo import make_app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--max-size", type=int, default=1 << 20)
    args = parser.parse_args()
    app = make_app(args.max_size)

    @app.route("/stats")
    async def stats(request):
        gc.collect()
        all_tasks = getattr(asyncio, "all_tasks", None)
        return {
            "tasks": len(all_tasks()) if all_tasks else None,
            "heap": gc.mem_alloc() if hasattr(gc, "mem_alloc") else None,
            "connections": len(app._connections) - 1,
            "handlers": len(app._handlers) - 1,
            "websockets": len(app._websockets),
        }

    @app.route("/heap")
    async def heap(request):
        return heap_reply()

    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
