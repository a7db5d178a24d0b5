# micropython: skip drives the micropython binary and an HTTP server from CPython
"""`mip` installs the library from this repository's manifests, offline, and the result runs.

The repository root is served over HTTP on 127.0.0.1. Two installs are checked:

- `micropython -m mip install --target DIR http://127.0.0.1:PORT/packages/ws-micropython/package.json`
  (the CLI), with the manifests that scripts/make_manifests.py builds for that local base: the
  committed ones name `github:` deps, which the CLI cannot reach offline;
- `mip.install('github:org/ws-micropython', target=DIR)`, the published form with the committed
  manifests unchanged, in a micropython driver that maps raw.githubusercontent.com to the local
  server (and refuses any other URL).

mip exits 0 even when a package is missing, so every installed file is compared with the
repository's. Then examples/echo.py, alone in an empty folder, runs on the installed files and
echoes text and binary to the CPython client.
"""

import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import threading

import support
from cpython_support import ROOT, MicroPythonProcess, find_micropython, micropython_env
from wsio import connect


def _load_make_manifests():
    spec = importlib.util.spec_from_file_location("make_manifests", os.path.join(ROOT, "scripts", "make_manifests.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_manifests = _load_make_manifests()


def expected_files():
    """{installed path: repository path} of every file the committed manifests list.

    (That they list every module is test_committed_manifests_are_up_to_date's job.)
    """
    files = {}
    for package in (make_manifests.CORE, make_manifests.PLATFORM):
        with open(os.path.join(ROOT, package, "package.json"), encoding="utf-8") as f:
            for target, url in json.load(f)["urls"]:
                files[target] = os.path.join(ROOT, package, url)
    return files


class _Server:
    """The repository root over HTTP on 127.0.0.1; `.overrides` maps URL paths to bytes served instead."""

    def __init__(self):
        self.port = support.free_port()
        self.requested = []
        self.overrides = overrides = {}
        requested = self.requested

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=ROOT, **kwargs)

            def do_GET(self):
                requested.append(self.path)
                body = overrides.get(self.path)
                if body is None:
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
        return False


def check_installed(target, output):
    assert "not found" not in output.lower(), output
    missing, differ = [], []
    for installed, source in sorted(expected_files().items()):
        path = os.path.join(target, installed)
        if not os.path.isfile(path):
            missing.append(installed)
            continue
        with open(path, "rb") as a, open(source, "rb") as b:
            if a.read() != b.read():
                differ.append(installed)
    assert not missing, "not installed: %s\nmip said:\n%s" % (missing, output)
    assert not differ, "installed files differ from the repository: %s" % differ


async def echo_on_installed_library(micropython, lib, tmp_path):
    """examples/echo.py, copied alone into an empty folder, serves from `lib` and echoes."""
    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "echo.py"), workdir / "echo.py")
    port = support.free_port()
    cmd = [micropython, "echo.py", "--port", str(port)]
    with MicroPythonProcess(cmd, cwd=str(workdir), env=micropython_env(str(lib))) as mp:
        mp.wait_for_port(port)
        async with connect("ws://127.0.0.1:%d/echo" % port) as ws:
            await ws.send("héllo wörld ✓")
            assert await ws.receive() == "héllo wörld ✓"
            small = bytes([0, 1, 2, 253, 254, 255])
            await ws.send(small)
            assert await ws.receive() == small
            big = bytes((i * 31 + 7) & 255 for i in range(100_000))
            await ws.send(big)
            assert await ws.receive() == big
        assert mp.alive(), mp.output


def install(command, cwd, target):
    """Run a micropython mip install command (offline, 2 minutes at most) and check what it put in ``target``."""
    done = subprocess.run(
        command,
        cwd=str(cwd),
        env=micropython_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    check_installed(str(target), done.stdout)


def test_committed_manifests_are_up_to_date():
    stale = []
    for path, manifest in make_manifests.manifests().items():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            if f.read() != make_manifests.render(manifest):
                stale.append(path)
    assert not stale, "run `python scripts/make_manifests.py`; out of date: %s" % stale


def test_published_manifests_name_the_repository_once():
    repo, branch = make_manifests.REPO, make_manifests.BRANCH
    published = make_manifests.manifests()
    assert published["package.json"]["deps"] == [["github:%s/packages/ws-micropython" % repo, branch]]
    assert published["packages/ws-micropython/package.json"]["deps"] == [["github:%s/packages/ws-core" % repo, branch]]
    assert "deps" not in published["packages/ws-core/package.json"]
    # Every file path is relative to its manifest: a fork only changes REPO.
    for manifest in published.values():
        for _, url in manifest["urls"]:
            assert not url.startswith(("http:", "https:", "github:", "/", "..")), url


async def test_mip_cli_install_over_http_then_echo(tmp_path):
    micropython = find_micropython()
    target = tmp_path / "lib"
    with _Server() as server:
        for path, manifest in make_manifests.manifests(base=server.base).items():
            server.overrides["/" + path] = make_manifests.render(manifest).encode()
        url = server.base + "/packages/ws-micropython/package.json"
        install([micropython, "-m", "mip", "install", "--target", str(target), url], tmp_path, target)
        assert "/packages/ws-core/package.json" in server.requested, server.requested
    await echo_on_installed_library(micropython, target, tmp_path)


DRIVER = """
import sys
import mip
import requests

repo, local, target = sys.argv[1], sys.argv[2], sys.argv[3]
_get = requests.get


def get(url, *args, **kwargs):
    # What mip asks of GitHub, answered by the local server; anything else is refused.
    for ref in ("HEAD", "main"):
        prefix = "https://raw.githubusercontent.com/%s/%s/" % (repo, ref)
        if url.startswith(prefix):
            return _get(local + "/" + url[len(prefix):], *args, **kwargs)
    raise OSError("offline test: refused to fetch " + url)


requests.get = get
mip.install("github:" + repo, target=target)
"""


async def test_mip_install_github_form_offline_then_echo(tmp_path):
    micropython = find_micropython()
    target = tmp_path / "lib"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    with _Server() as server:  # the committed manifests, unchanged
        install([micropython, str(driver), make_manifests.REPO, server.base, str(target)], tmp_path, target)
        # `github:org/ws-micropython` is the root manifest at the default branch (HEAD); its
        # deps name the branch (main).
        for path in ("/package.json", "/packages/ws-micropython/package.json", "/packages/ws-core/package.json"):
            assert path in server.requested, server.requested
    await echo_on_installed_library(micropython, target, tmp_path)
