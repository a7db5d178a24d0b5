"""Security options and defaults: allowed_origins, max_connections, TLS verification, quiet logs.

Both interpreters, except where a test names the CPython feature it needs. The default client
context rejecting an untrusted certificate is tests/test_server_tls.py's; here the host name
check of the default context is proven too.
"""

import asyncio
import random

from wsio import App, InvalidStatus, connect, with_websocket
from wscore.aio import runtime

import support
import wire
from wire import (
    OP_CLOSE,
    OP_TEXT,
    client_frame,
    close_payload,
    close_writer,
    echo_and_close,
    parse_response,
    read_frame,
    read_until_close,
    serving,
    upgrade,
    upgrade_request,
)


def echo_app(**options):
    options.setdefault("ping_interval", None)
    app = wire.echo_app(**options)

    @app.route("/")
    async def index(request):
        return "index"

    return app


async def read_response(reader, timeout=5):
    """Everything until the server closes, robust to a reset after the response.

    A server that answers without reading the request (503) closes a socket with unread bytes,
    which sends an RST; MicroPython's stream ``read(n)`` then raises ECONNRESET and drops what
    it had read, so read with ``readinto`` there.
    """

    async def collect():
        data = bytearray()
        buf = bytearray(4096)
        while True:
            try:
                if support.ON_MICROPYTHON:
                    n = await reader.readinto(buf)
                    chunk = buf[:n]
                else:
                    chunk = await reader.read(4096)
            except OSError:
                break
            if not chunk:
                break
            data.extend(chunk)
        return bytes(data)

    return await asyncio.wait_for(collect(), timeout)


