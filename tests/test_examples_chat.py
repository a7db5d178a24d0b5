"""examples/chat.py in-process: everyone gets every message; a client that does not read is dropped."""

import sys

import support
from wire import close_writer, serving, upgrade
from wsio import connect

sys.path.append((__file__.rpartition("/")[0] or ".") + "/../examples")

import chat  # noqa: E402


async def test_chat_broadcasts_to_everyone():
    async with serving(chat.make_app()) as port:
        url = "ws://127.0.0.1:%d/chat?name=" % port
        async with connect(url + "ann") as ann:
            assert await ann.receive() == "* ann joined (1 here)"
            async with connect(url + "bob") as bob:
                assert await bob.receive() == "* bob joined (2 here)"
                assert await ann.receive() == "* bob joined (2 here)"
                await ann.send("hi bob ✓")
                assert await ann.receive() == "ann: hi bob ✓"
                assert await bob.receive() == "ann: hi bob ✓"
            assert await ann.receive() == "* bob left"


async def test_a_client_that_does_not_read_is_dropped_without_stalling_the_others():
    app = chat.make_app(max_pending=4)
    async with serving(app) as port:
        reader, writer = await upgrade(port, "/chat?name=slow")  # and never reads
        try:
            async with connect("ws://127.0.0.1:%d/chat?name=fast" % port) as fast:
                assert await fast.receive() == "* fast joined (2 here)"
                big = "x" * 250000
                for i in range(100):  # far more than the socket buffers hold
                    await fast.send("%d %s" % (i, big))
                    assert await fast.receive() == "fast: %d %s" % (i, big)
                    if len(app.room) == 1:
                        break
                await support.wait_until(lambda: len(app.room) == 1, 10)
                assert i > 4, "dropped at once"
                # The room goes on without the slow client, whose handler ended as for any leaver.
                assert await fast.receive() == "* slow left"
                await fast.send("still here")
                assert await fast.receive() == "fast: still here"
        finally:
            await close_writer(writer)
