"""cProfile of wsio's hot paths on CPython: where the time of each goes.

    .venv/tools/bin/hatch run bench:profile            (all sections, about a minute)
    .venv/tools/bin/hatch run bench:profile recv mask  (some sections)
    ... --top 25 --sort tottime

Sections:

- ``recv``: the sans-I/O core receiving a masked 64-byte text frame (server side), one frame per
  ``receive_data`` call, then ``events()``.
- ``send``: the core queueing a 64-byte text message, server side (unmasked) and client side
  (masked), then ``data_to_send()``.
- ``mask``: ``wscore.mask.masked`` over 1 MiB, and the core receiving a 1 MiB masked binary frame
  in 256 KiB chunks (the CPython read size).
- ``handshake``: the server side of the opening handshake without I/O (request head through
  ``HeadReader``, ``parse_request``, ``check_request``, ``accept_response``) and the client side
  (``ClientHandshake``, ``parse_response``, ``check_response``).
- ``server-rtt``, ``server-big``, ``server-hs``: the asyncio server (examples/echo.py's app) in
  this process under cProfile, driven by bench/loadgen.py in another process (CPU 1 if there
  are 2): the whole path, asyncio streams included.

Each section prints its wall time per operation without the profiler, then the top entries of
the profile. The code profiled is the working tree (packages/*/src first on sys.path).
"""

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "packages/ws-core/src"), str(ROOT / "packages/ws-cpython/src"), str(ROOT / "examples")]

from wscore import mask as wsmask  # noqa: E402
from wscore.handshake import ClientHandshake, accept_key, accept_response, check_request  # noqa: E402
from wscore.http import HeadReader, parse_request, parse_response  # noqa: E402
from wscore.protocol import Connection  # noqa: E402

from loadgen import MASK as KEY, client_frame  # noqa: E402  (bench/, this script's folder: the load generator's frames)

SMALL = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def report(title, fn, n, args, unit="op"):
    """Time ``fn()`` (which does ``n`` operations) without and then with the profiler."""
    fn()  # warm up
    t = time.process_time()  # CPU time: other load on the machine does not count
    fn()
    plain = time.process_time() - t
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    print("=" * 100)
    print("%s: %.2f µs CPU per %s without the profiler (%d %ss in %.3f s)" % (title, plain / n * 1e6, unit, n, unit, plain))
    print_stats(profiler, args)


def print_stats(profiler, args):
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    total = next((line.strip() for line in lines if "function calls" in line), "")
    print(total)
    for line in lines[start:]:
        if line.strip():
            print(line[:160])


# ---- sans-I/O sections ----------------------------------------------------------------------


def section_recv(args):
    n = args.n
    frame = client_frame(1, SMALL)
    conn = Connection(client=False, max_size=1 << 20)

    def run():
        for _ in range(n):
            conn.receive_data(frame)
            conn.events()

    report("recv: 64-byte masked text frame -> str (Connection.receive_data + events)", run, n, args, "frame")
    binary = client_frame(2, SMALL)

    def run_binary():
        for _ in range(n):
            conn.receive_data(binary)
            conn.events()

    report("recv: 64-byte masked binary frame -> bytes", run_binary, n, args, "frame")


def section_send(args):
    n = args.n
    text = SMALL.decode()
    server = Connection(client=False)
    client = Connection(client=True)

    def run_server():
        for _ in range(n):
            server.send_message(text)
            server.data_to_send()

    report("send: 64-byte text message, server side (send_message + data_to_send)", run_server, n, args, "message")

    def run_client():
        for _ in range(n):
            client.send_message(text)
            client.data_to_send()

    report("send: 64-byte text message, client side (masked)", run_client, n, args, "message")


def section_mask(args):
    payload = os.urandom(1 << 20)
    n = 30

    def run():
        for _ in range(n):
            wsmask.masked(payload, KEY, 0)

    report("mask: wscore.mask.masked(1 MiB)", run, n, args, "MiB")
    frame = client_frame(2, payload)
    chunk = 1 << 18
    pieces = [frame[i : i + chunk] for i in range(0, len(frame), chunk)]
    conn = Connection(client=False, max_size=16 << 20)

    def run_frame():
        for _ in range(n):
            for piece in pieces:
                conn.receive_data(piece)
            conn.events()

    report("mask: receive a 1 MiB masked binary frame in 256 KiB chunks -> bytes", run_frame, n, args, "MiB")
    server = Connection(client=False)
    client = Connection(client=True)

    def run_send():
        for _ in range(n):
            server.send_message(payload)
            server.data_to_send()
            client.send_message(payload)
            client.data_to_send()

    report("mask: send 1 MiB binary, server side (no mask) + client side (masked)", run_send, n, args, "pair")


