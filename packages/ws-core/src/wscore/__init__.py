"""ws-core: the whole of RFC 6455 as a sans-I/O library, for CPython and MicroPython.

Modules, each with one job:

- ``constants``: opcodes, close codes, states;
- ``errors``: the exceptions users catch;
- ``utf8``: incremental, fail-fast UTF-8 validation;
- ``mask``: payload masking without per-byte Python loops;
- ``frames``: frame encoding and header decoding;
- ``protocol``: ``Connection``, the state machine of an open connection;
- ``http``: HTTP/1.1 heads, headers and query strings;
- ``handshake``: the opening handshake for servers and clients.

The asyncio layer shared by both platforms lives in ``wscore.aio``.
"""

__version__ = "0.1.0"
