"""An authenticated WebSocket endpoint: the token is checked before the upgrade; 401 without it.

    python examples/auth.py --port 5000 --token s3cret          (CPython)
    micropython examples/auth.py --port 5000 --token s3cret     (MicroPython)

Connect with the header ``Authorization: Bearer s3cret``, or, from a browser (which cannot set
headers on a WebSocket), with ws://127.0.0.1:5000/private?token=s3cret. Anything else gets
``401 Unauthorized`` and no WebSocket. Use wss:// (TLS) for anything real: the token is a secret.
"""

import argparse
import os

from wsio import App, websocket_upgrade


def same(a, b):
    """Compare two strings in time that does not depend on where they differ."""
    a, b = a.encode(), b.encode()
    diff = len(a) ^ len(b)
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def user_for(request, tokens):
    """The user whose token the request carries, or None."""
    header = request.headers.get("Authorization") or ""
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("token")
    user = None
    for known, name in tokens.items():  # look at every token: no early exit to time
        if token and same(token, known):
            user = name
    return user


def make_app(tokens):
    """``tokens`` maps each accepted token to its user's name."""
    app = App()

    @app.route("/private")
    async def private(request):
        user = user_for(request, tokens)
        if user is None:
            return "a valid token is needed\n", 401, {"WWW-Authenticate": "Bearer"}
        ws = await websocket_upgrade(request)
        await ws.send("hello %s" % user)
        async for message in ws:
            await ws.send("%s said: %s" % (user, message))

    return app


def main():
    parser = argparse.ArgumentParser(description="token-protected WebSocket endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--token", default=os.getenv("WSIO_TOKEN") or "s3cret", help="the token to accept (or $WSIO_TOKEN)")
    args = parser.parse_args()
    make_app({args.token: "admin"}).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
