"""Instructions a MicroPython server runs per echoed message, counted by callgrind.

    .hatch/data/env/virtual/bench/bin/python bench/mp_instructions.py [--servers wsio-mp,microdot-mp]

On this VM the speed of the moment moves a server's CPU time per message by up to 2x between
runs (bench/RESULTS.md's `conc` rows); the number of instructions does not move. Each server of
bench/run.py (`-X heapsize=64M`) runs under `valgrind --tool=callgrind`; bench/loadgen.py drives
the `conc` workload (50 connections, 64-byte text) for a short and for a long window, the
counters zeroed after a warm-up each time, and the difference of the two counts divided by the
difference of the messages is printed: user-space instructions per message, with the handshakes
of both windows cancelled out. Kernel time (poll, recv, send) is not counted. Needs valgrind
(callgrind_control on PATH); takes about a minute per server.

The count over 50 connections moves by a few thousand instructions between runs (how many
sockets each poll finds ready, when the collector runs); ``--connections 1`` moves by a few
hundred, which is what comparing two versions of the code needs. ``--workload hs`` counts the
instructions per handshake instead (open, upgrade, closing handshake, TCP close).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run  # bench/run.py: the same servers, MicroPython binary and microdot copy

WINDOWS = (3.0, 12.0)  # seconds of conc load; under valgrind a server echoes a few hundred msg/s


def count(spec, seconds, workdir, heapsize="heapsize=64M", connections=50, workload="conc"):
    """(messages, instructions) of one ``seconds`` window against a fresh server under callgrind."""
    port = run.free_port()
    out = Path(workdir) / ("cg-%s-%d.out" % (spec["name"], port))
    env = dict(os.environ, **spec["env"])
    # The micropython command is a console script of this venv's Python: run that Python.
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out, sys.executable] + [heapsize if a.startswith("heapsize=") else a for a in spec["argv"]]
    server = subprocess.Popen(["taskset", "-c", run.CPU_SERVER] + argv + ["--port", str(port)], cwd=str(run.ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start under valgrind" % spec["name"])
            time.sleep(0.2)
        loadgen = ["taskset", "-c", run.CPU_CLIENT, sys.executable, str(run.BENCH / "loadgen.py"), workload, "--port", str(port), "--timeout", "60", "--no-busy-poll"]
        if workload == "conc":
            loadgen += ["--connections", str(connections)]
        subprocess.run(loadgen + ["--warmup", "0.5", "--duration", "0.5"], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
        result = subprocess.run(loadgen + ["--warmup", "0", "--duration", str(seconds)], check=True, capture_output=True, text=True)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        messages = json.loads(result.stdout)["count"]
    finally:
        server.terminate()
        server.wait(30)
    dumps = sorted(Path(workdir).glob(out.name + ".*"), key=lambda p: p.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return messages, int(line.split()[1])
    raise RuntimeError("no totals in %s" % dumps[-1])


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="wsio-mp,microdot-mp", help="names from bench/run.py")
    parser.add_argument("--heapsize", default="64M", help="-X heapsize of the servers (the benchmark's 64M by default)")
    parser.add_argument("--connections", type=int, default=50, help="1 gives a steadier count to compare two versions of the code")
    parser.add_argument("--workload", choices=["conc", "hs"], default="conc", help="hs: instructions per handshake")
    args = parser.parse_args()
    specs = run.server_specs(run.micropython_binary(), run.microdot_for_micropython())
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.servers.split(","):
            (m1, i1), (m2, i2) = (count(specs[name], seconds, workdir, "heapsize=" + args.heapsize, args.connections, args.workload) for seconds in WINDOWS)
            what = "handshake" if args.workload == "hs" else "message"
            print("%-12s %7.0f instructions per %s (%d and %d %ss)" % (name, (i2 - i1) / (m2 - m1), what, m1, m2, what))


if __name__ == "__main__":
    main()
