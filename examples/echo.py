"""Echo server: a page at / that talks to the WebSocket endpoint /echo.

    python examples/echo.py --port 5000          (CPython, with ws-cpython installed)
    micropython examples/echo.py --port 5000     (MicroPython, with ws-micropython installed)

Then open http://127.0.0.1:5000/ in a browser.
"""

import argparse

from wsio import App, with_websocket

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsio echo</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:50em}#log{white-space:pre-wrap;
background:#f4f4f4;padding:1em;border-radius:6px}.ok{color:#07601d}.bad{color:#a00}</style></head>
<body><h1>wsio echo</h1>
<p>Status: <b id="status">connecting</b></p>
<p><input id="text" value="héllo wörld ✓ 🚀" size="40"> <button id="send">Send text</button></p>
<div id="log"></div>
<script>
const log = (cls, text) => { const d = document.createElement('div'); d.className = cls;
  d.textContent = text; document.getElementById('log').appendChild(d); };
const results = {};
window.wsResults = results;
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/echo');
ws.binaryType = 'arraybuffer';
const expected = [];
ws.onopen = () => {
  document.getElementById('status').textContent = 'open';
  const text = 'héllo wörld ✓ 🚀';
  const small = new Uint8Array([0, 1, 2, 253, 254, 255]);
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 255;
  expected.push(['text', text], ['binary', small], ['binary 1 MiB', big]);
  ws.send(text); ws.send(small); ws.send(big);
};
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
ws.onmessage = (event) => {
  const next = expected.shift();
  if (!next) { log('ok', 'reply: ' + event.data); return; }
  const [name, sent] = next;
  const got = typeof event.data === 'string' ? event.data : new Uint8Array(event.data);
  const ok = typeof sent === 'string' ? got === sent : same(got, sent);
  results[name] = ok;
  log(ok ? 'ok' : 'bad', (ok ? '✔ ' : '✘ ') + name + ' echoed' + (typeof got === 'string' ? ': ' + got : ' (' + got.length + ' bytes)'));
  if (!expected.length) { document.getElementById('status').textContent = 'all echoed'; results.done = true; }
};
ws.onclose = (event) => { document.getElementById('status').textContent = 'closed ' + event.code; };
document.getElementById('send').onclick = () => ws.send(document.getElementById('text').value);
</script></body></html>
"""


def make_app(max_size=1 << 20):
    """The echo application: ``/`` serves the page, ``/echo`` echoes every message."""
    app = App(max_size=max_size)

    @app.route("/")
    async def index(request):
        return PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.route("/echo")
    @with_websocket
    async def echo(request, ws):
        while True:
            message = await ws.receive()
            await ws.send(message)

    return app


def main():
    parser = argparse.ArgumentParser(description="wsio echo server")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0, every interface, as a board needs)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--max-size", type=int, default=1 << 20, help="largest message in bytes (default 1 MiB)")
    args = parser.parse_args()
    make_app(args.max_size).run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
