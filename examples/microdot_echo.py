"""Microdot's own WebSocket echo example (examples/websocket/echo.py) on wsio.microdot.

Only the import changed (was: ``from microdot.websocket import with_websocket``), messages up to
32 MiB are allowed, and ``--port`` picks the port. Needs microdot 2.x installed (pip) or on
MICROPYPATH:

    python examples/microdot_echo.py --port 5000
    MICROPYPATH=DIR_WITH_MICRODOT:.frozen micropython examples/microdot_echo.py --port 5000

Then open http://127.0.0.1:5000/ or connect to ws://127.0.0.1:5000/echo.
"""

import argparse

from microdot import Microdot
from wsio.microdot import WebSocket, with_websocket

WebSocket.max_message_length = 32 * 1024 * 1024

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Microdot WebSocket Demo</title></head>
<body><h1>Microdot WebSocket Demo</h1>
<form id="form"><input id="text" autofocus> <input type="submit" value="Send"></form>
<div id="log"></div>
<script>
const log = (text) => { document.getElementById('log').innerText += text + '\\n'; };
const socket = new WebSocket('ws://' + location.host + '/echo');
socket.addEventListener('message', ev => log('<<< ' + ev.data));
document.getElementById('form').onsubmit = ev => {
  ev.preventDefault();
  const text = document.getElementById('text');
  log('>>> ' + text.value); socket.send(text.value); text.value = '';
};
</script></body></html>
"""

app = Microdot()


@app.route('/')
async def index(request):
    return PAGE, 200, {'Content-Type': 'text/html; charset=utf-8'}


@app.route('/echo')
@with_websocket
async def echo(request, ws):
    while True:
        data = await ws.receive()
        await ws.send(data)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Microdot WebSocket echo on wsio.microdot')
    parser.add_argument('--port', type=int, default=5000, help='port to listen on (default 5000)')
    app.run(port=parser.parse_args().port)
