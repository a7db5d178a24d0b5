"""The load generator: drives one echo server with one workload and prints one JSON line.

    python bench/loadgen.py WORKLOAD --port P [--raw] [--pid PID] [--heap] [options]

bench/run.py starts it pinned to CPU 1 (the server under test has CPU 0). Workloads:

- ``rtt``: 1 connection, sequential round trips of a 64-byte text message: msgs/s, p50, p99.
- ``conc``: 50 connections, one message in flight on each: total msgs/s, p99.
- ``big``: 1 MiB binary messages echoed one at a time: MB/s (10^6 bytes of payload a second).
- ``hs``: open, handshake, close (waiting for the server's close frame and its FIN), one at a
  time: handshakes/s.
- ``idle``: N idle connections: the server's RSS delta per connection (/proc/PID/status), and
  with ``--heap`` the MicroPython heap delta (GET /heap answers gc.mem_alloc()).
- ``client-rtt``, ``client-big``: the same as rtt/big but through a WebSocket *library*
  client (``--client wsio`` or ``--client websockets``) on the standard asyncio loop.

The protocol workloads use no WebSocket library: an ``asyncio.Protocol`` writes precomputed
masked frames and recognises the reply by its known length (a full frame parser handles
anything else), so the client spends a few microseconds per message. ``--raw`` speaks to a
plain TCP echo server with the same bytes: that run is the generator's own ceiling. uvloop runs
the generator when installed (``--loop asyncio`` to compare), and the loop busy-polls (never
sleeps in epoll: see ``busy_poll``) unless ``--no-busy-poll``. The library-client workloads use
the standard asyncio loop without busy polling, the same for both libraries.

With ``--pid`` the server's CPU time per message and the time it waited for its CPU are read
from /proc/PID/task/*/schedstat around the measured window.

Every loop is bounded by a count and a time limit; on any failure the JSON line carries
``"error"`` instead of figures and the exit status is still 0.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import sys
import time

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
MASK = b"\x37\xfa\x21\x3d"
SMALL = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"  # 64 bytes of ASCII
assert len(SMALL) == 64
perf_ns = time.perf_counter_ns


def mask(payload, key=MASK):
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ k).to_bytes(n, "little")


def client_frame(opcode, payload):
    """A masked client frame, FIN set."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + MASK + mask(payload)


def server_frame_header(opcode, n):
    if n < 126:
        return bytes((0x80 | opcode, n))
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")


CLOSE_FRAME = client_frame(8, (1000).to_bytes(2, "big"))


def upgrade_request(port, path):
    return (
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, KEY.decode())
    ).encode()


class Failure(Exception):
    pass


