"""Type-check the packages for both platforms: `hatch run types:check` runs this.

1. CPython: packages/ws-core/src and packages/ws-cpython/src, with mypy's bundled typeshed.
2. MicroPython: packages/ws-core/src and packages/ws-micropython/src, against the MicroPython
   stubs. Those PyPI packages are not PEP 561 packages that mypy would find in site-packages,
   and MYPYPATH makes them shadow the stdlib; what works is a custom typeshed: the stdlib of
   micropython-stdlib-stubs plus the unix port's modules (socket, time, micropython, ...)
   copied into its stdlib/ folder and listed in VERSIONS. It is built once under
   .hatch/mp-typeshed-<versions>/ with `pip install --target`.

ws-core is checked twice on purpose: it must type-check against both platforms. The examples
are checked in both runs too (with their function bodies: check_untyped_defs in mypy.ini), as
users' application code against the public API.

A src/ folder with no Python files yet is left out, and a run with nothing to check says so
and passes (the packages start empty); the script fails only on mypy errors.
Extra arguments are passed to both mypy runs.
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MP_STUBS = ["micropython-unix-stubs==1.28.0.post1", "micropython-stdlib-stubs==1.28.0.post6"]
TYPESHED = os.path.join(ROOT, ".hatch", "mp-typeshed-" + "-".join(s.split("==")[1] for s in MP_STUBS))

RUNS = [
    ("cpython", ["packages/ws-core/src", "packages/ws-cpython/src"]),
    ("micropython", ["packages/ws-core/src", "packages/ws-micropython/src"]),
]
# Application code written against the public API, checked on both platforms as a user's would be.
EXAMPLES = "examples"


def python_packages(src):
    """Top-level package folders and modules under a src/ folder that contain Python code."""
    found = []
    path = os.path.join(ROOT, src)
    if not os.path.isdir(path):
        return found
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name.endswith((".py", ".pyi")):
            found.append(full)
        elif os.path.isdir(full) and any(
            f.endswith((".py", ".pyi")) for _, _, files in os.walk(full) for f in files
        ):
            found.append(full)
    return found


def build_micropython_typeshed():
    if os.path.isfile(os.path.join(TYPESHED, "stdlib", "VERSIONS")):
        return TYPESHED
    staging = TYPESHED + ".download"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(TYPESHED, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", staging, *MP_STUBS],
        check=True,
    )
    build = TYPESHED + ".build"
    shutil.rmtree(build, ignore_errors=True)
    stdlib = os.path.join(build, "stdlib")
    shutil.copytree(os.path.join(staging, "stdlib"), stdlib)
    shutil.copytree(os.path.join(staging, "stubs"), os.path.join(build, "stubs"))  # mypy-extensions
    with open(os.path.join(stdlib, "VERSIONS"), encoding="utf-8") as f:
        listed = {line.split(":")[0].strip() for line in f if ":" in line and not line.startswith("#")}
    added = []
    for name in sorted(os.listdir(staging)):
        if name in ("stdlib", "stubs", "__pycache__", "__builtins__.pyi") or name.endswith(".dist-info"):
            continue
        if os.path.exists(os.path.join(stdlib, name)):
            continue  # the stdlib stubs already have it
        source = os.path.join(staging, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(stdlib, name))
        else:
            shutil.copy2(source, os.path.join(stdlib, name))
        module = name[:-4] if name.endswith(".pyi") else name
        if module not in listed:
            added.append(module)
    with open(os.path.join(stdlib, "VERSIONS"), "a", encoding="utf-8") as f:
        f.write("# MicroPython unix port modules (added by scripts/typecheck.py)\n")
        for module in added:
            f.write("%s: 3.0-\n" % module)
    shutil.rmtree(staging)
    os.replace(build, TYPESHED)
    return TYPESHED


def main(argv):
    failed = False
    for platform, sources in RUNS:
        targets = [p for src in sources for p in python_packages(src)] + python_packages(EXAMPLES)
        if not targets:
            print("mypy (%s): nothing to check yet: no Python files under %s" % (platform, ", ".join(sources)))
            continue
        cmd = [sys.executable, "-m", "mypy", "--config-file", os.path.join(ROOT, "mypy.ini")]
        if platform == "micropython":
            cmd += ["--custom-typeshed-dir", build_micropython_typeshed(), "--no-site-packages"]
        cmd += argv + targets
        env = dict(os.environ, MYPYPATH=os.pathsep.join(os.path.join(ROOT, s) for s in sources))
        print("mypy (%s): %s" % (platform, " ".join(os.path.relpath(t, ROOT) for t in targets)), flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        failed = failed or rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
