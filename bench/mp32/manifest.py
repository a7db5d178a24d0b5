# Frozen into the 32-bit unix port of build.sh, as a board's firmware freezes them.
include("$(MPY_DIR)/extmod/asyncio")
require("argparse")
module("hashlib.py")  # sha1 in Python: the build has no TLS library, where the port's comes from
