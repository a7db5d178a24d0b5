"""The opening handshake, server side and client side (RFC 6455 section 4). No I/O."""

import binascii
import hashlib
import os

from .constants import ACCEPT_GUID
from .errors import (
    HandshakeError,
    InvalidAccept,
    InvalidExtension,
    InvalidStatus,
    InvalidSubprotocol,
    InvalidUpgrade,
)
from .http import header_tokens, is_decimal, is_http11, is_token, response_head

# What a 426 carries: the protocol to upgrade to (RFC 9110 section 15.5.22) and its version.
_UPGRADE_REQUIRED = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")]


def accept_key(key):
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key`` (a str)."""
    digest = hashlib.sha1(key.encode("ascii") + ACCEPT_GUID).digest()
    return str(binascii.b2a_base64(digest)[:-1], "ascii")


_BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _is_valid_key(key):
    # 16 bytes in base64 (RFC 6455 4.2.1): 22 characters of the alphabet and "==". Unused low
    # bits in the last character are accepted, as every peer does: the key is only hashed.
    if len(key) != 24 or not key.endswith("==") or key[:22].strip(_BASE64_ALPHABET):
        return False
    try:
        return len(binascii.a2b_base64(key.encode("ascii"))) == 16
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError; MicroPython has no binascii.Error
        return False


def check_request(request, subprotocols=None):
    """Validate an upgrade request (a ``RequestHead``); return ``(key, subprotocol)``.

    ``subprotocols`` lists what the server supports, in order of preference; the first one the
    client also offers is chosen (None when there is no match). Raises ``HandshakeError`` with
    the status to answer: 405 for a method other than GET, 400 for a malformed upgrade, 426 for a
    request that is not an upgrade at all or asks for another protocol version.
    """
    headers = request.headers
    if request.method != "GET" and not (request.method == "HEAD" and headers.get("Upgrade") is None):
        # (A HEAD gets what a GET without an upgrade gets, 426, as a head: RFC 9110 9.3.2.)
        raise HandshakeError("WebSocket upgrade needs GET, not %s" % request.method, 405, [("Allow", "GET")])
    if not is_http11(request.version):
        raise HandshakeError("WebSocket upgrade needs HTTP/1.1, not %s" % request.version, 400)
    upgrade = headers.get("Upgrade")
    if upgrade is None:
        raise HandshakeError("this resource speaks WebSocket only: send an Upgrade: websocket request", 426, list(_UPGRADE_REQUIRED))
    if "websocket" not in header_tokens(upgrade):
        raise HandshakeError("Upgrade header must be 'websocket', not %r" % upgrade, 400)
    if "upgrade" not in header_tokens(headers.get("Connection")):
        raise HandshakeError("Connection header must contain 'upgrade'", 400)
    if not headers.get("Host"):
        raise HandshakeError("missing Host header", 400)
    version = headers.get("Sec-WebSocket-Version")
    if version != "13":
        raise HandshakeError("unsupported Sec-WebSocket-Version %r: only 13 is supported" % version, 426, list(_UPGRADE_REQUIRED))
    key = headers.get("Sec-WebSocket-Key")
    if key is None:
        raise HandshakeError("missing Sec-WebSocket-Key header", 400)
    if not _is_valid_key(key):
        raise HandshakeError("Sec-WebSocket-Key must be 16 bytes in base64", 400)
    chosen = None
    if subprotocols:
        # Compared exactly: the client must get back one of the values it sent (RFC 6455 4.1).
        offered = header_tokens(headers.get("Sec-WebSocket-Protocol"), lower=False)
        for name in subprotocols:
            if name in offered:
                chosen = name
                break
    return key, chosen


def _without_port(authority, port):
    suffix = ":" + port
    return authority[: -len(suffix)] if authority.endswith(suffix) else authority


def is_same_origin(origin, host):
    """True when ``origin`` (an Origin header) names the same host and port as ``host`` (Host)."""
    scheme, sep, authority = origin.partition("://")
    if not sep or not host:
        return False  # "null" (sandboxed frames, file: pages) or garbage
    default_port = "443" if scheme.lower() in ("https", "wss") else "80"
    return _without_port(authority.lower().rstrip("/"), default_port) == _without_port(host.lower(), default_port)


def origin_allowed(origin, host, allowed=None):
    """Whether a request with ``Origin: origin`` (None when absent) and ``Host: host`` may upgrade.

    ``allowed`` None, the default, admits requests without an Origin (clients that are not
    browsers) and pages of the same origin as the server, so a page of another site cannot
    open a WebSocket with the user's cookies (cross-site WebSocket hijacking). ``"*"`` admits
    every origin; a list admits exactly its origins (``None`` in it admits requests without one).
    """
    if allowed == "*":
        return True
    if allowed is None:
        return origin is None or is_same_origin(origin, host)
    return origin in allowed


def accept_response(key, subprotocol=None, extra_headers=()):
    """The ``101 Switching Protocols`` response head for a valid request."""
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key))]
    if subprotocol:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    headers.extend(extra_headers)
    return response_head(101, headers)


def reject_response(status, reason, headers=()):
    """A complete HTTP error response whose plain-text body is ``reason``; it closes the connection."""
    body = (reason + "\n").encode("utf-8")
    all_headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), ("Connection", "close")]
    all_headers.extend(headers)
    return response_head(status, all_headers) + body


def _quote_resource(resource):
    """``resource`` with every byte outside visible ASCII percent-encoded: a request target has
    no spaces, controls or raw non-ASCII (RFC 3986), and a CR or LF would start a header line."""
    raw = resource.encode("utf-8")
    for byte in raw:
        if not 0x21 <= byte <= 0x7E:
            break
    else:
        return resource
    return "".join(chr(b) if 0x21 <= b <= 0x7E else "%%%02X" % b for b in raw)


def parse_uri(uri):
    """Split a ``ws://`` or ``wss://`` URI into ``(secure, host, port, resource)``.

    The scheme is case-insensitive; the resource comes percent-encoded where it needs to be.
    Raises ``ValueError`` for anything else.
    """
    scheme = uri[:6].lower()
    if scheme.startswith("ws://"):
        secure, rest = False, uri[5:]
    elif scheme == "wss://":
        secure, rest = True, uri[6:]
    else:
        raise ValueError("not a WebSocket URI (ws:// or wss://): %r" % uri)
    slash = rest.find("/")
    query = rest.find("?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    authority, resource = rest[:cut], rest[cut:]
    if not resource.startswith("/"):
        resource = "/" + resource
    if "@" in authority:
        raise ValueError("credentials in WebSocket URIs are not supported")
    if "#" in uri:
        raise ValueError("WebSocket URIs may not have a fragment (RFC 6455 section 3): %r" % uri)
    port = 443 if secure else 80
    if authority.startswith("["):
        close = authority.find("]")
        after = authority[close + 1 :]
        if close < 0 or (after and not after.startswith(":")):
            raise ValueError("malformed IPv6 address in WebSocket URI: %r" % uri)
        host = authority[1:close]
        if after:
            port = _port(after[1:], uri)
    elif authority.count(":") > 1:
        raise ValueError("an IPv6 address in a URI goes in brackets ([::1]): %r" % uri)
    elif ":" in authority:
        host, port_text = authority.split(":")
        port = _port(port_text, uri)
    else:
        host = authority
    if not host:
        raise ValueError("WebSocket URI without a host: %r" % uri)
    if not 0 < port < 65536:
        raise ValueError("port out of range in WebSocket URI: %r" % uri)
    return secure, host, port, _quote_resource(resource)


def _port(text, uri):
    if not is_decimal(text):
        raise ValueError("malformed port in WebSocket URI: %r" % uri)
    return int(text)


def _ascii_host(host):
    """``host`` as it goes into ``Host``: an internationalized name in IDNA (``xn--``) where the
    interpreter has the codec (CPython); as it is where it has not (MicroPython)."""
    try:
        host.encode("ascii")
        return host
    except UnicodeError:
        pass
    try:
        return str(host.encode("idna"), "ascii")
    except (LookupError, UnicodeError):
        return host


# Request headers the handshake writes itself, which ``headers`` may not set.
_HANDSHAKE_FIELDS = ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions")


def _check_field(name, value):
    """Refuse a request header that would not be one: a name that is no token, a value with
    CR, LF or NUL (it would end the line and start another, RFC 9110 section 5.5)."""
    if not is_token(name) or "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError("invalid request header %r: %r" % (name, value))


class ClientHandshake:
    """Builds the client's upgrade request and checks the server's answer."""

    def __init__(self, host, port, resource="/", secure=False, subprotocols=None, origin=None, headers=()):
        self.key = str(binascii.b2a_base64(os.urandom(16))[:-1], "ascii")
        self.subprotocols = list(subprotocols or [])
        host_header = "[%s]" % host if ":" in host else _ascii_host(host)
        if port != (443 if secure else 80):
            host_header = "%s:%d" % (host_header, port)
        fields = [
            ("Host", host_header),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key),
            ("Sec-WebSocket-Version", "13"),
        ]
        for name in self.subprotocols:
            if not is_token(name):
                raise ValueError("a subprotocol name is a token (RFC 6455 section 4.1), not %r" % name)
        if self.subprotocols:
            fields.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        if origin:
            fields.append(("Origin", origin))
        extra = list(headers.items() if isinstance(headers, dict) else headers)
        for name, value in [("Origin", origin or "")] + extra:
            _check_field(name, value)
            if name.lower() in _HANDSHAKE_FIELDS:
                raise ValueError("the %s header is the handshake's own (subprotocols= sets Sec-WebSocket-Protocol)" % name)
        # An extra Host or Origin replaces ours: a request with two is refused (RFC 9112 3.2).
        replaced = [name.lower() for name, _ in extra]
        fields = [field for field in fields if field[0].lower() not in replaced] + extra
        lines = ["GET %s HTTP/1.1" % resource] + ["%s: %s" % f for f in fields] + ["", ""]
        self.request = "\r\n".join(lines).encode("utf-8")

    def check_response(self, status, headers, body=b""):
        """Validate the response (status and ``Headers``); return the chosen subprotocol or None.

        Raises ``InvalidStatus`` (carrying status, headers and body), ``InvalidUpgrade``,
        ``InvalidAccept``, ``InvalidSubprotocol`` or ``InvalidExtension``.
        """
        if status != 101:
            raise InvalidStatus(status, headers, body)
        if "websocket" not in header_tokens(headers.get("Upgrade")):
            raise InvalidUpgrade("response Upgrade header is %r, not 'websocket'" % headers.get("Upgrade"))
        if "upgrade" not in header_tokens(headers.get("Connection")):
            raise InvalidUpgrade("response Connection header is %r, without 'upgrade'" % headers.get("Connection"))
        if headers.get("Sec-WebSocket-Accept") != accept_key(self.key):
            raise InvalidAccept("Sec-WebSocket-Accept does not match the key sent")
        if headers.get("Sec-WebSocket-Extensions"):
            raise InvalidExtension("server enabled an extension that was not offered: %s" % headers.get("Sec-WebSocket-Extensions"))
        chosen = headers.get("Sec-WebSocket-Protocol")
        if chosen is not None and chosen not in self.subprotocols:
            raise InvalidSubprotocol("server chose subprotocol %r, which was not offered" % chosen)
        return chosen
