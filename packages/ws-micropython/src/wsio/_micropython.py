"""What MicroPython's asyncio does differently: one ``Stream`` class, ``readinto``, no logging.

Reads go into one buffer shared by every connection: the core copies what it keeps before the
reader yields, so the buffer is free by the time any other connection reads. That keeps an
idle connection's heap cost free of a read buffer.
"""

# Builtins used per message, bound as globals for MicroPython's sake (see wscore.protocol).
from builtins import id, len

import asyncio
import gc
import select
import socket
import sys
import time
from asyncio import core  # type: ignore[attr-defined]  # MicroPython asyncio's scheduler (not in the stubs)

from wscore.constants import CLOSED


def _read_size():
    """16 KiB on a heap of 512 KiB or more; a 32nd of the heap (at least 1 KiB) on smaller ones.

    The buffer is allocated once at import, so on a 128 KiB board a fixed 16 KiB would be an
    eighth of the heap; a smaller buffer only means more reads per large message.
    """
    size = 16 * 1024
    while size > 1024 and size * 32 > gc.mem_alloc() + gc.mem_free():
        size >>= 1
    return size


gc.collect()  # the garbage of compiling this module first: the buffer is then placed low
_READ_SIZE = _read_size()
_read_buffer = bytearray(_READ_SIZE)
_read_view = memoryview(_read_buffer)
# Writes larger than this go out in slices, so the stream never copies a big payload.
_WRITE_SLICE = 8 * 1024

_ECONNRESET = 104
_EINPROGRESS = 115
try:
    import errno

    _ECONNRESET = errno.ECONNRESET
    _EINPROGRESS = errno.EINPROGRESS
except (ImportError, AttributeError):
    pass

_last_ticks = time.ticks_ms()
_elapsed_ms = 0


wait_for = asyncio.wait_for
# What receive() waits on: MicroPython's own is small (its waiters are a queue of tasks), and
# the feed reads its ``waiting`` queue (wait_message).
Event = asyncio.Event


def monotonic():
    """Seconds since import, from ``ticks_ms`` with its wrap-around undone."""
    global _last_ticks, _elapsed_ms
    now = time.ticks_ms()
    _elapsed_ms += time.ticks_diff(now, _last_ticks)
    _last_ticks = now
    return _elapsed_ms / 1000


async def read(stream):
    """The next chunk (a view of the shared buffer); ``b''`` at end of stream or after a reset."""
    try:
        # readinto gives None when the socket was readable but had no application data for us
        # (always during a TLS handshake, where mbedTLS wants more records): wait again. Only 0
        # is the end of the stream (Stream.read loops the same way).
        n = None
        while n is None:
            n = await stream.readinto(_read_buffer)
    except OSError as exc:
        if exc.args and exc.args[0] == _ECONNRESET:
            return b""
        raise
    return _read_view[:n] if n else b""


def write_now(stream, buffers):
    """Write ``buffers`` in order; None if the socket took them, else an awaitable finishing the job.

    One small frame goes straight to the socket (what it does not take waits in ``out_buf``);
    a large payload, or several frames, go out in slices while the socket takes them, and only
    what is left waits for it, a slice at a time, so that ``out_buf`` never grows by copying.
    """
    if len(buffers) == 2 and len(buffers[1]) <= _WRITE_SLICE:
        try:
            buffers = [buffers[0] + buffers[1]]  # one segment for a header and a small payload
        except MemoryError:
            pass  # a heap with no block that size (a board): two writes need none
    if len(buffers) == 1 and len(buffers[0]) <= _WRITE_SLICE:
        buf = buffers[0]
        if not stream.out_buf:
            # What Stream.write() tries first, without its Python call (one per message).
            written = stream.s.write(buf)
            if written == len(buf):
                return None
            if written:
                buf = buf[written:]
        stream.write(buf)  # tries the socket again, and keeps in out_buf what it leaves
        # Stream.drain() always yields, even with nothing buffered: a scheduler round (a poll
        # of every socket) per message. Like CPython's drain(), wait only when something is.
        return stream.drain() if stream.out_buf else None
    return _write_in_slices(stream, buffers)