async def upgrade_status(port, extra=()):
    """Send an upgrade request with ``extra`` headers; the status, and the raw connection if 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(upgrade_request(port, extra=extra))
    await writer.drain()
    head = bytearray()
    try:
        while not head.endswith(b"\r\n\r\n"):
            byte = await asyncio.wait_for(reader.read(1), 5)
            if not byte:
                break
            head.extend(byte)
    except OSError:
        pass
    status = parse_response(bytes(head))[0] if head.endswith(b"\r\n\r\n") else None
    if status == 101:
        return status, (reader, writer)
    await close_writer(writer)
    return status, None


async def echo_over(conn, message=b"hello"):
    await echo_and_close(conn[0], conn[1], message)


# ---- allowed_origins ---------------------------------------------------------------------------


async def test_allowed_origins_refuses_foreign_and_missing_origins_with_403():
    app = echo_app(allowed_origins=["https://good.example"])
    async with serving(app) as port:
        for origin in ("https://evil.example", "https://good.example.evil.example", "http://good.example", "null"):
            status, _ = await upgrade_status(port, [("Origin", origin)])
            assert status == 403, origin
        status, _ = await upgrade_status(port)  # no Origin at all: refused too
        assert status == 403
        status, conn = await upgrade_status(port, [("Origin", "https://good.example")])
        assert status == 101
        await echo_over(conn)
        # Our own client reports the refusal as InvalidStatus.
        with support.raises(InvalidStatus) as caught:
            await connect("ws://127.0.0.1:%d/echo" % port, origin="https://evil.example").open()
        assert caught.value.status == 403
        async with connect("ws://127.0.0.1:%d/echo" % port, origin="https://good.example") as ws:
            await ws.send("ok")
            assert await ws.receive() == "ok"


async def test_allowed_origins_with_none_accepts_clients_that_send_no_origin():
    # Non-browser clients send no Origin; list None to let them in while refusing foreign pages.
    app = echo_app(allowed_origins=["https://good.example", None])
    async with serving(app) as port:
        status, conn = await upgrade_status(port)
        assert status == 101
        await echo_over(conn)
        status, _ = await upgrade_status(port, [("Origin", "https://evil.example")])
        assert status == 403


async def test_default_admits_its_own_pages_and_non_browsers_but_not_other_sites():
    # allowed_origins=None: same origin as the Host, or no Origin at all (not a browser).
    async with serving(echo_app()) as port:
        for origin in ("http://127.0.0.1:%d" % port, "https://127.0.0.1:%d" % port, None):
            status, conn = await upgrade_status(port, [("Origin", origin)] if origin else [])
            assert status == 101, origin
            await echo_over(conn)
        for origin in ("https://evil.example", "http://127.0.0.1:%d" % (port + 1), "http://127.0.0.1", "null"):
            status, _ = await upgrade_status(port, [("Origin", origin)])
            assert status == 403, origin


async def test_star_admits_every_origin():
    async with serving(echo_app(allowed_origins="*")) as port:
        for origin in ("https://anywhere.example", "null"):
            status, conn = await upgrade_status(port, [("Origin", origin)])
            assert status == 101, origin
            await echo_over(conn)


# ---- max_connections ---------------------------------------------------------------------------


async def test_max_connections_answers_503_beyond_the_limit_and_a_close_frees_a_slot():
    app = echo_app(max_connections=2)
    async with serving(app) as port:
        first = await upgrade(port, "/echo")
        second = await upgrade(port, "/echo")
        try:
            for _ in range(5):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(upgrade_request(port))
                    await writer.drain()
                    status, headers, body = parse_response(await read_response(reader))
                finally:
                    await close_writer(writer)
                assert status == 503
                assert headers["connection"] == "close"
            # Our own client reports it as InvalidStatus 503 (the server reads the request before
            # answering, so no RST makes the client lose the answer).
            for _ in range(5):
                with support.raises(InvalidStatus) as caught:
                    await connect("ws://127.0.0.1:%d/echo" % port).open()
                assert caught.value.status == 503
            # Plain HTTP requests count too: they get 503 while both slots are taken.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert parse_response(await read_response(reader))[0] == 503
            await close_writer(writer)
            # The two open connections are unaffected.
            for conn in (first, second):
                conn[1].write(client_frame(OP_TEXT, b"alive"))
                await conn[1].drain()
                assert await read_frame(conn[0]) == (OP_TEXT, b"alive")
            # Closing one frees its slot.
            await echo_over(first)
            await support.wait_until(lambda: app._held() == 1, timeout=5)
            status, conn = await upgrade_status(port)
            assert status == 101
            await echo_over(conn)
        finally:
            await close_writer(first[1])
            await close_writer(second[1])


async def test_max_connections_slots_held_by_slow_heads_free_at_the_handshake_timeout():
    app = echo_app(max_connections=2, handshake_timeout=0.3)
    async with serving(app) as port:
        idle = []
        for _ in range(2):
            idle.append(await asyncio.open_connection("127.0.0.1", port))
        try:
            await support.wait_until(lambda: len(app._connections) == 2, timeout=5)
            status, _ = await upgrade_status(port)
            assert status == 503  # both slots held by clients that send nothing
            await support.wait_until(lambda: not app._connections, timeout=5)
            status, conn = await upgrade_status(port)
            assert status == 101
            await echo_over(conn)
        finally:
            for _, writer in idle:
                await close_writer(writer)


def test_limits_and_timeouts_have_finite_defaults():
    app = App()
    o = app.options
    assert o.max_size == 1 << 20 and o.max_queue == 16
    assert o.max_head_size == 8192 and o.max_body_size == 16384
    assert o.handshake_timeout == 10 and o.close_timeout == 5
    assert o.ping_interval == 20 and o.ping_timeout == 20
    # Unbounded unless the application sets them (documented): allowed_origins and
    # max_connections depend on the deployment; idle_timeout is left to keepalive.
    assert o.allowed_origins is None and o.max_connections is None and o.idle_timeout is None


def test_sizes_and_counts_out_of_range_are_refused_at_once():
    # A negative fragment_size never finished splitting the first message sent (the event
    # loop hung); a max_queue of 0 would never read. Refused when the App is made.
    for name, value in (("fragment_size", -1), ("fragment_size", 0), ("max_queue", 0), ("max_queue", None), ("max_size", -1), ("max_connections", 0), ("max_head_size", 10), ("max_body_size", 1.5)):
        with support.raises(ValueError, contains=name):
            App(**{name: value})
    app = App(fragment_size=1, max_size=None, max_body_size=0, max_connections=None)
    assert app.options.fragment_size == 1 and app.options.max_size is None


def test_times_that_are_no_number_of_seconds_are_refused_at_once():
    # handshake_timeout="10" was taken, and then every connection failed with TypeError.
    for name, value in (("handshake_timeout", "10"), ("ping_interval", -1), ("close_timeout", True), ("idle_timeout", [])):
        with support.raises(ValueError, contains=name):
            App(**{name: value})
    app = App(handshake_timeout=None, ping_interval=0, ping_timeout=0.5, idle_timeout=3)
    assert app.options.handshake_timeout is None and app.options.ping_timeout == 0.5


# ---- TLS: the default client context checks host names ---------------------------------------


@support.skip_on_micropython("SSL_CERT_FILE and a system trust store are CPython's; MicroPython's default context has no CA (test_server_tls.py)")
async def test_default_client_context_verifies_the_host_name():
    import os
    import ssl
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        # A certificate for the name localhost only, not for the address 127.0.0.1.
        cmd = (
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            " -keyout {d}/key.pem -out {d}/cert.pem -days 2 -subj /CN=localhost"
            " -addext subjectAltName=DNS:localhost"
        ).format(d=folder)
        if subprocess.run(cmd, shell=True, capture_output=True).returncode != 0:
            support.skip("the openssl command is not available to make a test certificate")
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(folder + "/cert.pem", folder + "/key.pem")
        saved = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = folder + "/cert.pem"  # the default context trusts it now
        try:
            async with serving(echo_app(), ssl=server) as port:
                async with connect("wss://localhost:%d/echo" % port, close_timeout=0.5) as ws:
                    await ws.send("trusted")
                    assert await ws.receive() == "trusted"
                with support.raises(ssl.SSLCertVerificationError) as caught:
                    await connect("wss://127.0.0.1:%d/echo" % port, open_timeout=5).open()
                assert "mismatch" in str(caught.value) or "match" in str(caught.value)
        finally:
            if saved is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = saved


# ---- logs carry no payloads, headers or query strings -----------------------------------------


class Recorder:
    """What our code logs, through the platform hooks (both interpreters)."""

    def __init__(self):
        self.lines = []

    def __enter__(self):
        impl = runtime.impl
        self._saved = (impl.log, impl.log_exception)
        impl.log = lambda message: self.lines.append(message)
        impl.log_exception = lambda message, exc: self.lines.append(message + " | " + repr(exc))
        return self

    def __exit__(self, *exc):
        runtime.impl.log, runtime.impl.log_exception = self._saved
        return False


def secret_app(close_timeout=0.3):
    app = App(ping_interval=None, close_timeout=close_timeout)

    @app.route("/ws-raise")
    @with_websocket
    async def ws_raise(request, ws):
        message = await ws.receive()  # the payload is in scope when the handler fails
        assert message
        raise ValueError("handler failed")

    @app.route("/http-raise")
    async def http_raise(request):
        token = request.headers.get("Authorization")
        assert token
        raise RuntimeError("route failed")

    @app.route("/stuck")
    @with_websocket
    async def stuck(request, ws):
        try:
            await ws.receive()
        except asyncio.CancelledError:
            await asyncio.sleep(1)  # outlives close_timeout: the server logs it

    return app


async def exercise_with_secrets(port, secrets):
    payload, token, query = secrets
    auth = [("Authorization", "Bearer " + token), ("Cookie", "session=" + token)]
    # 1. A WebSocket handler raises with the payload in scope: 1011, traceback logged.
    reader, writer = await upgrade(port, "/ws-raise?key=" + query, extra=auth)
    writer.write(client_frame(OP_TEXT, payload.encode()))
    await writer.drain()
    code, reason, _ = await read_until_close(reader)
    assert code == 1011 and payload not in reason and "handler failed" not in reason
    await close_writer(writer)
    # 2. An HTTP route raises: 500 without the exception's text.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("GET /http-raise?key=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (query, token)).encode())
    await writer.drain()
    status, _, body = parse_response(await read_response(reader))
    await close_writer(writer)
    assert status == 500 and b"route failed" not in body and token.encode() not in body
    # 3. Protocol errors around the payload: invalid UTF-8 right after it (1007), and a frame
    #    with a reserved bit (1002): close reasons carry no data.
    rsv1 = bytes([0xC1]) + client_frame(OP_TEXT, payload.encode())[1:]
    for bad in (client_frame(OP_TEXT, payload.encode() + b"\xff"), rsv1):
        reader, writer = await upgrade(port, "/ws-raise?key=" + query, extra=auth)
        writer.write(bad)
        await writer.drain()
        code, reason, _ = await read_until_close(reader)
        assert code in (1002, 1007) and payload not in reason
        await close_writer(writer)
    # 4. A handler that outlives its connection: the server logs its path, not the query.
    reader, writer = await upgrade(port, "/stuck?key=" + query, extra=auth)
    writer.write(client_frame(OP_CLOSE, close_payload(1000, payload[:50])))
    await writer.drain()
    await read_until_close(reader)
    await close_writer(writer)


async def test_our_log_lines_carry_no_payload_header_or_query():
    n = random.getrandbits(30)
    secrets = ("payload-%d" % n, "token-%d" % n, "query-%d" % n)
    app = secret_app()
    with Recorder() as recorder:
        async with serving(app) as port:
            await exercise_with_secrets(port, secrets)
            await support.wait_until(lambda: any("still running" in line for line in recorder.lines), timeout=5)
    # The failures were logged (so the check below is not vacuous) ...
    assert any(line.startswith("error in handler of /ws-raise |") for line in recorder.lines), recorder.lines
    assert any(line.startswith("error in handler of /http-raise |") for line in recorder.lines), recorder.lines
    # ... and no line has the message, the credentials or the query string.
    for line in recorder.lines:
        for secret in secrets:
            assert secret not in line, (secret, line)


@support.skip_on_micropython("MicroPython has no logging module: wsio prints, and the Recorder test covers what it prints")
async def test_wsio_logger_records_with_tracebacks_carry_no_payload_header_or_query():
    import logging

    n = random.getrandbits(30)
    secrets = ("payload-%d" % n, "token-%d" % n, "query-%d" % n)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("wsio")
    handler = Keep(logging.DEBUG)
    saved_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        async with serving(secret_app()) as port:
            await exercise_with_secrets(port, secrets)
            await support.wait_until(lambda: any("still running" in r.getMessage() for r in records), timeout=5)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    texts = [formatter.format(record) for record in records]  # message plus traceback
    assert any("ValueError: handler failed" in text for text in texts), texts
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
