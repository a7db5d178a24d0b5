"""examples/echo.py's application plus GET /heap (gc.mem_alloc() after gc.collect()).

The MicroPython echo server cannot report its own heap, so the idle-connection workloads run
this variant: the same ``make_app`` from examples/echo.py (on MICROPYPATH), one extra route.

    MICROPYPATH=packages/ws-core/src:packages/ws-micropython/src:examples:.frozen \\
        micropython -X heapsize=64M bench/servers/wsio_heap.py --port P --max-size BYTES
"""

import argparse
import gc

from echo import make_app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--max-size", type=int, default=1 << 20)
    args = parser.parse_args()
    app = make_app(args.max_size)

    @app.route("/heap")
    async def heap(request):
        if not hasattr(gc, "mem_alloc"):
            return "no gc.mem_alloc on this interpreter", 404
        gc.collect()
        return str(gc.mem_alloc())

    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
