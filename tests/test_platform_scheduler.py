"""MicroPython's scheduler, as the server leaves it: one poll for a round of ready sockets, and
no task starves the sockets of their turn."""

import asyncio

import support

MICROPYTHON_SCHEDULER = "MicroPython's scheduler (CPython's loop polls once per round of ready callbacks by itself)"


class _CountingPoller:
    """A ``select.poll`` that counts the polls that did not wait (``ipoll(0)``)."""

    def __init__(self, poller):
        self.poller = poller
        self.polls = 0

    def register(self, *args):
        return self.poller.register(*args)

    def modify(self, *args):
        return self.poller.modify(*args)

    def unregister(self, *args):
        return self.poller.unregister(*args)

    def ipoll(self, timeout=-1):
        if timeout == 0:
            self.polls += 1
        return self.poller.ipoll(timeout)


async def _stream_pairs(count):
    """The server, and ``count`` connected (client writer, server reader) stream pairs."""
    accepted = []

    async def on_connection(reader, writer):
        accepted.append(reader)

    port = support.free_port()
    server = await asyncio.start_server(on_connection, "127.0.0.1", port)
    clients = []
    for _ in range(count):
        clients.append((await asyncio.open_connection("127.0.0.1", port))[1])
    await support.wait_until(lambda: len(accepted) == count)
    return server, list(zip(clients, accepted))


async def _close(server, pairs, fds_before):
    for writer, reader in pairs:
        for stream in (writer, reader):
            stream.close()
            await stream.wait_closed()  # (where MicroPython's stream closes its socket)
    server.close()
    await server.wait_closed()
    await support.settle_fds(fds_before, "a socket of the test was left open")


def _install():
    """The server's scheduler change on this test's event loop, polls counted."""
    from asyncio import core  # type: ignore[attr-defined]

    from wsio import _micropython

    io = core._io_queue
    counting = _CountingPoller(io.poller)
    io.poller = counting
    _micropython._poll_once_per_round(io)
    return counting


@support.skip_if(not support.ON_MICROPYTHON, MICROPYTHON_SCHEDULER)
async def test_the_tasks_of_sockets_found_ready_together_run_without_polling_again():
    counting = _install()
    fds_before = support.open_fds()
    server, pairs = await _stream_pairs(8)
    try:
        got = []
        polls_when_read = []
        all_read = asyncio.Event()

        async def read_one(reader):
            got.append(await reader.read(1))
            polls_when_read.append(counting.polls)
            if len(got) == len(pairs):
                all_read.set()

        for _, reader in pairs:
            asyncio.create_task(read_one(reader))
        await asyncio.sleep(0)  # each reader waits for its socket now; no other task is queued
        for writer, _ in pairs:
            writer.write(b"x")  # a plain socket write: the eight sockets are readable at once
        await all_read.wait()  # (the runner's timeout bounds it)
        assert got == [b"x"] * 8
        # One poll found the eight sockets ready, and their tasks ran one after the other with
        # no poll between them; asyncio's own scheduler polls before each of the seven after
        # the first.
        assert polls_when_read[-1] == polls_when_read[0], polls_when_read
    finally:
        await _close(server, pairs, fds_before)


@support.skip_if(not support.ON_MICROPYTHON, MICROPYTHON_SCHEDULER)
async def test_a_task_that_never_waits_does_not_keep_a_ready_socket_waiting():
    _install()
    fds_before = support.open_fds()
    server, pairs = await _stream_pairs(1)
    writer, reader = pairs[0]
    spins = [0]

    async def spin():
        while True:
            spins[0] += 1
            await asyncio.sleep(0)

    spinner = asyncio.create_task(spin())
    try:
        reading = asyncio.create_task(reader.read(1))
        await asyncio.sleep(0)
        writer.write(b"x")
        before = spins[0]
        assert await asyncio.wait_for(reading, 5) == b"x"
        assert spins[0] - before <= 3, spins[0] - before
    finally:
        spinner.cancel()
        await _close(server, pairs, fds_before)
