"""The command line every CPython asyncio bench server shares: ``--host`` and ``--port``.

    python bench/servers/NAME.py --port P [--host H]
"""

import argparse
import asyncio


def run(main):
    """Parse ``--host``/``--port`` and run ``main(host, port)`` until the process is stopped."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
