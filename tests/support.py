"""Helpers for the shared test suite.

This module runs on both interpreters: under pytest on CPython and under tests/mprun.py on
MicroPython. It therefore uses only the MicroPython subset: no typing, functools, contextlib or
inspect, and pytest is imported lazily (only ever on CPython).

CPython-only helpers (subprocesses, peers) belong in tests/cpython_support.py.
"""

import sys

import asyncio

ON_MICROPYTHON = sys.implementation.name == "micropython"

# Attribute that tests/mprun.py looks for on a test object to count it as skipped.
SKIP_ATTRIBUTE = "_mp_skip_reason"


class SkipTest(Exception):
    """Raised by skip() on MicroPython; mprun counts the test as skipped with str(exc)."""


def _name_of(exc_type):
    if isinstance(exc_type, tuple):
        return " or ".join(_name_of(t) for t in exc_type)
    return getattr(exc_type, "__name__", repr(exc_type))


class raises:
    """Context manager: the block must raise exc_type (a class or a tuple of classes).

        with support.raises(ValueError, contains="opcode") as caught:
            parse(b"...")
        assert caught.value.args[0] == ...

    `contains` is an optional substring of str(exception) (a plain substring, not a regex).
    Any other exception propagates unchanged; no exception fails with AssertionError.
    """

    def __init__(self, exc_type, contains=None):
        self.exc_type = exc_type
        self.contains = contains
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("expected " + _name_of(self.exc_type) + " to be raised, nothing was")
        if exc is None:  # defensive: some interpreters pass only the type
            exc = exc_type()
        if not isinstance(exc, self.exc_type):
            return False  # not ours: let it propagate
        self.value = exc
        if self.contains is not None and self.contains not in str(exc):
            raise AssertionError(
                "%s raised, but %r is not in its message %r" % (_name_of(exc_type), self.contains, str(exc))
            )
        return True


class _Skipped:
    """MicroPython stand-in for a skipped test function (functions there take no attributes)."""

    def __init__(self, fn, reason):
        self.fn = fn
        setattr(self, SKIP_ATTRIBUTE, reason)

    def __call__(self, *args, **kwargs):
        raise SkipTest(getattr(self, SKIP_ATTRIBUTE))


def skip_if(condition, reason):
    """Decorator: skip the test when `condition` is true, on either interpreter.

    On CPython this is pytest.mark.skipif (a real pytest skip); on MicroPython the function is
    wrapped so that mprun reports `SKIP file::name (reason)`.
    """

    def decorate(fn):
        if ON_MICROPYTHON:
            return _Skipped(fn, reason) if condition else fn
        try:
            import pytest
        except ImportError:  # imported outside pytest (a script, a REPL): leave it runnable
            return fn
        return pytest.mark.skipif(bool(condition), reason=reason)(fn)

    return decorate


def skip_on_micropython(reason):
    """Decorator: skip on MicroPython. Name the missing interpreter feature in `reason`."""
    return skip_if(ON_MICROPYTHON, reason)


def skip(reason):
    """Skip the running test from inside its body (e.g. after probing for a feature)."""
    if ON_MICROPYTHON:
        raise SkipTest(reason)
    import pytest

    pytest.skip(reason)


# --- time -----------------------------------------------------------------------------------

if ON_MICROPYTHON:
    import time as _time

    _last_ticks = _time.ticks_ms()
    _elapsed_ms = 0

    def monotonic():
        """Seconds (float) from an arbitrary origin; never goes back.

        Built on ticks_ms/ticks_diff, which wrap: the accumulator survives the wrap as long as
        it is called at least once per half period (days on the unix port).
        """
        global _last_ticks, _elapsed_ms
        now = _time.ticks_ms()
        _elapsed_ms += _time.ticks_diff(now, _last_ticks)
        _last_ticks = now
        return _elapsed_ms / 1000

else:
    from time import monotonic  # noqa: F401  (re-exported)


async def wait_until(predicate, timeout=5.0, interval=0.005):
    """Poll `predicate()` until it returns a true value; return that value.

    Bounded polling, not a sleep used as synchronisation: it returns as soon as the condition
    holds and fails with AssertionError after `timeout` seconds.
    """
    deadline = monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if monotonic() >= deadline:
            raise AssertionError("condition not met within %s s: %r" % (timeout, predicate))
        await asyncio.sleep(interval)


# --- network --------------------------------------------------------------------------------

# Below Linux's ephemeral range (32768-60999), so that a probed port is not handed out later
# to an outgoing connection.
_PORT_LOW = 20000
_PORT_HIGH = 32000


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that nothing listens on right now.

    CPython asks the kernel (bind to port 0). MicroPython sockets have no getsockname(), so
    random ports of a high range are bind-probed, retrying on EADDRINUSE.
    """
    import socket

    if not ON_MICROPYTHON:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            return s.getsockname()[1]
        finally:
            s.close()

    import errno
    import random

    for _ in range(200):
        port = _PORT_LOW + random.getrandbits(16) % (_PORT_HIGH - _PORT_LOW)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(socket.getaddrinfo(host, port)[0][-1])
            return port
        except OSError as e:
            if e.args[0] != errno.EADDRINUSE:
                raise
        finally:
            s.close()
    raise OSError(errno.EADDRINUSE, "no free port found in %d-%d" % (_PORT_LOW, _PORT_HIGH))


def open_fds():
    """How many file descriptors this process has open, or None without ``/proc/self/fd``."""
    import os

    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


async def settle_fds(baseline, what="a connection kept its socket"):
    """Wait until no more fds are open than ``baseline`` (collecting garbage meanwhile); fail
    with ``what`` if that does not happen within 5 s. Nothing to check when ``baseline`` is None."""
    if baseline is None:
        return
    import gc

    def back():
        gc.collect()
        return open_fds() <= baseline

    try:
        await wait_until(back, timeout=5, interval=0.02)
    except AssertionError:
        raise AssertionError("%d fds open, %d before: %s" % (open_fds(), baseline, what))