def _write_in_slices(stream, buffers):
    """A large payload, or several frames (fragment_size): out_buf grows by copying, so they go
    out a slice at a time while the socket takes them; the rest waits for it, a slice at once.

    (Apart from write_now, which then keeps its frame on the C stack: MicroPython puts a frame
    of more than 11 words on the heap, at every call.)"""
    for index in range(len(buffers)):
        buf = buffers[index]
        view = memoryview(buf)
        for start in range(0, len(buf), _WRITE_SLICE):
            stream.write(view[start : start + _WRITE_SLICE])
            if stream.out_buf:
                return _write_slices(stream, buffers, index, start + _WRITE_SLICE)
    return None


async def _write_slices(stream, buffers, index, offset):
    """Write ``buffers[index][offset:]`` and the buffers after it, in slices, waiting for the
    socket whenever it has a backlog (never more than a slice in ``out_buf``)."""
    await stream.drain()
    for buf in buffers[index:]:
        view = memoryview(buf)
        for start in range(offset, len(buf), _WRITE_SLICE):
            stream.write(view[start : start + _WRITE_SLICE])
            if stream.out_buf:
                await stream.drain()
        offset = 0


async def close(stream, flush_timeout=None):
    """Close the stream, ignoring errors (what ``out_buf`` still holds is dropped: no timeout)."""
    _wake_writer(stream.s)
    try:
        stream.close()
        await stream.wait_closed()
    except (OSError, asyncio.CancelledError):
        pass
    raw = getattr(stream, "_raw_socket", None)
    if raw is not None:
        # MicroPython's TLS socket does not close the TCP socket under it after a TLS error
        # (a plain-text client, a rejected certificate): the peer would hang and the fd leak.
        try:
            raw.close()
        except OSError:
            pass


def _wake_writer(sock):
    """Wake a task waiting to write to ``sock`` (a send stuck on a peer that does not read).

    Called before the socket's reader leaves the scheduler's I/O queue, and before the socket
    closes: asyncio's ``IOQueue.remove()`` drops a socket's whole entry, writer included, and
    the poller never reports a socket closed under it, so the writer would wait forever. Woken,
    it writes again, and waits again or gets the ``OSError`` of a closed socket."""
    io = core._io_queue
    entry = io.map.get(id(sock))
    if entry is not None and entry[1] is not None:
        writer = entry[1]
        entry[1] = None
        if entry[0] is None:
            io._dequeue(sock)
        else:
            io.poller.modify(sock, select.POLLIN)
        core._task_queue.push(writer)


def _wrap_tls(stream, context, **options):
    """Put TLS on a connected stream ourselves, keeping the TCP socket to close it in close()."""
    raw = stream.s
    stream.s = context.wrap_socket(raw, do_handshake_on_connect=False, **options)
    stream._raw_socket = raw


def peer_address(stream):
    """``(host, port)`` of the peer of a stream the server accepted (None for others)."""
    return getattr(stream, "_peer", None)


def _decode_address(sockaddr):
    """``(host, port)`` from a raw sockaddr as ``accept()`` gives it (host as text, like CPython)."""
    try:
        addr = socket.sockaddr(sockaddr)
        host = addr[1]
        if not isinstance(host, str):  # the unix port gives the packed address: b'\x7f\x00\x00\x01'
            host = socket.inet_ntop(addr[0], host)
        return (host, addr[2])
    except (AttributeError, TypeError, ValueError, IndexError, OSError):
        return None


def _no_delay(stream):
    # Without TCP_NODELAY a frame written as header then payload waits for the peer's delayed
    # ACK (40 ms). The port's socket module has no constant for it: IPPROTO_TCP 6, TCP_NODELAY 1.
    try:
        stream.s.setsockopt(6, 1, 1)
    except (AttributeError, OSError):
        pass  # a port (or a TLS socket) without the option: writes are coalesced anyway


def _writable(sock):
    """Wait until ``sock`` is writable (MicroPython's awaitables of its I/O queue are generators)."""
    yield core._io_queue.queue_write(sock)


def _unwatch(sock):
    """Take ``sock`` out of the scheduler's I/O queue, whatever state a failure left it in
    (asyncio's own ``_dequeue``, which fails on what is not there)."""
    try:
        core._io_queue._dequeue(sock)
    except (KeyError, OSError, ValueError):
        pass


def _readable(sock):
    """Wait until ``sock`` is readable (a connection waits to be accepted on a listening one)."""
    yield core._io_queue.queue_read(sock)


