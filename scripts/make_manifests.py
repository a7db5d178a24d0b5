"""Write the mip manifests (package.json) of the repository from one place.

    python scripts/make_manifests.py            # rewrite the committed manifests
    python scripts/make_manifests.py --check    # exit 1 if they are out of date (a test runs this)

mip resolves the relative paths in a manifest's ``urls`` against the manifest's own URL, but a
dependency (``deps``) must be a full URL or a ``github:`` path: that is the only place where the
repository's name is needed. It is the constant ``REPO`` below (and the branch, ``BRANCH``):
a fork changes these two lines and runs this script. Three manifests are written:

- ``packages/ws-core/package.json``: every ``.py`` of ``wscore`` and ``wscore/aio``;
- ``packages/ws-micropython/package.json``: the ``wsio`` files, and a dep on ws-core;
- ``package.json`` (repository root): a dep on ws-micropython, so that
  ``mip install github:REPO`` installs everything.

``manifests(base)`` builds the same manifests with the deps pointing at another ``base`` (e.g.
``http://127.0.0.1:PORT`` serving the working tree): the offline install test uses it.
"""

import json
import os
import sys

REPO = "org/ws-micropython"
BRANCH = "main"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = "packages/ws-core"
PLATFORM = "packages/ws-micropython"


def _version():
    """The version of ws-core (``wscore.__version__``), shared by every manifest."""
    with open(os.path.join(ROOT, CORE, "src", "wscore", "__init__.py"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("make_manifests: no __version__ in wscore/__init__.py")


def _urls(package, top):
    """``[target path, path relative to the manifest]`` for every .py under ``package/src/top``."""
    src = os.path.join(ROOT, package, "src")
    found = []
    for folder, dirs, files in os.walk(os.path.join(src, top)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files:
            if name.endswith(".py"):
                target = os.path.relpath(os.path.join(folder, name), src).replace(os.sep, "/")
                found.append([target, "src/" + target])
    return sorted(found)


def _dep(base, package):
    """Where mip finds ``package``'s manifest: ``github:REPO/PATH`` or ``BASE/PATH/package.json``."""
    if base is None:
        return "github:%s/%s" % (REPO, package)
    return "%s/%s/package.json" % (base.rstrip("/"), package)


def manifests(base=None):
    """{path relative to the repository: manifest dict}; ``base`` None means the published form."""
    version = _version()
    return {
        CORE + "/package.json": {"urls": _urls(CORE, "wscore"), "version": version},
        PLATFORM + "/package.json": {
            "urls": _urls(PLATFORM, "wsio"),
            "deps": [[_dep(base, CORE), BRANCH]],
            "version": version,
        },
        "package.json": {"urls": [], "deps": [[_dep(base, PLATFORM), BRANCH]], "version": version},
    }


def render(manifest):
    """JSON text with one ``[target, url]`` pair a line, so diffs show added or removed files."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(item) for item in value)
            lines.append("  %s: [\n%s\n  ]" % (json.dumps(key), items))
        else:
            lines.append("  %s: %s" % (json.dumps(key), json.dumps(value)))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for path, manifest in manifests().items():
        full = os.path.join(ROOT, path)
        text = render(manifest)
        try:
            with open(full, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(path)
        if not check:
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
            print("wrote", path)
    if check and stale:
        print("out of date (run python scripts/make_manifests.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
