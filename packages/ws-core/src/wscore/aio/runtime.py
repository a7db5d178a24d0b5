"""The seam between the shared asyncio layer and the interpreter it runs on.

A platform package (ws-cpython or ws-micropython) calls ``use(impl)`` once at import with an
object that provides what differs between CPython's and MicroPython's asyncio:

- ``monotonic()``: seconds as a float;
- ``Event``: the class of the event ``receive()`` waits on, with ``asyncio.Event``'s methods
  (CPython's keeps its waiters in a list: every idle connection has one);
- ``async wait_for(awaitable, timeout)``: ``asyncio.wait_for``, or something cheaper with the
  same meaning (CPython 3.11+ runs it in the caller's task, with no task of its own);
- ``async read(reader)``: the next bytes-like chunk, empty at end of stream; the chunk is only
  valid until the next call (MicroPython reuses one buffer);
- ``write_now(writer, buffers)``: write the buffers in order; None when the socket took them
  at once, else an awaitable that finishes the job (``write`` below awaits it);
- ``async close(writer, flush_timeout=5.0)``: close the stream, ignoring errors (bytes still
  buffered get ``flush_timeout`` seconds to go out where the platform buffers them);
- ``peer_address(writer)``: ``(host, port)`` of the peer;
- ``async open_connection(host, port, ssl, server_hostname)`` and
  ``async start_server(callback, host, port, ssl, backlog, handshake_timeout)``;
- ``client_ssl_context()``: a context that verifies certificates and host names;
- ``log_exception(message, exc)`` and ``log(message)``;
- optionally ``connection_limit()``: the number of connections a server may hold when the
  application set no ``max_connections`` (MicroPython: what its heap can take);
- optionally ``reserve(n, tables)``: make room now in ``tables`` (sets) and in the platform's
  own bookkeeping for ``n`` sockets held at once (MicroPython: while the heap is in one piece);
- ``feed(ws, initial, on_closed)``: hand ``initial`` and then every chunk the peer sends to
  ``ws._received(data)`` (``b''`` at end of stream) from the platform's own callbacks, write the
  replies the core queues, pause while ``ws._reading_waits_for()`` gives something to wait for,
  and call ``on_closed()`` once the core is CLOSED. Returns an object with ``stop()`` (stop
  reading and report CLOSED, once), ``async until_eof()`` (the peer's TCP stream ended) and
  ``wait_message()``, what ``receive()`` awaits with nothing queued: ``ws._next_wakeup()``, or
  on MicroPython reading the socket in the receiving task itself (one task switch per message).
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: annotations are never evaluated there
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from typing import Any

impl: "Any" = None


async def write(writer, buffers):
    """Write ``buffers`` in order and wait until the platform drained them."""
    pending = impl.write_now(writer, buffers)
    if pending is not None:
        await pending


async def read_head(reader, head_reader):
    """Feed ``head_reader`` (an ``http.HeadReader``) from ``reader`` until the head is complete:
    True; False if the stream ended first. Raises what ``feed`` raises (414, 431)."""
    while True:
        data = await impl.read(reader)
        if not data:
            return False
        if head_reader.feed(data):
            return True


def use(platform_impl):
    """Install the platform implementation; the platform package does this at import."""
    global impl
    impl = platform_impl