def _tcp_socket(host, port):
    """A non-blocking TCP socket for ``host``:``port``, and the address to connect or bind it to."""
    address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(address[0], address[1], address[2])
    sock.setblocking(False)
    return sock, address[-1]


async def _connect(host, port):
    """A connected stream. Not ``asyncio.open_connection``: cancelled while it connects
    (``open_timeout``), that leaves its socket open, one descriptor per try."""
    sock, address = _tcp_socket(host, port)
    try:
        try:
            sock.connect(address)
        except OSError as exc:
            if exc.args[0] != _EINPROGRESS:
                raise
        await _writable(sock)
    except BaseException:
        sock.close()
        raise
    return asyncio.StreamWriter(sock)


async def open_connection(host, port, ssl_context, server_hostname):
    """Open a TCP (or TLS) connection; returns ``(stream, stream)``."""
    writer = await _connect(host, port)
    reader = writer
    _no_delay(writer)
    if ssl_context is not None:
        try:
            _wrap_tls(writer, ssl_context, server_hostname=server_hostname)
        except BaseException:
            await close(writer)
            raise
    return reader, writer


async def start_server(callback, host, port, ssl_context, backlog, handshake_timeout):
    """Listen on ``host``:``port``; ``callback(stream, stream)`` serves each connection.

    The TLS handshake happens as the request is read, within ``handshake_timeout`` (the App's)."""

    def serve(reader, writer):
        # Returns the coroutine to run rather than awaiting it: one frame less under every
        # connection for as long as it lives.
        _no_delay(writer)
        if ssl_context is not None:
            try:
                _wrap_tls(writer, ssl_context, server_side=True)
            except OSError:
                return close(writer)
        return callback(reader, writer)

    sock, address = _tcp_socket(host, port)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    _poll_once_per_round(core._io_queue)
    # Collect the garbage of compiling and setting up first, so that what lives as long as the
    # server is packed low and the heap keeps large free blocks: on a 256 KiB heap, without this,
    # five clients echoing 4 KiB messages hit MemoryError on fragmentation alone.
    gc.collect()
    listener = _Listener(sock, serve)
    try:
        await asyncio.sleep_ms(0)  # its task runs up to its first wait: a cancel from now on closes the socket
    except asyncio.CancelledError:
        listener.close()
        sock.close()  # (in case its task never ran, and so never reaches its finally)
        raise
    return listener


def _poll_once_per_round(io):
    """Make the scheduler poll its sockets once per round of ready tasks, as CPython's loop does.

    MicroPython's scheduler polls every socket before it runs each task. When a poll finds
    ``n`` sockets ready, their ``n`` tasks then cost ``n - 1`` polls more, each of every
    socket and each finding little new: with 50 busy connections that is about a poll per
    message, a tenth to a sixth of the server's time. Here those polls are skipped: the tasks
    a poll queued run one after the other, and the next poll comes before the task after them
    (a ready socket waits at most for that round). A poll that may wait, because nothing is
    ready to run, always happens. Installed on the scheduler's current I/O queue (a new event
    loop has another).
    """
    if getattr(io, "_wsio_rounds", False):
        return
    skip = 0

    # Two functions, so that the call made before every task, mostly a skip, keeps its frame
    # on the C stack (MicroPython puts a frame of more than 11 words on the heap).
    def wait_io_event(dt):
        nonlocal skip
        if dt == 0 and skip:
            skip -= 1
        else:
            ready = _poll(io, dt)
            # The scheduler calls with dt 0 before each of them, except the first when this
            # poll did not wait; after a poll that waited for a timer (dt > 0), before it too.
            skip = ready if dt > 0 else max(0, ready - 1)

    io.wait_io_event = wait_io_event
    io._wsio_rounds = True


def _poll(io, dt):
    """asyncio's ``IOQueue.wait_io_event`` for its [reader, writer, socket] entries; returns
    how many tasks it queued."""
    io_map = io.map
    poller = io.poller
    tasks = core._task_queue
    ready = 0
    for sock, events in poller.ipoll(dt):
        entry = io_map[id(sock)]
        if events & ~select.POLLOUT and entry[0] is not None:  # readable, or an error
            tasks.push(entry[0])
            entry[0] = None
            ready += 1
        if events & ~select.POLLIN and entry[1] is not None:  # writable, or an error
            tasks.push(entry[1])
            entry[1] = None
            ready += 1
        if entry[0] is None and entry[1] is None:
            del io_map[id(sock)]
            poller.unregister(sock)
        else:
            poller.modify(sock, select.POLLOUT if entry[0] is None else select.POLLIN)
    return ready