class Conn(asyncio.Protocol):
    """One client connection: optional opening handshake, then messages out and echoes back.

    ``on_message(conn)`` is called from ``data_received`` when a whole reply arrived, so the
    next request can be written without a task switch.
    """

    def __init__(self, raw, request=None, on_message=None):
        self.raw = raw
        self.request = request  # the upgrade request (WebSocket), or None (raw)
        self.on_message = on_message
        self.transport = None
        self.opened = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.head = bytearray()
        self.handshaken = raw
        self.close_received = False
        # reply being received
        self.fast = b""  # a whole reply in one chunk is recognised by comparing its header
        self.fast_len = 0
        self.expect = 0  # raw: bytes still due
        self.hbuf = bytearray()
        self.skip = 0
        self.opcode = 0
        self.fin = True
        self.capture = None  # a bytearray when the next reply's payload is kept (checks)
        self.sent_at = 0
        self.on_lost = None  # called when the connection ends: a measurement fails at once

    def expect_reply(self, sent_frame, reply_header, reply_len):
        """Prepare for the reply to a request: ``reply_len`` bytes (raw) or a frame with this header."""
        if self.raw:
            self.expect = len(sent_frame)
            self.fast_len = -1
        else:
            self.fast = reply_header
            self.fast_len = len(reply_header) + reply_len

    # asyncio callbacks
    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.request:
            transport.write(self.request)
        else:
            self.opened.set_result(True)

    def connection_lost(self, exc):
        if self.on_lost is not None:
            self.on_lost()
        if not self.opened.done():
            self.opened.set_exception(Failure("connection closed before the handshake finished"))
        if not self.lost.done():
            self.lost.set_result(True)

    def eof_received(self):
        return False

    def data_received(self, data):
        if not self.handshaken:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self.opened.set_exception(Failure("response head too long"))
                return
            head = bytes(self.head[:end])
            rest = bytes(self.head[end + 4 :])
            self.head = bytearray()
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(Failure("handshake answered %r" % status.decode("latin-1")))
                self.transport.close()
                return
            if ACCEPT not in head:
                self.opened.set_exception(Failure("wrong Sec-WebSocket-Accept"))
                self.transport.close()
                return
            self.handshaken = True
            self.opened.set_result(True)
            if rest:
                self.data_received(rest)
            return
        if self.raw:
            self.expect -= len(data)
            if self.expect <= 0:
                if self.capture is not None:
                    self.capture += data
                self.on_message(self)
            elif self.capture is not None:
                self.capture += data
            return
        # The usual case: the whole reply in one chunk, with the expected header.
        if (
            len(data) == self.fast_len
            and not self.skip
            and not self.hbuf
            and self.capture is None
            and data.startswith(self.fast)
        ):
            self.on_message(self)
            return
        self._parse(data)

    def _parse(self, data):
        n = len(data)
        pos = 0
        while pos < n:
            if self.skip:
                take = min(self.skip, n - pos)
                if self.capture is not None and self.opcode < 8:
                    self.capture += data[pos : pos + take]
                self.skip -= take
                pos += take
                if not self.skip:
                    self._frame_done()
                continue
            hb = self.hbuf
            hb.append(data[pos])
            pos += 1
            if len(hb) < 2:
                continue
            length = hb[1] & 0x7F
            need = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if hb[1] & 0x80 else 0)
            if len(hb) < need:
                continue
            if length == 126:
                length = int.from_bytes(hb[2:4], "big")
            elif length == 127:
                length = int.from_bytes(hb[2:10], "big")
            self.fin = bool(hb[0] & 0x80)
            opcode = hb[0] & 0x0F
            if opcode:
                self.opcode = opcode
            self.hbuf = bytearray()
            self.skip = length
            if not length:
                self._frame_done()

    def _frame_done(self):
        opcode = self.opcode
        if opcode == 8:
            self.close_received = True
            return
        if opcode >= 9:  # ping/pong: not answered (runs are far shorter than any keepalive)
            return
        if self.fin:
            self.on_message(self)


def schedstat(pid):
    """(ns on CPU, ns waiting for a CPU) summed over the process's threads; None without a pid."""
    if not pid:
        return None
    run = wait = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                fields = f.read().split()
            run += int(fields[0])
            wait += int(fields[1])
    except OSError:
        return None
    return run, wait


def server_usage(before, after, count, result):
    """Add the server's CPU time per message and its time waiting for CPU 0 (other load)."""
    if before and after and count:
        result["server_cpu_us_per_msg"] = (after[0] - before[0]) / count / 1000
        result["server_runq_wait_ms"] = (after[1] - before[1]) / 1e6
    return result


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure("no VmRSS for pid %d" % pid)


async def http_get(port, path, timeout=10.0):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
    data = await asyncio.wait_for(reader.read(-1), timeout)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise Failure("GET %s answered %r" % (path, head[:40]))
    return body


