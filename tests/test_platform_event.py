"""The event ``receive()`` waits on (``runtime.impl.Event``): ``asyncio.Event``'s meaning on both
interpreters (CPython's keeps its waiters in a list, MicroPython's is asyncio's own)."""

import asyncio

import wsio  # noqa: F401  # installs the platform's runtime.impl
from wscore.aio import runtime

import support


async def test_set_wakes_every_waiter_and_later_waits_return_at_once():
    event = runtime.impl.Event()
    assert not event.is_set()
    woken = []

    async def waiter(name):
        assert await event.wait() is True
        woken.append(name)

    tasks = [asyncio.create_task(waiter(name)) for name in ("a", "b")]
    await asyncio.sleep(0)
    assert woken == []
    event.set()
    for task in tasks:
        await asyncio.wait_for(task, 5)
    assert sorted(woken) == ["a", "b"]
    assert event.is_set()
    assert await asyncio.wait_for(event.wait(), 5) is True  # set: returns at once


async def test_a_cancelled_waiter_leaves_the_others_waiting():
    event = runtime.impl.Event()
    first = asyncio.create_task(event.wait())
    second = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    first.cancel()
    with support.raises(asyncio.CancelledError):
        await first
    assert not second.done()
    event.set()
    assert await asyncio.wait_for(second, 5) is True


async def test_clear_makes_wait_wait_again():
    event = runtime.impl.Event()
    event.set()
    event.clear()
    assert not event.is_set()
    waiting = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    event.set()
    assert await asyncio.wait_for(waiting, 5) is True