# How long the listener waits after the heap had no room for a connection (milliseconds).
_RETRY_MS = 50


class _Listener:
    """A listening socket and the task accepting on it: asyncio's ``start_server`` minus one flaw.

    asyncio's accepting task ends at the first ``MemoryError`` (a flood of connections filling a
    board's heap), and nothing is accepted again while the program runs on. Here a connection
    the heap has no room for is closed, and the listener waits a moment and goes on.
    """

    def __init__(self, sock, serve):
        self.task = asyncio.create_task(self._accept(sock, serve))

    def close(self):
        """Stop accepting and close the listening socket."""
        self.task.cancel()

    async def wait_closed(self):
        """Wait until the listening socket is closed."""
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def _accept(self, sock, serve):
        try:
            while True:
                try:
                    await _readable(sock)
                    conn, address = sock.accept()
                except OSError:
                    continue  # the connection was reset while it waited in the backlog
                except MemoryError:  # the scheduler's I/O queue could not take the socket in
                    _unwatch(sock)  # (nor leave it half taken in: it would wait for good)
                    await asyncio.sleep_ms(_RETRY_MS)
                    continue
                try:
                    conn.setblocking(False)
                    stream = asyncio.StreamWriter(conn)
                    # Decoded once and kept by itself: asyncio's extra-info dict and the raw
                    # address would be two objects more under every open connection.
                    stream._peer = _decode_address(address)
                    asyncio.create_task(serve(stream, stream))
                except MemoryError:
                    conn.close()  # the peer sees the connection end at once and may try again
                    await asyncio.sleep_ms(_RETRY_MS)
        finally:
            sock.close()


# Sockets the poller holds besides the server's own count: listeners, the application's clients.
_OTHER_SOCKETS = 32


def reserve(n, tables):
    """Grow ``tables`` (sets), the scheduler's I/O map and its poller for ``n`` sockets now.

    They grow a little at a time, each time into a new contiguous block: with hundreds of
    connections filling the heap it is fragmented, and the next block is not found. In the
    poller that is fatal: a MemoryError while it registers a socket leaves a half-made entry
    that its next poll dereferences (the unix port dies with SIGSEGV; MicroPython's
    extmod/modselect.c says the case is not handled). Grown while the heap is in one piece, the
    tables keep their size once emptied. Only when the connections would fill a good part of
    the heap (a small heap too: on 256 KiB, 60 handshakes at once grew the I/O map into a
    MemoryError); on a large one the tables grow into room there is, and the poller, which
    scans every slot it ever had on each poll, stays the size the load made it.
    """
    gc.collect()
    if n * _IDLE_CONNECTION * 4 < gc.mem_free():
        return
    keys = range(-n, 0)  # never ids or descriptors of real objects
    for table in tables:
        for key in keys:
            table.add(key)
        for key in keys:
            table.discard(key)
    keys = range(-n - _OTHER_SOCKETS, 0)
    io_map = core._io_queue.map
    for key in keys:
        io_map[key] = None
    for key in keys:
        del io_map[key]
    poller = core._io_queue.poller
    try:  # the unix port's poll takes plain descriptors; other ports skip this
        for key in keys:
            poller.register((1 << 24) + key, 0)
        for key in keys:
            poller.unregister((1 << 24) + key)
    except (TypeError, OSError, ValueError):
        pass


# An open, idle WebSocket's heap on the 64-bit unix port (2.5 KB measured by bench/mp_heap.py,
# with its share of the reserved tables); a 32-bit board needs less.
_IDLE_CONNECTION = 2560
# Whatever the heap: a Linux process has 1024 descriptors by default, and a board's network
# stack a few dozen sockets. Set max_connections to go past it on the unix port.
_MAX_CONNECTIONS = 1024


