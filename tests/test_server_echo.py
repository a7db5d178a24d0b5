"""Echo over loopback with the library's own client: text stays str, binary stays bytes."""

from wsio import connect

from wire import echo_app, serving


async def test_echo_text():
    async with serving(echo_app()) as port:
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            for text in ("hello", "", "h\u00e9llo w\u00f6rld \u2713 \U0001f680", "x" * 70000):
                await ws.send(text)
                reply = await ws.receive()
                assert isinstance(reply, str)
                assert reply == text


async def test_echo_binary():
    async with serving(echo_app()) as port:
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            for data in (b"\x00\x01\xfe\xff", b"", bytes(range(256)) * 300):
                await ws.send(data)
                reply = await ws.receive()
                assert isinstance(reply, bytes)
                assert reply == data
            await ws.send(bytearray(b"ba"))  # bytes-like counts as binary
            assert await ws.receive() == b"ba"


async def test_echo_one_mebibyte_both_ways():
    async with serving(echo_app()) as port:
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            data = bytes(range(256)) * 4096  # 1 MiB, the default max_size
            await ws.send(data)
            reply = await ws.receive()
            assert len(reply) == len(data)
            assert reply == data


async def test_echo_keeps_order_of_many_messages():
    async with serving(echo_app()) as port:
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            for i in range(100):
                await ws.send("m%d" % i if i % 2 else b"b%d" % i)
            for i in range(100):
                assert await ws.receive() == ("m%d" % i if i % 2 else b"b%d" % i)


async def test_fragmented_messages_are_reassembled():
    async with serving(echo_app(fragment_size=1000)) as port:
        async with connect("ws://127.0.0.1:%d/echo" % port, fragment_size=777) as ws:
            text = "\u00e9" * 5000  # 10000 bytes of UTF-8, split inside characters
            await ws.send(text)
            assert await ws.receive() == text


async def test_several_clients_at_once():
    async with serving(echo_app()) as port:
        clients = []
        for _ in range(5):  # a loop: MicroPython has no await inside a comprehension
            clients.append(await connect("ws://127.0.0.1:%d/echo" % port).open())
        try:
            for i, ws in enumerate(clients):
                await ws.send("client %d" % i)
            for i, ws in enumerate(clients):
                assert await ws.receive() == "client %d" % i
        finally:
            for ws in clients:
                await ws.close()
        assert all(ws.close_code == 1000 for ws in clients)
