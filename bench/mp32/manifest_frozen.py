# manifest.py, plus the library itself: its bytecode stays in the binary (flash on a board).
include("manifest.py")
package("wscore", base_path="../../packages/ws-core/src")
package("wsio", base_path="../../packages/ws-micropython/src")
