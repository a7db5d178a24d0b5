"""What CPython's asyncio does differently: stdlib logging, ssl defaults, stream details."""

import asyncio
import logging
import ssl
import time

logger = logging.getLogger("wsio")

# A large read lets a 1 MiB message arrive in a few chunks; the stream buffers this much at most.
_READ_SIZE = 1 << 18

monotonic = time.monotonic


async def read(reader):
    """The next chunk from the stream; ``b''`` at end of stream or after a reset."""
    try:
        return await reader.read(_READ_SIZE)
    except ConnectionResetError:
        return b""


async def write(writer, buffers):
    """Write ``buffers`` in order and wait until the transport drained below its high-water mark."""
    if len(buffers) == 1:
        writer.write(buffers[0])
    else:
        writer.writelines(buffers)
    await writer.drain()


async def close(writer):
    """Close the stream and wait for the socket to be released; errors are moot by now."""
    try:
        writer.close()
        await writer.wait_closed()
    except (OSError, asyncio.CancelledError, RuntimeError):
        pass


def peer_address(writer):
    """``(host, port)`` of the peer."""
    peer = writer.get_extra_info("peername")
    return (peer[0], peer[1]) if peer else None


async def open_connection(host, port, ssl_context, server_hostname):
    """Open a TCP (or TLS) connection; returns ``(reader, writer)``."""
    return await asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=server_hostname, limit=_READ_SIZE)


async def start_server(callback, host, port, ssl_context, backlog):
    """Listen on ``host``:``port``; ``callback(reader, writer)`` serves each connection."""
    return await asyncio.start_server(callback, host, port, ssl=ssl_context, backlog=backlog, limit=_READ_SIZE)


def client_ssl_context():
    """The default client context: certificates and host names verified against the system store."""
    return ssl.create_default_context()


def log_exception(message, exc):
    """Log ``message`` with ``exc``'s traceback (logger ``wsio``, level ERROR)."""
    logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def log(message):
    """Log an operational message (logger ``wsio``, level WARNING)."""
    logger.warning(message)
