"""Checks of tests/support.py and of the runners themselves, on both interpreters."""

import asyncio

import support


def test_on_micropython_matches_implementation():
    import sys

    assert support.ON_MICROPYTHON == (sys.implementation.name == "micropython")


def test_raises_catches_and_keeps_exception():
    with support.raises(ValueError) as caught:
        raise ValueError("bad opcode", 3)
    assert isinstance(caught.value, ValueError)
    assert caught.value.args == ("bad opcode", 3)


def test_raises_accepts_subclass_and_tuple():
    with support.raises(Exception):
        raise KeyError("k")
    with support.raises((KeyError, IndexError)) as caught:
        [][1]
    assert isinstance(caught.value, IndexError)


def test_raises_fails_when_nothing_raised():
    failed = False
    try:
        with support.raises(ValueError):
            pass
    except AssertionError:
        failed = True
    assert failed


def test_raises_lets_other_exceptions_through():
    with support.raises(KeyError):
        with support.raises(ValueError):
            raise KeyError("not a ValueError")


def test_raises_contains_checks_message():
    with support.raises(ValueError, contains="opcode"):
        raise ValueError("reserved opcode 3")
    with support.raises(AssertionError):
        with support.raises(ValueError, contains="opcode"):
            raise ValueError("something else")


def test_skip_if_marks_what_each_runner_looks_for():
    # Checked on the marker itself, so that no test here has to be skipped to prove it.
    def probe():
        raise AssertionError("a skipped test ran")

    marked = support.skip_if(True, "the reason")(probe)
    if support.ON_MICROPYTHON:
        assert getattr(marked, support.SKIP_ATTRIBUTE) == "the reason"
        with support.raises(support.SkipTest, contains="the reason"):
            marked()
        assert support.skip_if(False, "unused")(probe) is probe
    else:
        marks = [m for m in marked.pytestmark if m.name == "skipif"]
        assert marks[0].args == (True,) and marks[0].kwargs["reason"] == "the reason"


def test_skip_inside_a_test_raises_the_runners_skip():
    if support.ON_MICROPYTHON:
        expected = support.SkipTest
    else:
        import pytest

        expected = pytest.skip.Exception
    with support.raises(expected, contains="the reason"):
        support.skip("the reason")


def test_monotonic_advances():
    start = support.monotonic()
    total = 0
    for i in range(20000):
        total += i
    assert support.monotonic() >= start


async def test_async_test_runs_in_a_loop():
    done = asyncio.Event()

    async def worker():
        await asyncio.sleep(0)
        done.set()

    task = asyncio.create_task(worker())
    await asyncio.wait_for(done.wait(), 5)
    await task
    assert done.is_set()


async def test_wait_until_returns_when_condition_holds():
    state = {"n": 0}

    async def bump():
        for _ in range(3):
            await asyncio.sleep(0.01)
            state["n"] += 1

    task = asyncio.create_task(bump())
    assert await support.wait_until(lambda: state["n"] == 3, timeout=5)
    await task


async def test_wait_until_times_out():
    start = support.monotonic()
    with support.raises(AssertionError, contains="not met"):
        await support.wait_until(lambda: False, timeout=0.05)
    assert support.monotonic() - start < 5


async def test_asyncio_timeout_error_is_catchable():
    async def forever():
        await asyncio.Event().wait()

    with support.raises(asyncio.TimeoutError):
        await asyncio.wait_for(forever(), 0.01)


async def test_free_port_can_be_listened_on():
    port = support.free_port()
    assert 0 < port < 65536

    async def handle(reader, writer):
        writer.write(b"pong")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(4), 5) == b"pong"
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
