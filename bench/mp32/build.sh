#!/usr/bin/env bash
# A 32-bit build of MicroPython's unix port, for heap figures close to a board's.
#
#   bench/mp32/build.sh /path/to/micropython      # a checkout with lib/micropython-lib
#
# The unix port from PyPI is 64-bit: its objects and bytecode take up to twice what they take
# on an ESP32 or an RP2040. This builds the same port for 32-bit x86 (needs gcc-multilib) with
# asyncio, argparse and a Python hashlib.sha1 frozen in, as a board's firmware has them (the
# port takes sha1 from its TLS library, left out here), and copies it with its mpy-cross to
# bench/results/mp32/, with micropython-frozen, which also has the library frozen in
# (manifest_frozen.py). Then, for example (bench/README.md, "A 32-bit port"):
#
#   MICROPYPATH=packages/ws-core/src:packages/ws-micropython/src:.frozen \
#       bench/results/mp32/micropython -X heapsize=2M bench/mp_heap.py
#   .hatch/data/env/virtual/bench/bin/python bench/mp_small_heap.py --heap 120K --march x86 \
#       --micropython bench/results/mp32/micropython --mpy-cross bench/results/mp32/mpy-cross
#   .hatch/data/env/virtual/bench/bin/python bench/mp_small_heap.py --heap 64K --frozen \
#       --micropython bench/results/mp32/micropython-frozen
set -euo pipefail
SRC=$(cd "${1:?usage: build.sh MICROPYTHON_SOURCE}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$HERE/../results/mp32"
mkdir -p "$OUT"
make -C "$SRC/mpy-cross" -j2
build() {  # build() DIR MANIFEST: the 32-bit port with MANIFEST frozen in, into DIR
    make -C "$SRC/ports/unix" -j2 VARIANT=standard BUILD="$1" \
        CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 MPY_CROSS_FLAGS=-march=x86 \
        MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_MBEDTLS=0 \
        FROZEN_MANIFEST="$HERE/$2"
}
build build-wsio32 manifest.py
build build-wsio32-frozen manifest_frozen.py
cp "$SRC/ports/unix/build-wsio32/micropython" "$SRC/mpy-cross/build/mpy-cross" "$OUT/"
cp "$SRC/ports/unix/build-wsio32-frozen/micropython" "$OUT/micropython-frozen"
"$OUT/micropython" -c "import sys; print(sys.implementation._machine, 'maxsize', sys.maxsize)"
