# micropython: skip builds and pip-installs the CPython distributions; boards install with mip (test_mip_install_cpython.py)
"""`pip install ws-cpython` pulls ws-core and gives a working `wsio`, from the real wheels."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, cwd=None):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=300)


def test_ws_cpython_wheel_pulls_ws_core_and_imports():
    with tempfile.TemporaryDirectory() as tmp:
        wheels = os.path.join(tmp, "wheels")
        # ws-core as a wheel in a local folder stands in for the package index.
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, os.path.join(ROOT, "packages", "ws-core"))
        venv = os.path.join(tmp, "venv")
        run(sys.executable, "-m", "venv", venv)
        python = os.path.join(venv, "bin", "python")
        run(python, "-m", "pip", "install", "--quiet", "--find-links", wheels, os.path.join(ROOT, "packages", "ws-cpython"))
        listed = run(python, "-m", "pip", "list", "--format=freeze").stdout
        assert "ws-core==0.1.0" in listed and "ws-cpython==0.1.0" in listed
        # From a folder without the source tree, so the installed files are what is imported.
        probe = "import wsio, wscore; print(wsio.App.__name__, wsio.connect.__name__, wscore.__version__, wsio.__file__)"
        out = run(python, "-c", probe, cwd=tmp).stdout.split()
        assert out[:3] == ["App", "connect", "0.1.0"]
        assert "site-packages" in out[3]