REQUEST = (
    b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"User-Agent: bench\r\nAccept-Encoding: gzip\r\n\r\n"
)


def section_handshake(args):
    n = args.n // 10

    def run_server():
        for _ in range(n):
            reader = HeadReader(8192, 4096)
            reader.feed(REQUEST)
            request = parse_request(reader.head)
            key, subprotocol = check_request(request)
            accept_response(key, subprotocol)

    report("handshake: server side, request bytes -> 101 response bytes", run_server, n, args, "handshake")

    def run_client():
        for _ in range(n):
            hs = ClientHandshake("127.0.0.1", 5000, "/echo")
            # The server's answer to this client's own key.
            key = _client_key(hs)
            response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
            reader = HeadReader(8192, 8192)
            reader.feed(response)
            status, _, headers = parse_response(reader.head)
            hs.check_response(status, headers, b"")

    report("handshake: client side, request + check of the 101 response", run_client, n, args, "handshake")


def _client_key(hs):
    for line in hs.request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            return line.split(b":", 1)[1].strip().decode()
    raise RuntimeError("no key in the client request")


# ---- the asyncio server under load ----------------------------------------------------------


def section_server(args, workload):
    """Run examples/echo.py's app in this process, profiled, while loadgen drives it."""
    import wsio  # noqa: F401  # installs the CPython runtime
    from echo import make_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(16 * 1024 * 1024)
    cpus = os.sched_getaffinity(0)
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {min(cpus)})
    loadgen_cmd = [sys.executable, str(ROOT / "bench/loadgen.py"), workload, "--port", str(port), "--duration", str(args.seconds)]
    if len(cpus) >= 2:
        loadgen_cmd = ["taskset", "-c", str(max(cpus))] + loadgen_cmd
    profiler = cProfile.Profile()
    result = {}

    async def main():
        await app.start("127.0.0.1", port)
        proc = await asyncio.create_subprocess_exec(*loadgen_cmd, stdout=asyncio.subprocess.PIPE, start_new_session=True)
        boost(proc.pid)
        profiler.enable()
        cpu = time.process_time()
        out, _ = await proc.communicate()
        cpu = time.process_time() - cpu
        profiler.disable()
        result["out"] = out.decode().strip()
        result["cpu"] = cpu
        await app.shutdown(1.0)

    asyncio.run(main())
    print("=" * 100)
    print("server-%s: examples/echo.py's app profiled in-process (%.2f s CPU under the profiler); load generator: %s" % (workload, result["cpu"], result["out"][:200]))
    print("({method 'poll' of 'select.epoll' objects} is the event loop waiting for the network: idle time)")
    print_stats(profiler, args)


def boost(pid):
    """As bench/run.py does: nice -20 for the process's autogroup (root only; best effort)."""
    try:
        with open("/proc/%d/autogroup" % pid, "w") as f:
            f.write("-20")
    except OSError:
        pass


SECTIONS = ["recv", "send", "mask", "handshake", "server-rtt", "server-big", "server-hs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help="some of %s (default: all)" % ", ".join(SECTIONS))
    parser.add_argument("--top", type=int, default=14, help="profile entries per section (default 14)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime: time inside the function itself)")
    parser.add_argument("-n", type=int, default=100000, help="operations per small-frame section (default 100000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="load window of the server-* sections (default 2)")
    args = parser.parse_args()
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error("unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SECTIONS)))
    print("CPython %s; wscore from %s" % (sys.version.split()[0], Path(wsmask.__file__).parent))
    if os.geteuid() == 0:
        try:
            os.setsid()  # a session (and so a scheduling autogroup) of our own, then nice -20
        except OSError:
            pass
        boost(os.getpid())
    for name in args.sections or SECTIONS:
        if name.startswith("server-"):
            section_server(args, name.split("-", 1)[1])
        else:
            globals()["section_" + name](args)


if __name__ == "__main__":
    main()
