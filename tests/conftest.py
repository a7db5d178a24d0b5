"""pytest glue for the shared suite (CPython only; MicroPython uses tests/mprun.py).

- An exception in an asyncio task that nobody awaited fails the test that created it, as
  tests/mprun.py does on MicroPython (instead of a log line after the run).
- Hypothesis keeps its example database under test-artifacts/ and has no deadline (CI machines
  are slow and shared).
"""

import asyncio
import functools
import gc
import inspect
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    from hypothesis import settings
    from hypothesis.database import DirectoryBasedExampleDatabase
except ImportError:  # pragma: no cover - hypothesis is in the test env
    pass
else:
    settings.register_profile(
        "ws",
        database=DirectoryBasedExampleDatabase(os.path.join(ROOT, "test-artifacts", "hypothesis")),
        deadline=None,
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ws"))


def _fail_on_unretrieved_task_exceptions(test):
    @functools.wraps(test)
    async def wrapper(*args, **kwargs):
        loop = asyncio.get_running_loop()
        errors = []
        previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda loop, context: errors.append(context))
        try:
            result = await test(*args, **kwargs)
            # Let tasks that just failed finish, and collect the ones nobody holds any more:
            # asyncio reports "exception was never retrieved" when a task is destroyed.
            for _ in range(3):
                await asyncio.sleep(0)
            gc.collect()
        finally:
            loop.set_exception_handler(previous)
        if errors:
            lines = []
            for context in errors:
                exc = context.get("exception")
                lines.append("%s: %r" % (context.get("message", "error in the event loop"), exc))
            pytest.fail("exception in a task nobody awaited:\n  " + "\n  ".join(lines))
        return result

    return wrapper


def pytest_collection_modifyitems(items):
    for item in items:
        test = getattr(item, "obj", None)
        if inspect.iscoroutinefunction(test):
            item.obj = _fail_on_unretrieved_task_exceptions(test)
