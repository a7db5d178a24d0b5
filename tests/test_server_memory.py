"""A heap with no room left (a board's, under a flood): the server drops what it cannot hold,
never itself, and lets nothing leak.

MicroPython raises ``MemoryError`` wherever an allocation fails, and on a small heap a flood of
clients makes that happen in the server's own machinery. These tests make it fail there on
purpose, once, and check that the server goes on.
"""

import asyncio

import support
from wire import OP_TEXT, client_frame, close_writer, echo_app, read_frame, read_until_eof, serving, upgrade

MICROPYTHON_LISTENER = "MicroPython's own listener (CPython's asyncio server outlives a failing connection callback by itself)"


async def _echoes(port, text=b"still serving"):
    reader, writer = await upgrade(port)
    try:
        writer.write(client_frame(OP_TEXT, text))
        return await read_frame(reader) == (OP_TEXT, text)
    finally:
        await close_writer(writer)


@support.skip_if(not support.ON_MICROPYTHON, MICROPYTHON_LISTENER)
async def test_a_connection_the_heap_has_no_room_for_is_closed_and_the_next_one_is_served():
    app = echo_app()
    serve = app._serve_connection
    failed = []

    def out_of_memory_once(reader, writer):
        if not failed:
            failed.append(True)
            raise MemoryError("no room for the connection's task")
        return serve(reader, writer)

    app._serve_connection = out_of_memory_once  # what start() hands to the listener
    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await read_until_eof(reader) == b""  # closed at once, not left hanging
        finally:
            await close_writer(writer)
        assert failed
        assert await _echoes(port)