class Bench:
    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.request = upgrade_request(args.port, args.path)

    async def connect(self, on_message=None, timeout=10.0):
        raw = self.args.raw
        _, conn = await asyncio.wait_for(
            self.loop.create_connection(lambda: Conn(raw, None if raw else self.request, on_message), "127.0.0.1", self.args.port),
            timeout,
        )
        await asyncio.wait_for(conn.opened, timeout)
        return conn

    async def check_echo(self, conn, frame, payload, opcode, timeout=30.0):
        """One round trip that keeps and compares the reply: the server really echoes."""
        done = self.loop.create_future()
        conn.capture = bytearray()
        conn.on_message = lambda c: done.done() or done.set_result(True)
        conn.on_lost = lambda: done.done() or done.set_exception(Failure("the server closed the connection instead of echoing"))
        conn.expect_reply(frame, b"", 0)
        conn.fast_len = -1
        conn.transport.write(frame)
        await asyncio.wait_for(done, timeout)
        conn.on_lost = None
        got = bytes(conn.capture)
        conn.capture = None
        want = frame if self.args.raw else payload
        if got != want:
            raise Failure("echo differs from the message sent (%d bytes back, %d sent)" % (len(got), len(want)))
        if not self.args.raw and conn.opcode != opcode:
            raise Failure("echo came back with opcode %d, sent %d" % (conn.opcode, opcode))

    async def ping_pong(self, conns, frame, reply_header, reply_len, warmup, duration, max_count, timeout):
        """Keep one request in flight on each connection; measure for ``duration`` after ``warmup``."""
        state = {"measuring": False, "stopping": False, "count": 0}
        latencies = []
        done = self.loop.create_future()
        active = [len(conns)]

        def on_message(conn):
            now = perf_ns()
            if state["measuring"]:
                latencies.append(now - conn.sent_at)
                state["count"] += 1
                state["last"] = now
                if state["count"] >= max_count:
                    stop()
            if state["stopping"]:
                active[0] -= 1
                if active[0] == 0 and not done.done():
                    done.set_result(True)
                return
            conn.expect_reply(frame, reply_header, reply_len)
            conn.sent_at = perf_ns()
            conn.transport.write(frame)

        def start():
            state["measuring"] = True
            state["sched0"] = schedstat(self.args.pid)
            state["t0"] = perf_ns()

        def stop():
            if state["measuring"]:
                state["measuring"] = False
                # Up to the last reply counted: no partial message at the end of the window.
                state["t1"] = state.get("last") or perf_ns()
                state["sched1"] = schedstat(self.args.pid)
            state["stopping"] = True

        def on_lost():
            if not done.done():
                done.set_exception(Failure("the server closed a connection during the measurement"))

        for conn in conns:
            conn.on_message = on_message
            conn.on_lost = on_lost
        handles = []
        if warmup > 0:
            handles.append(self.loop.call_later(warmup, start))
        else:
            start()
        if duration > 0:  # else max_count ends the measurement
            handles.append(self.loop.call_later(warmup + duration, stop))
        for conn in conns:
            conn.expect_reply(frame, reply_header, reply_len)
            conn.sent_at = perf_ns()
            conn.transport.write(frame)
        try:
            await asyncio.wait_for(done, warmup + duration + timeout)
        except asyncio.TimeoutError:
            raise Failure("no reply within %.0f s" % timeout)
        finally:
            for handle in handles:
                handle.cancel()
            for conn in conns:
                conn.on_lost = None
        if "t0" not in state or not latencies:
            raise Failure("no message completed while measuring")
        elapsed = (state["t1"] - state["t0"]) / 1e9
        latencies.sort()
        self.usage = (state["sched0"], state.get("sched1"))
        return state["count"], elapsed, latencies

    # ---- workloads ---------------------------------------------------------------------

    async def rtt(self):
        a = self.args
        frame = client_frame(1, SMALL)
        conn = await self.connect()
        await self.check_echo(conn, frame, SMALL, 1)
        count, elapsed, lat = await self.ping_pong([conn], frame, server_frame_header(1, 64), 64, a.warmup, a.duration, a.max_count, 10.0)
        conn.transport.close()
        result = {"msgs_per_s": count / elapsed, "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "count": count, "seconds": elapsed}
        return server_usage(*self.usage, count, result)

    async def conc(self):
        a = self.args
        frame = client_frame(1, SMALL)
        conns = []
        for _ in range(a.connections):
            conns.append(await self.connect())
        await self.check_echo(conns[0], frame, SMALL, 1)
        count, elapsed, lat = await self.ping_pong(conns, frame, server_frame_header(1, 64), 64, a.warmup, a.duration, a.max_count, 10.0)
        for conn in conns:
            conn.transport.close()
        result = {"msgs_per_s": count / elapsed, "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "count": count, "seconds": elapsed, "connections": len(conns)}
        return server_usage(*self.usage, count, result)

    async def big(self):
        a = self.args
        payload = os.urandom(a.size)
        frame = client_frame(2, payload)
        conn = await self.connect()
        t = time.perf_counter()
        await self.check_echo(conn, frame, payload, 2, timeout=a.timeout)
        first = time.perf_counter() - t
        # The first echo (checked) is the warm-up; then as many as fit in the time limit.
        duration = a.duration if first < a.duration else 0.0
        if duration:
            count, elapsed, lat = await self.ping_pong([conn], frame, server_frame_header(2, a.size), a.size, 0.0, duration, a.max_count, a.timeout)
        else:  # one message takes longer than the whole window: time one more on its own
            count, elapsed, lat = await self.ping_pong([conn], frame, server_frame_header(2, a.size), a.size, 0.0, 0.0, 1, a.timeout)
        conn.transport.close()
        result = {"mb_per_s": count * a.size / elapsed / 1e6, "count": count, "seconds": elapsed, "size": a.size, "p50_ms": pct(lat, 50) / 1000}
        return server_usage(*self.usage, count, result)

    async def hs(self):
        a = self.args
        not_closed_by_server = 0

        async def one():
            nonlocal not_closed_by_server
            conn = await self.connect(timeout=a.timeout)
            conn.transport.write(CLOSE_FRAME)
            try:
                await asyncio.wait_for(conn.lost, a.timeout)
            except asyncio.TimeoutError:
                not_closed_by_server += 1
                conn.transport.close()
            if not conn.close_received:
                raise Failure("the server answered the close frame with no close frame")

        warm_end = time.perf_counter() + a.warmup
        await one()
        while time.perf_counter() < warm_end:
            await one()
        count = 0
        sched0 = schedstat(a.pid)
        t0 = time.perf_counter()
        while count < a.max_count and time.perf_counter() - t0 < a.duration:
            await one()
            count += 1
        elapsed = time.perf_counter() - t0
        result = {"per_s": count / elapsed, "count": count, "seconds": elapsed, "not_closed_by_server": not_closed_by_server}
        return server_usage(sched0, schedstat(a.pid), count, result)

    async def idle(self):
        a = self.args
        pid = a.pid
        frame = client_frame(1, SMALL)
        # Warm the server up: one connection with a message, then let it settle.
        warm = await self.connect()
        await self.check_echo(warm, frame, SMALL, 1)
        warm.transport.close()
        await asyncio.sleep(0.3)
        heap0 = int(await http_get(a.port, "/heap")) if a.heap else None
        rss0 = rss_kib(pid)
        conns = []
        deadline = time.perf_counter() + a.timeout
        error = None
        try:
            while len(conns) < a.connections:
                if time.perf_counter() > deadline:
                    raise Failure("only %d connections opened in %.0f s" % (len(conns), a.timeout))
                conns.append(await self.connect())
        except (OSError, asyncio.TimeoutError, Failure) as exc:
            error = "%d of %d connections opened: %s" % (len(conns), a.connections, describe(exc))
        await asyncio.sleep(0.5)
        lost = sum(1 for c in conns if c.lost.done())
        result = {"connections": len(conns), "wanted": a.connections, "closed_by_server": lost}
        if error is None and lost:
            error = "the server dropped %d of %d idle connections" % (lost, len(conns))
        if error is None:
            rss1 = rss_kib(pid)
            result["rss_kib_before"] = rss0
            result["rss_kib_after"] = rss1
            result["rss_bytes_per_conn"] = (rss1 - rss0) * 1024 / len(conns)
            if a.heap:
                heap1 = int(await http_get(a.port, "/heap"))
                result["heap_before"] = heap0
                result["heap_after"] = heap1
                result["heap_bytes_per_conn"] = (heap1 - heap0) / len(conns)
            # Still serving: an echo on the oldest and the newest idle connection.
            for conn in (conns[0], conns[-1]):
                await self.check_echo(conn, frame, SMALL, 1, timeout=10.0)
        for conn in conns:
            conn.transport.abort()
        if error is not None:
            result["error"] = error
        return result

    # ---- library clients ---------------------------------------------------------------

    async def client(self, big):
        a = self.args
        uri = "ws://127.0.0.1:%d%s" % (a.port, a.path)
        payload = os.urandom(a.size) if big else SMALL.decode()
        if a.client == "wsio":
            import wsio

            ctx = wsio.connect(uri, max_size=16 * 1024 * 1024)
            ws = await ctx.open()
            send, recv, close = ws.send, ws.receive, ws.close
        elif a.client == "websockets":
            from websockets.asyncio.client import connect

            ws = await connect(uri, compression=None, max_size=16 * 1024 * 1024)
            send, recv, close = ws.send, ws.recv, ws.close
        else:
            raise Failure("unknown client %r" % a.client)
        try:
            await send(payload)
            if await recv() != payload:
                raise Failure("echo differs from the message sent")
            lat = []
            warm_end = time.perf_counter() + (0 if big else a.warmup)
            while time.perf_counter() < warm_end:
                await send(payload)
                await recv()
            own0 = schedstat(os.getpid())
            t0 = time.perf_counter()
            end = t0 + a.duration
            while len(lat) < a.max_count:
                s = perf_ns()
                await send(payload)
                await recv()
                lat.append(perf_ns() - s)
                if time.perf_counter() >= end:
                    break
            elapsed = time.perf_counter() - t0
            own1 = schedstat(os.getpid())
        finally:
            await close()
        lat.sort()
        n = len(lat)
        if big:
            result = {"mb_per_s": n * a.size / elapsed / 1e6, "count": n, "seconds": elapsed}
        else:
            result = {"msgs_per_s": n / elapsed, "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "count": n, "seconds": elapsed}
        result["client_cpu_us_per_msg"] = (own1[0] - own0[0]) / n / 1000
        return result


def pct(sorted_ns, p):
    """The p-th percentile of sorted nanoseconds, in microseconds."""
    i = min(len(sorted_ns) - 1, max(0, int(round(p / 100 * len(sorted_ns))) - 1))
    return sorted_ns[i] / 1000


def describe(exc):
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, Failure) else "%s: %s" % (type(exc).__name__, text)


DEFAULTS = {  # warmup s, duration s, max count, connections, size, timeout s
    "rtt": (0.3, 2.0, 50000, 1, 64, 10.0),
    "conc": (0.3, 2.0, 300000, 50, 64, 10.0),
    "big": (0.0, 2.5, 100, 1, 1 << 20, 60.0),
    "hs": (0.3, 2.0, 3000, 1, 0, 5.0),
    "idle": (0.0, 0.0, 0, 1000, 0, 60.0),
    "client-rtt": (0.3, 2.0, 50000, 1, 64, 10.0),
    "client-big": (0.0, 2.5, 100, 1, 1 << 20, 60.0),
}


def busy_poll(loop):
    """Keep a callback always ready, so the loop polls its sockets with a zero timeout and never
    sleeps: CPU 1 is the generator's alone, and a sleeping CPU costs tens of microseconds to wake
    up on a virtual machine (measured: 77 us for a blocking ping-pong across CPUs, 28 us
    spinning), which would otherwise count in every round trip."""

    def spin():
        handle[0] = loop.call_soon(spin)

    handle = [loop.call_soon(spin)]
    return handle


async def run(args):
    if args.busy_poll and not args.workload.startswith("client-"):
        busy_poll(asyncio.get_running_loop())
    bench = Bench(args)
    if args.workload == "client-rtt":
        return await bench.client(False)
    if args.workload == "client-big":
        return await bench.client(True)
    return await getattr(bench, args.workload)()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(DEFAULTS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/echo")
    parser.add_argument("--raw", action="store_true", help="plain TCP echo server: no handshake, no framing")
    parser.add_argument("--pid", type=int, help="server process (idle: RSS from /proc/PID/status)")
    parser.add_argument("--heap", action="store_true", help="idle: also read GET /heap (MicroPython gc.mem_alloc())")
    parser.add_argument("--client", default="wsio", help="client-*: wsio or websockets")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--no-busy-poll", dest="busy_poll", action="store_false", help="let the loop sleep in epoll")
    for name in ("warmup", "duration", "timeout"):
        parser.add_argument("--" + name, type=float)
    for name in ("max-count", "connections", "size"):
        parser.add_argument("--" + name, type=int)
    args = parser.parse_args()
    d = dict(zip(("warmup", "duration", "max_count", "connections", "size", "timeout"), DEFAULTS[args.workload]))
    for name, value in d.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    loop_name = "asyncio"
    if args.loop == "uvloop" and not args.workload.startswith("client-"):
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            loop_name = "uvloop"
        except ImportError:
            pass
    hard_limit = args.warmup + args.duration + args.timeout + 60
    try:
        result = asyncio.run(asyncio.wait_for(run(args), hard_limit))
    except asyncio.TimeoutError:
        result = {"error": "timed out after %.0f s" % hard_limit}
    except (OSError, EOFError, Failure, ValueError) as exc:
        result = {"error": describe(exc)}
    except Exception as exc:  # any library error: a figure we cannot have, not a crash of the run
        result = {"error": describe(exc)}
    result["workload"] = args.workload
    result["client_loop"] = loop_name
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
