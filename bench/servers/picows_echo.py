"""picows echo server (frame level, as picows is): max frame 16 MiB, no compression in picows.

    python bench/servers/picows_echo.py --port P

The load generator sends each message as one frame, so echoing frames echoes messages.
"""

from picows import WSListener, WSMsgType, ws_create_server

from _serve import run  # bench/servers/_serve.py (this script's folder is on sys.path)

MAX_SIZE = 16 * 1024 * 1024


class Echo(WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


async def main(host, port):
    server = await ws_create_server(lambda request: Echo(), host, port, max_frame_size=MAX_SIZE, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main)
