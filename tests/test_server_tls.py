"""wss:// over loopback with a self-signed certificate made at test time by the `openssl` command.

CPython loads PEM, MicroPython (mbedTLS) only DER: both are written. `os.system` runs openssl on
both interpreters (the MicroPython unix port has it).
"""

import asyncio
import os
import random

try:
    import ssl
except ImportError:  # a MicroPython build without TLS (bench/mp32's 32-bit port, some boards)
    ssl = None

from wsio import HandshakeError, InvalidStatus, connect, with_websocket

import support
import wire
from wire import serving

OPENSSL = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    " -keyout {d}/key.pem -out {d}/cert.pem -days 2 -subj /CN=localhost"
    ' -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"'
    " && openssl x509 -in {d}/cert.pem -outform DER -out {d}/cert.der"
    " && openssl pkey -in {d}/key.pem -outform DER -out {d}/key.der"
)

_made = []


def certificate_dir():
    """A folder with cert.pem/key.pem/cert.der/key.der for localhost, made once per run."""
    if ssl is None:
        support.skip("this MicroPython build has no ssl module (built without TLS)")
    if _made:
        return _made[0]
    folder = "%s/wsio-tls-%d" % (os.getenv("TMPDIR") or "/tmp", random.getrandbits(30))
    os.mkdir(folder)
    if os.system("(" + OPENSSL.format(d=folder) + ") >/dev/null 2>&1") != 0:
        support.skip("the openssl command is not available to make a test certificate")
    _made.append(folder)
    return folder


def remove_certificates():
    for folder in _made:
        for name in ("cert.pem", "key.pem", "cert.der", "key.der"):
            try:
                os.remove(folder + "/" + name)
            except OSError:
                pass
        try:
            os.rmdir(folder)
        except OSError:
            pass


def server_context(folder):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if support.ON_MICROPYTHON:
        ctx.load_cert_chain(folder + "/cert.der", folder + "/key.der")
    else:
        ctx.load_cert_chain(folder + "/cert.pem", folder + "/key.pem")
    return ctx


def client_context(folder):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=folder + ("/cert.der" if support.ON_MICROPYTHON else "/cert.pem"))
    return ctx


def echo_app():
    app = wire.echo_app(close_timeout=0.5, ping_interval=None)

    @app.route("/scheme")
    @with_websocket
    async def scheme(request, ws):
        await ws.send(request.headers.get("Host"))

    return app


async def test_wss_echo_with_a_trusted_self_signed_certificate():
    folder = certificate_dir()
    async with serving(echo_app(), ssl=server_context(folder)) as port:
        uri = "wss://localhost:%d/echo" % port
        async with connect(uri, ssl=client_context(folder), close_timeout=0.5) as ws:
            await ws.send("h\u00e9llo over TLS")
            assert await ws.receive() == "h\u00e9llo over TLS"
            data = bytes(range(256)) * 400  # 100 KiB: many TLS records
            await ws.send(data)
            assert await ws.receive() == data
        assert ws.close_code == 1000


async def test_wss_host_header_and_close():
    folder = certificate_dir()
    async with serving(echo_app(), ssl=server_context(folder)) as port:
        async with connect("wss://localhost:%d/scheme" % port, ssl=client_context(folder), close_timeout=0.5) as ws:
            assert await ws.receive() == "localhost:%d" % port
            await support.wait_until(lambda: ws.closed, timeout=5)
            assert ws.close_code == 1000


async def test_default_client_context_rejects_a_self_signed_certificate():
    folder = certificate_dir()
    async with serving(echo_app(), ssl=server_context(folder)) as port:
        uri = "wss://localhost:%d/echo" % port
        if support.ON_MICROPYTHON:
            # No trust store: mbedTLS fails the handshake (lazily, on the first write or read).
            expected = (OSError, ValueError)
        else:
            expected = ssl.SSLCertVerificationError
        baseline = support.open_fds()
        for _ in range(3):
            with support.raises(expected) as caught:
                ws = await connect(uri, open_timeout=5).open()
                await ws.close()
            assert caught.value.args
        # The failed connections' sockets are released on both ends.
        await support.settle_fds(baseline, "a failed TLS connection kept its socket")


async def test_plain_client_against_tls_server_fails_cleanly():
    folder = certificate_dir()
    async with serving(echo_app(), ssl=server_context(folder)) as port:
        baseline = support.open_fds()
        for _ in range(3):
            # The server's TLS layer rejects the clear-text request and hangs up at once.
            with support.raises((HandshakeError, OSError)) as caught:
                await connect("ws://localhost:%d/echo" % port, open_timeout=5).open()
            assert not isinstance(caught.value, InvalidStatus)  # no HTTP answer in clear text
        await support.settle_fds(baseline, "a failed TLS connection kept its socket")
        # The server still serves TLS clients afterwards.
        async with connect("wss://localhost:%d/echo" % port, ssl=client_context(folder), close_timeout=0.5) as ws:
            await ws.send("after")
            assert await ws.receive() == "after"


async def test_peers_that_never_start_tls_are_dropped_at_handshake_timeout_even_over_the_limit():
    # Over max_connections the server answers 503, which over TLS waits for a handshake that a
    # silent peer never makes; on CPython the TLS handshake comes before the App sees anything.
    folder = certificate_dir()
    app = wire.echo_app(close_timeout=0.5, ping_interval=None, handshake_timeout=0.5, max_connections=1)
    async with serving(app, ssl=server_context(folder)) as port:
        silent = []
        for _ in range(4):
            silent.append(await asyncio.open_connection("127.0.0.1", port))
        try:
            for reader, _ in silent:
                await wire.read_until_eof(reader, timeout=5)  # fails if the socket is held
        finally:
            for _, writer in silent:
                await wire.close_writer(writer)
        async with connect("wss://localhost:%d/echo" % port, ssl=client_context(folder), close_timeout=0.5) as ws:
            await ws.send("served after them")
            assert await ws.receive() == "served after them"


def test_zz_remove_certificates():
    remove_certificates()
    assert all(not _exists(folder) for folder in _made)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False