def connection_limit():
    """As many connections as two thirds of the free heap hold: beyond them, 503, not MemoryError.

    The other third is for what the connections do: messages, handshakes, the 503s being
    written. MicroPython's asyncio does not always survive running out of heap while it
    registers a socket (the unix port can crash), so the server stops accepting before that.
    """
    gc.collect()
    return max(1, min(_MAX_CONNECTIONS, gc.mem_free() * 2 // 3 // _IDLE_CONNECTION))


def client_ssl_context():
    """A verifying client context. MicroPython has no system trust store: load a CA (DER) into it."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def log_exception(message, exc):
    """Print ``message`` and the traceback (MicroPython has no ``logging``)."""
    print("wsio:", message)
    sys.print_exception(exc)


def log(message):
    """Print an operational message."""
    print("wsio:", message)


# ---- feeding a WebSocket from the scheduler ------------------------------------------------
#
# A reading coroutine per connection costs heap for every suspended frame under it, and a
# resumption of that chain per message. ``_Feed`` is the coroutine of a task but no generator:
# the scheduler calls its send() when the socket is readable, it reads into the shared buffer,
# hands the bytes to the WebSocket and registers for the next read, like a transport callback.
#
# While a task waits in receive() with nothing queued, it takes the feed's place in the
# scheduler's I/O queue and reads the socket itself (wait_message): a message then costs one
# task switch, not two (the feed's, then the receiver's; each is a poll of every socket).


class _Feed:
    """Reads a WebSocket's socket whenever the scheduler finds it readable, until CLOSED."""

    receiver = None  # the task reading in the feed's place (wait_message), while it waits

    def __init__(self, ws, initial, on_closed):
        self.ws = ws
        self.sock = ws._reader.s
        # The feed's entry in the scheduler's I/O map, [reader, writer, socket] as asyncio's
        # own: made once and put back at every wait, not a list per message.
        self.entry = [None, None, self.sock]
        self.pending = initial  # bytes that came with the handshake
        self.on_closed = on_closed  # called once, when the core is CLOSED or stop() was called
        self.task = None

    # The scheduler's side: a coroutine's send() and throw().

    def send(self, _):
        self._pump()
        if self.task is None:
            raise StopIteration
        return None

    def throw(self, exc):
        raise StopIteration  # cancelled by stop(): the connection is closing

    def close(self):
        pass

    # The WebSocket's side.

    def _pump(self):
        """Read once, hand the bytes to the WebSocket and settle what follows (in the feed's
        task or a receiver's)."""
        data = self.pending
        scratch = False
        try:
            if data:
                self.pending = None
            else:
                scratch = True  # the shared read buffer: the core may unmask a message in place
                try:
                    n = self.sock.readinto(_read_buffer)
                except OSError:
                    n = 0  # a reset, or any failure of the socket: the stream ended
                if n is None:  # nothing to read after all (a TLS record not complete yet)
                    self._watch()
                    return
                data = _read_view[:n] if n else b""
            ws = self.ws
            ws._received(data, scratch)
            # Write replies, then read on, or wait (in a helper task) for what reading needs.
            # (Here rather than in a method of its own, and ``_outgoing`` read rather than
            # has_data_to_send(): two Python calls less per message.)
            replies = ws._write_replies() if ws._conn._outgoing else None
            wait = ws._reading_waits_for()
            if replies is not None or wait is not None:
                asyncio.create_task(self._resume_after(replies, wait))
            elif ws._conn.state == CLOSED:
                self._report_closed()
            else:
                self._watch()
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc):
        """End the connection after an error while reading it, never leaving it hanging: a bug
        of ours, or a heap with no room for the next step (a board under a flood)."""
        if isinstance(exc, MemoryError):
            log("out of memory while reading a connection: it is dropped")
        else:
            log_exception("error reading a connection", exc)
        try:
            self.ws._conn.abort()
        except MemoryError:
            pass  # CLOSED all the same: the core records the state before the event
        self._report_closed()

    def _watch(self):
        """Have the scheduler wake the feed's task when the socket is readable.

        What ``core._io_queue.queue_read()`` does for the current task, done for the feed's,
        which is not always the one running (see wait_message)."""
        io = core._io_queue
        key = id(self.sock)
        entry = io.map.get(key)
        if entry is None:
            entry = self.entry  # out of the map, so no task waits in it (remove() leaves names)
            entry[0] = self.task
            entry[1] = None
            io.map[key] = entry
            io.poller.register(self.sock, select.POLLIN)
        else:  # a task waits to write: wait for both
            entry[0] = self.task
            io.poller.modify(self.sock, select.POLLIN | select.POLLOUT)
        self.task.data = io

    def wait_message(self):
        """What ``receive()`` awaits when nothing is queued: read in the caller's task if the
        feed only waits for the socket, else wait for the WebSocket's wakeup.

        A generator, as MicroPython's own awaitables are: one object fewer per message than a
        coroutine suspending in another generator."""
        ws = self.ws
        task = self.task
        io = core._io_queue
        entry = io.map.get(id(self.sock))
        if task is None or entry is None or entry[0] is not task:
            yield from ws._next_wakeup()  # the feed is busy (a helper task) or done: it wakes us
            return
        wakeup = ws._wakeup
        if wakeup is not None and not wakeup.waiting.peek():
            # Made for a wait before the feed first ran (the handler's first receive() comes
            # before that) and awaited by no task now: let go, so that the connection neither
            # keeps it for its life nor sets it at every message. A later wait makes another.
            ws._wakeup = None
        me = core.cur_task
        entry[0] = me
        me.data = io
        task.data = None
        self.receiver = me
        try:
            yield  # until the scheduler finds the socket readable (or a cancel)
        except BaseException:  # cancelled: the scheduler took us off the socket; hand it back
            self._hand_back(entry[1])
            raise
        self.receiver = None
        if self.task is not None:  # else the feed was stopped meanwhile (_report_closed woke us)
            self._pump()
        if ws._conn.state == CLOSED and ws._handler_task is me and not ws._messages:
            # The peer left and we are the handler with nothing left to take: wait, as the feed
            # would have had us wait, to be woken and cancelled by the WebSocket's end (it
            # cannot cancel the running task).
            yield from ws._next_wakeup()

    def _hand_back(self, writer):
        """After a cancel took the receiver off the socket: the feed waits for it again.

        The cancel dropped the socket's whole entry, so ``writer``, a task that was waiting to
        write (wait_for(ws.receive(), t) during a long send), is put back too."""
        self.receiver = None
        if self.task is not None:
            self._watch()
            if writer is not None:
                core._io_queue.map[id(self.sock)][1] = writer
                core._io_queue.poller.modify(self.sock, select.POLLIN | select.POLLOUT)
        elif writer is not None:
            core._task_queue.push(writer)  # stopped: the socket is closing, let it see that

    async def _resume_after(self, replies, wait):
        if replies is not None:
            await replies
        if wait is not None:
            await wait
        if self.ws._conn.state == CLOSED:
            self.stop()
        elif self.task is not None:
            ws = self.ws
            if ws._unparsed is not None:  # parsed before the socket is read again
                self.pending, ws._unparsed = ws._unparsed, None
            core._task_queue.push(self.task)  # read on (the feed waits on nothing meanwhile)

    def _report_closed(self):
        if self.on_closed is not None:
            on_closed, self.on_closed = self.on_closed, None
            self.task = None
            receiver = self.receiver
            if receiver is not None and receiver is not core.cur_task:
                # A task reads in the feed's place: take it off the socket (about to be
                # closed) and wake it to see the end, unless the scheduler found the socket
                # readable and queued it already (queued twice, it would run with garbage).
                self.receiver = None
                entry = core._io_queue.map.get(id(self.sock))
                if entry is not None and entry[0] is receiver:
                    _wake_writer(self.sock)
                    core._io_queue.remove(receiver)
                    core._task_queue.push(receiver)
            on_closed()

    def stop(self):
        """Stop reading and report CLOSED. The WebSocket closes the socket only after the
        report, so the task has left the I/O queue by then."""
        task = self.task
        if task is not None and not task.done() and task is not core.cur_task:
            _wake_writer(self.sock)
            task.cancel()
        self._report_closed()

    async def until_eof(self):
        """Return once the peer's TCP stream ended (after stop(): reads what is left)."""
        if getattr(self.ws._reader, "_raw_socket", None) is not None:
            # Over TLS the server (CPython's ssl) waits for our close_notify before it closes
            # TCP, and this TLS socket sends one only as it closes: waiting would always last
            # close_timeout. RFC 6455 7.1.1 lets the client close once the handshake is over.
            return
        while await read(self.ws._reader):
            pass


def feed(ws, initial, on_closed):
    """Start feeding ``ws`` from the scheduler's read events (see ``runtime``)."""
    reader = _Feed(ws, initial, on_closed)
    reader.task = asyncio.create_task(reader)
    return reader
