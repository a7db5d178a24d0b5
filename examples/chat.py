"""Chat room: every message goes to everyone; a client that stops reading is dropped, not waited for.

    python examples/chat.py --port 5000          (CPython)
    micropython examples/chat.py --port 5000     (MicroPython)

Open http://127.0.0.1:5000/ in two browser tabs, or connect to ws://127.0.0.1:5000/chat?name=ann.
"""

import argparse

from wsio import App, Broadcaster, with_websocket

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsio chat</title></head>
<body><h1>wsio chat</h1><div id="log" style="white-space:pre-wrap"></div>
<form id="f"><input id="msg" autofocus size="50"> <button>Send</button></form>
<script>
const name = prompt('Your name?') || 'guest';
const ws = new WebSocket('ws://' + location.host + '/chat?name=' + encodeURIComponent(name));
ws.onmessage = (e) => { document.getElementById('log').textContent += e.data + '\\n'; };
document.getElementById('f').onsubmit = (e) => {
  e.preventDefault(); const m = document.getElementById('msg'); ws.send(m.value); m.value = ''; };
</script></body></html>
"""


def make_app(max_pending=32):
    """The chat app; ``app.room`` is the ``Broadcaster`` of everyone connected."""
    app = App()
    room = app.room = Broadcaster(max_pending)

    @app.route("/")
    async def index(request):
        return PAGE

    @app.route("/chat")
    @with_websocket
    async def chat(request, ws):
        name = request.args.get("name") or "guest"
        room.add(ws)
        room.broadcast("* %s joined (%d here)" % (name, len(room)))
        try:
            async for message in ws:
                room.broadcast("%s: %s" % (name, message))
        finally:
            room.discard(ws)
            room.broadcast("* %s left" % name)

    return app


def main():
    parser = argparse.ArgumentParser(description="wsio chat room")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    make_app().run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
