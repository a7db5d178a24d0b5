"""examples/echo.py's application plus GET /stats, for bench/soak.py (both interpreters).

/stats answers JSON with what the server holds right now, after a garbage collection:
``tasks`` (``len(asyncio.all_tasks())``, CPython only), ``heap`` (``gc.mem_alloc()``,
MicroPython only), and the App's own ``connections``, ``handlers`` and ``websockets`` counts.
The request for /stats is itself one connection and one handler: they are subtracted.

    PYTHONPATH=packages/ws-core/src:packages/ws-cpython/src:examples python bench/servers/wsio_soak.py --port P
    MICROPYPATH=packages/ws-core/src:packages/ws-micropython/src:examples:.frozen \\
        micropython bench/servers/wsio_soak.py --port P
"""

import argparse
import asyncio
import gc

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

    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
