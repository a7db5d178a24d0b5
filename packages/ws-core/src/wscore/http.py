"""The small part of HTTP/1.1 that a WebSocket endpoint needs: heads, headers, queries. No I/O.

``HeadReader`` collects a request or response head from chunks of any size and enforces the
limits (line length, header count, total size) while it reads, so a client that sends an endless
line is stopped after ``max_line`` bytes, not after the buffer fills.
"""

from .errors import HandshakeError

STATUS_PHRASES = {
    101: "Switching Protocols",
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


# Optional whitespace around field values and list items (RFC 9110 section 5.6.3): only these
# two, not every character str.strip() takes (CPython's takes NEL and NBSP, bytes of Latin-1).
_OWS = " \t"


class Headers:
    """Case-insensitive HTTP headers that keep repeated fields and their order.

    Headers parsed from a head keep the head's text and find fields in it on demand: a request
    held for the life of a WebSocket then costs one string, not an object per field (heap on
    a board). ``add`` turns them into a list of pairs.
    """

    def __init__(self, items=None):
        self._items = []
        self._block = None
        if items:
            for name, value in items.items() if isinstance(items, dict) else items:
                self.add(name, value)

    @classmethod
    def _from_block(cls, block):
        """Headers over ``block``, header lines joined by CRLF, already validated."""
        headers = cls()
        headers._items = None
        headers._block = block
        return headers

    def _pairs(self):
        if self._items is not None:
            return self._items
        pairs = []
        for line in self._block.split("\r\n") if self._block else ():
            colon = line.find(":")
            pairs.append((line[:colon], line[colon + 1 :].strip(_OWS)))
        return pairs

    def add(self, name, value):
        """Append a field (repeats are kept)."""
        if self._items is None:
            self._items = self._pairs()
            self._block = None
        self._items.append((name, value))

    def get(self, name, default=None):
        """The field's value, repeated fields joined with ``", "``; ``default`` when absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def get_all(self, name):
        """Every value of the field, in order."""
        lname = name.lower()
        return [v for n, v in self._pairs() if n.lower() == lname]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        """The fields as ``(name, value)`` pairs, in order."""
        return list(self._pairs())

    def __iter__(self):
        return iter([n for n, _ in self._pairs()])

    def __len__(self):
        return len(self._pairs())

    def __repr__(self):
        return "Headers(%r)" % (self._pairs(),)


# The characters of a token (RFC 9110 section 5.6.2): header names, methods. The most common
# first: MicroPython's strip() searches this string for every character it strips.
_TCHARS = b"abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+.^_`|~"


def is_token(name):
    """True when ``name`` (``str`` or ``bytes``) is a non-empty RFC 9110 token."""
    # Bytes: isalpha() is ASCII-only for them on both interpreters, and on MicroPython a new
    # str costs a search of the interned strings. Most names are letters and hyphens: one
    # isalpha() in C; for the others strip() takes every token character away, and nothing may
    # be left. (A loop over the characters made parsing an upgrade a quarter slower there.)
    if isinstance(name, str):
        name = name.encode("utf-8")
    if name.replace(b"-", b"").isalpha():
        return True
    return bool(name) and not name.strip(_TCHARS)


def is_decimal(text):
    """True when ``text`` is one or more ASCII digits (``str.isdigit`` also takes "²" and "٣")."""
    return text.isdigit() and len(text.encode("utf-8")) == len(text)


def header_tokens(value, lower=True):
    """The comma-separated tokens of a header value, stripped (and lower-cased unless ``lower``
    is False)."""
    if not value:
        return []
    tokens = [t.strip(_OWS) for t in value.split(",") if t.strip(_OWS)]
    return [t.lower() for t in tokens] if lower else tokens


class HeadReader:
    """Collects one HTTP head from chunks; ``feed`` returns True once it is complete.

    Then ``head`` holds the head (without its blank line) and ``rest`` the bytes that followed.
    Raises ``HandshakeError`` (414 or 431) as soon as a limit is crossed.
    """

    def __init__(self, max_size=8192, max_line=4096, max_headers=100):
        self.max_size = max_size
        self.max_line = max_line
        self.max_headers = max_headers
        self.head = None
        self.rest = b""
        self._buf = bytearray()
        self._lines = 0

    def feed(self, data):
        """Add ``data``; True when the head is complete."""
        buf = self._buf
        if not buf and data and data[0] in (10, 13):
            data = bytes(data).lstrip(b"\r\n")  # blank lines before a request line are ignored (RFC 9112 2.2)
        old = len(buf)
        searched = max(0, old - 3)
        buf.extend(data)
        end = buf.find(b"\r\n\r\n", searched)
        limit = len(buf) if end < 0 else end + 2
        # Lines are checked from the new bytes only: a newline already counted is not counted
        # again. Not beyond max_size, which ends the head anyway: the outcome must not depend on
        # how the bytes were split.
        self._check_lines(old, min(limit, self.max_size + 1))
        if end < 0:
            if len(buf) > self.max_size:
                raise HandshakeError("request head larger than %d bytes" % self.max_size, 431)
            return False
        if end + 4 > self.max_size:
            raise HandshakeError("request head larger than %d bytes" % self.max_size, 431)
        self.head = bytes(buf[:end])
        self.rest = bytes(buf[end + 4 :])
        self._buf = bytearray()
        return True

    def is_head_request(self):
        """True if the request, as far as it came, is a ``HEAD``: even an error answers it
        without a body (RFC 9110 section 9.3.2)."""
        data = self.head if self.head is not None else self._buf
        return data[:5] == b"HEAD "

    def _check_lines(self, start, limit):
        buf = self._buf
        line_start = buf.rfind(b"\n", 0, start) + 1
        while True:
            nl = buf.find(b"\n", start, limit)
            stop = limit if nl < 0 else nl
            if stop - line_start > self.max_line:
                status = 414 if line_start == 0 else 431
                raise HandshakeError("%s longer than %d bytes" % ("request line" if status == 414 else "header line", self.max_line), status)
            if nl < 0:
                return
            if nl == line_start:
                # A blank line ended by a bare LF: the head would wait for a CRLF CRLF that never
                # comes. (RFC 9112 2.2 lets a server read LF as a line end; we refuse it, at once.)
                raise HandshakeError("line ends must be CRLF", 400)
            self._lines += 1
            if self._lines > self.max_headers + 1:
                raise HandshakeError("more than %d header fields" % self.max_headers, 431)
            start = line_start = nl + 1


def _check_fields(head):
    """Check the header lines of ``head`` (bytes): ``name: value`` with a token for a name, no
    NUL and no CR or LF but as line ends (RFC 9110 sections 5.1 and 5.5). Returns how many are
    ``Host`` and ``Transfer-Encoding`` lines (counted here: a lookup in ``Headers`` parses the
    block again). On bytes: on MicroPython every new str is looked up among interned strings."""
    crlf = head.count(b"\r\n")
    if b"\x00" in head or head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        raise HandshakeError("NUL, or CR or LF outside a line end, in the head", 400)
    hosts = codings = 0
    lines = head.split(b"\r\n")
    for i in range(1, len(lines)):
        line = lines[i]
        colon = line.find(b":")
        if colon <= 0 or not is_token(line[:colon]):
            raise HandshakeError("malformed header line", 400)
        if colon == 4 and line[:4].lower() == b"host":
            hosts += 1
        elif colon == 17 and line[:17].lower() == b"transfer-encoding":
            codings += 1
    return hosts, codings


def _decode_head(head):
    try:
        return str(head, "utf-8")
    except UnicodeError:
        # Field values may hold any byte (RFC 9110 section 5.5; node's ws and tornado send
        # Latin-1 names): a line that is not UTF-8 is read as ISO-8859-1, one character per
        # byte, as HTTP did; the others stay UTF-8, so that one such value changes no other
        # line. MicroPython has no latin-1 codec, hence chr (a head is a few hundred bytes).
        return "\r\n".join(_decode_line(line) for line in head.split(b"\r\n"))


def _decode_line(line):
    try:
        return str(line, "utf-8")
    except UnicodeError:
        return "".join(map(chr, line))


def _fields(text):
    """``Headers`` over the header lines of a head's ``text`` (checked by ``_check_fields``)."""
    return Headers._from_block(text.partition("\r\n")[2])


def is_http11(version):
    """True for ``HTTP/1.1`` and later 1.x versions (read as 1.1, RFC 9110 section 2.5)."""
    return len(version) == 8 and version.startswith("HTTP/1.") and "1" <= version[7] <= "9"


class RequestHead:
    """A parsed request head: ``method``, ``target``, ``version``, ``headers``, ``path``, ``query_string``.

    ``path`` comes from the origin form (``/a/b?q``) or the absolute form (``http://host/a/b?q``,
    RFC 9112 section 3.2.2) of the target alike.
    """

    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        resource = target
        if not target.startswith("/"):  # absolute form: drop the scheme and the authority
            start = target.find("/", target.find("://") + 3)
            resource = "/" if start < 0 else target[start:]
            if start < 0 and "?" in target:
                resource = "/" + target[target.find("?") :]
        query = resource.find("?")
        self.path = resource if query < 0 else resource[:query]
        self.query_string = "" if query < 0 else resource[query + 1 :]


def parse_request(head):
    """Parse a request head (bytes, without the blank line) into a ``RequestHead``.

    Raises ``HandshakeError``: 400 for a malformed head, and for an HTTP/1.1 request without
    exactly one Host header (RFC 9112 section 3.2); 501 for a request with Transfer-Encoding: no
    transfer coding is implemented, and reading such a body by its Content-Length instead is
    how requests get smuggled past a proxy (RFC 9112 sections 6.1 and 6.3).
    """
    text = _decode_head(head)
    hosts, codings = _check_fields(head)
    parts = text.partition("\r\n")[0].split(" ")
    if len(parts) != 3 or not is_token(parts[0]) or not parts[1]:
        raise HandshakeError("malformed request line", 400)
    method, target, version = parts
    if not version.startswith("HTTP/"):
        raise HandshakeError("malformed request line", 400)
    if not target.startswith("/") and "://" not in target and not (target == "*" and method == "OPTIONS"):
        raise HandshakeError("malformed request target %r" % target[:80], 400)
    headers = _fields(text)
    if hosts != 1 and is_http11(version):
        raise HandshakeError("an HTTP/1.1 request needs exactly one Host header", 400)
    if codings:
        raise HandshakeError("Transfer-Encoding is not supported: send a Content-Length", 501)
    return RequestHead(method, target, version, headers)


def parse_response(head):
    """Parse a response head into ``(status, reason, headers)``."""
    text = _decode_head(head)
    _check_fields(head)
    status_line = text.partition("\r\n")[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or len(parts[1]) != 3 or not is_decimal(parts[1]):
        raise HandshakeError("malformed status line: %r" % status_line[:80], 400)
    return int(parts[1]), parts[2] if len(parts) > 2 else "", _fields(text)


def response_head(status, headers=()):
    """The bytes of a response head with ``status`` and ``headers`` (pairs), blank line included."""
    lines = ["HTTP/1.1 %d %s" % (status, STATUS_PHRASES.get(status, "Unknown"))]
    for name, value in headers:
        lines.append("%s: %s" % (name, value))
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


_HEX_DIGITS = "0123456789abcdefABCDEF"


def unquote(text, plus_is_space=False):
    """Percent-decode ``text`` (``+`` as space in query strings)."""
    if plus_is_space:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    out = bytearray()
    pieces = text.split("%")
    out.extend(pieces[0].encode("utf-8"))
    for piece in pieces[1:]:
        # Exactly two hex digits: int() alone would take "%4" or "% 4" for the byte 4.
        if len(piece) >= 2 and piece[0] in _HEX_DIGITS and piece[1] in _HEX_DIGITS:
            out.append(int(piece[:2], 16))
            out.extend(piece[2:].encode("utf-8"))
        else:
            out.extend(b"%" + piece.encode("utf-8"))
    try:
        return str(out, "utf-8")
    except UnicodeError:
        return text


def parse_query(query_string):
    """A dict of the query's arguments; a repeated name keeps its first value (``getlist``-free)."""
    args = {}
    for pair in query_string.split("&"):
        if not pair:
            continue
        eq = pair.find("=")
        name = unquote(pair if eq < 0 else pair[:eq], True)
        value = "" if eq < 0 else unquote(pair[eq + 1 :], True)
        if name not in args:
            args[name] = value
    return args
