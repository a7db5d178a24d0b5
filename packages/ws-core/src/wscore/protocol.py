"""The WebSocket connection as a pure state machine (RFC 6455 sections 5 to 7). No I/O.

The I/O layer owns the socket and does three things with a ``Connection``:

    conn.receive_data(chunk)      # any bytes-like object, of any size, as it arrives
    for event in conn.events():   # str / bytes messages, Ping, Pong, Close
        ...
    for buf in conn.data_to_send():   # frames to write, in order (pongs, close replies, sends)
        writer.write(buf)

and ``conn.receive_eof()`` when the peer's TCP stream ends. Feeding one byte at a time yields
exactly the events that feeding everything at once does.

A message that arrives as one frame wholly inside a chunk (most of them) takes a short path:
it is unmasked and validated in one pass each and becomes the ``str`` or ``bytes`` the
application gets (unmasked in the chunk itself when the caller offers it as scratch). Anything
else, and every error, takes the general path: payloads are unmasked straight out of the chunk
into buffers of their own, text is validated as it arrives so an invalid byte closes with 1007
at once, and a frame whose length would take the message over ``max_size`` closes with 1009
before any of its payload is kept. Any protocol violation sends the matching close frame and
moves to CLOSED; the I/O layer then closes the transport.
"""

# Builtins used per message, bound as globals: MicroPython looks a builtin up in the module's
# globals first, and that miss probes a table it fills before growing it (bench/README.md).
from builtins import bytes, isinstance, len, memoryview, min, str, type

import gc
import os

from .constants import (
    CLOSE_ABNORMAL,
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    CLOSED,
    CLOSING,
    MAX_CLOSE_REASON,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    OPEN,
    is_valid_close_code,
)
from .errors import ConnectionClosed, ProtocolError, connection_closed
from .frames import decode_header, encode_close_payload, encode_frame, encode_message
from .mask import mask_into, masked
from .utf8 import Utf8Validator, is_valid_utf8

try:
    from ._inplace import fillable, filled
except ImportError:  # CPython, or a MicroPython build without uctypes: messages join their pieces
    fillable = None  # type: ignore[assignment]

# Up to 14 header bytes (2 + 8 for the length + 4 for the mask key).
_MAX_HEADER = 14

# Payload pieces shorter than _SMALL_PIECE (after a message's first) are gathered into buffers
# of up to _GATHER bytes (small enough that MicroPython's exact-size bytearray growth stays cheap).
_SMALL_PIECE = 512
_GATHER = 4096

# Where a bytes can be filled after it is made (MicroPython, see _inplace), a message in one
# frame of this size or more is unmasked straight into the bytes that it becomes: held once,
# not in pieces and then joined. Smaller ones are not worth the few objects it takes. The
# frames of a fragmented message are joined at its end all the same, and a block per frame
# left less room than read-sized pieces (6% less for the largest one in a 320 KiB heap).
_FILL_FROM = 512

# MicroPython's heap never moves an object and finds its garbage only when an allocation fails.
# By then small objects have been spread over the free space, and the block that holds a large
# message whole is not found (in 2 MiB, a second 512 KiB echo failed while the first, with the
# previous message held, fit). A frame of a sixteenth of the heap or more therefore collects
# first. CPython (no gc.mem_free) never needs it.
_COLLECT_FROM = None
_HEAP = 0  # MicroPython's heap size (unknown on CPython)
if hasattr(gc, "mem_free"):
    _HEAP = gc.mem_alloc() + gc.mem_free()  # type: ignore[attr-defined]  # MicroPython's
    _COLLECT_FROM = _HEAP // 16

# CPython's decoder rejects every invalid sequence, so decoding a whole message validates it;
# MicroPython's does not, so there every text byte goes through the validator.
_DECODE_VALIDATES = True
try:
    b"\xed\xa0\x80".decode("utf-8")
    _DECODE_VALIDATES = False
except UnicodeError:
    pass


class Ping:
    """A ping received (already answered with a pong unless the connection is closing)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class Pong:
    """A pong received; ``data`` is its payload."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class Close:
    """The connection reached CLOSED with this final ``code`` and ``reason``.

    ``code`` is the peer's close code (1005 when its close frame had none), the code we sent
    when we failed the connection, or 1006 when the TCP stream ended without a close frame.
    """

    __slots__ = ("code", "reason")

    def __init__(self, code, reason=""):
        self.code = code
        self.reason = reason


def _new_mask_key():
    return os.urandom(4)


class Connection:
    """One WebSocket connection after the opening handshake, for either side.

    ``client`` is True on the client side: frames we send are masked, frames we receive must
    not be. ``max_size`` bounds a received message (None: no bound). ``max_events`` bounds the
    events ``receive_data()`` leaves waiting in ``events()`` (None: no bound); the I/O layer may
    lower it while its reader is behind (an attribute, not an argument: see ``receive_data``).

    With ``defer_errors`` a protocol violation does not fail the connection at once: parsing
    stops, ``pending_error`` holds the error, and the I/O layer calls ``fail()`` once the
    application has dealt with the messages that arrived before the bad frame (so a message and
    a bad frame in one TCP segment still get the message's reply before the close frame).
    """

    # Defaults live on the class: an instance stores only what differs, which keeps an idle
    # connection small on a board (MicroPython gives every instance attribute a dict slot).
    # Except ``state`` and ``pending_error``, set by __init__: read several times per message,
    # and reading a class default costs MicroPython a miss in the instance first (2% of the
    # instructions of an echoed message, for 32 bytes per connection).
    # No properties: on MicroPython one property makes every attribute store on the instance
    # search the class first, and every method load check for a descriptor (9% of the
    # instructions of an echoed message, measured with bench/mp_instructions.py).
    close_code = None
    close_reason = ""
    close_sent = False
    close_received = False
    error = None  # the ProtocolError that failed the connection, if any
    # Frame being parsed.
    _header = None  # bytearray for a header split across chunks, made when first needed
    _header_length = 0
    _in_payload = False
    _remaining = 0
    _fin = True
    _opcode = 0
    _mask_key = None
    _phase = 0
    _control = None  # list of a control frame's payload pieces
    _frame_bytes = None  # the bytes a large message in one frame is filled into (_FILL_FROM) ...
    _frame_view = None  # ... and its writable view
    # Message being assembled.
    _message_opcode = None
    _message_size = 0
    _validator = None
    # Lists made when the first item comes (an empty tuple until then): three lists fewer under
    # every idle connection.
    _events = ()
    _outgoing = ()
    _parts = ()
    client = False
    max_size = 1 << 20
    # The WebSocket's default max_queue: what it passes is then not stored per connection (an
    # idle connection's dict slot counts on a board). Connection() alone stores None: no bound.
    max_events = 16
    defer_errors = False
    _mask_source = None

    def __init__(self, client=False, max_size=1 << 20, defer_errors=False, max_events=None):
        self.state = OPEN
        self.pending_error = None
        if client:
            self.client = True
            self._mask_source = _new_mask_key
        if max_size != Connection.max_size:
            self.max_size = max_size
        if max_events != Connection.max_events:
            self.max_events = max_events
        if defer_errors:
            self.defer_errors = True

    # ---- receiving ----------------------------------------------------------------------

    def receive_data(self, data, scratch=False):
        """Parse ``data`` (bytes-like, any length); events and replies queue up.

        ``scratch=True`` says that ``data`` is a writable buffer the caller reuses (a read
        buffer): a message that arrives whole in it is unmasked in place, and the ``str`` or
        ``bytes`` made from it is its only copy. Otherwise ``data`` is never written to.

        Returns how many bytes of ``data`` were taken: all of them, unless ``max_events``
        events were waiting in ``events()`` first (the reader's queue is full). The caller feeds
        the rest again later: one chunk of small frames must not become thousands of messages
        at once. (Not an argument: one more local makes this function's frame too big for
        MicroPython to keep on the C stack, and it allocates it at every call, 2k instructions.)
        """
        end = len(data)
        if self.state == CLOSED or self.pending_error is not None:
            return end  # nothing after the close handshake or a protocol error means anything
        view = data if type(data) is memoryview else memoryview(data)  # (one object less)
        pos = 0
        try:
            while pos < end and self.state != CLOSED:
                if self._events and self.max_events is not None and len(self._events) >= self.max_events:
                    return pos  # (checked from the second event in a chunk on: mostly one)
                if self._in_payload:
                    take = min(self._remaining, end - pos)
                    self._payload(view[pos : pos + take])
                    pos += take
                    self._remaining -= take
                    if self._remaining == 0:
                        self._frame_end()
                else:
                    pos = self._whole_message(view, pos, end, scratch) or self._read_header(view, pos, end)
        except ProtocolError as exc:
            self._protocol_error(exc)
        except MemoryError:
            # A message within max_size that the heap cannot hold (a board): drop what it held
            # and close with 1009 instead of letting the error take the connection down.
            self._parts = ()
            self._control = None
            self._frame_bytes = self._frame_view = None
            self._protocol_error(ProtocolError("message too big for the memory available", CLOSE_MESSAGE_TOO_BIG))
        return end

    def _protocol_error(self, exc):
        if self.defer_errors:
            self.pending_error = exc
        else:
            self._fail(exc)

    def fail(self):
        """Fail the connection with ``pending_error`` (see ``defer_errors``)."""
        if self.pending_error is not None and self.state != CLOSED:
            self._fail(self.pending_error)

    def receive_eof(self):
        """The peer's TCP stream ended; without a finished close handshake that is 1006."""
        if self.state != CLOSED:
            self._closed(CLOSE_ABNORMAL, "")

    def events(self):
        """Return and forget the events received so far, oldest first."""
        events = self._events
        if not events:
            return []
        self._events = ()
        return events

    def _emit(self, event):
        if self._events:
            self._events.append(event)
        else:
            self._events = [event]

    def _queue(self, buffers):
        """Queue frames' buffers for the wire (``buffers`` is a fresh list, kept as it is)."""
        if self._outgoing:
            self._outgoing.extend(buffers)
        else:
            self._outgoing = buffers

    def _whole_message(self, view, pos, end, scratch):
        """The short path: a message in one frame, wholly in ``view[pos:end]``, between messages.

        Returns the position after the frame, or 0 to leave the frame to the general path
        (``_read_header`` on), which also raises every error: this only accepts a valid frame.
        """
        if end - pos < 2 or self._header_length or self._message_opcode is not None:
            return 0
        first = view[pos]
        if first != 0x81 and first != 0x82:  # FIN, no reserved bit, text or binary
            return 0
        second = view[pos + 1]
        length = second & 0x7F
        start = pos + 2
        if length >= 126:
            start = pos + (4 if length == 126 else 10)
            if start > end:
                return 0
            length = int.from_bytes(bytes(view[pos + 2 : start]), "big")
        if (second & 0x80) == 0:
            key = None
            if not self.client:
                return 0
        elif self.client:
            return 0
        else:
            key = view[start : start + 4]  # used at once: a view of the header will do
            start += 4
        stop = start + length
        if stop > end or (self.max_size is not None and length > self.max_size):
            return 0
        if _COLLECT_FROM is not None and length >= _COLLECT_FROM:
            return 0
        payload = view[start:stop]
        if key is not None:
            if scratch:
                mask_into(payload, payload, key, 0)
            else:
                payload = masked(payload, key, 0)
        if first == 0x81:
            if not _DECODE_VALIDATES and not is_valid_utf8(payload):
                raise ProtocolError("invalid UTF-8 in text message", CLOSE_INVALID_DATA)
            try:
                message = str(payload, "utf-8")
            except UnicodeError:
                raise ProtocolError("invalid UTF-8 in text message", CLOSE_INVALID_DATA)
        else:
            message = payload if type(payload) is bytes else bytes(payload)
        if self._events:  # (_emit() written out: a Python call less per message)
            self._events.append(message)
        else:
            self._events = [message]
        return stop

    def _read_header(self, view, pos, end):
        if self._header_length == 0:
            decoded = decode_header(view, pos, end - pos, not self.client)
            if decoded is None:
                take = end - pos
                if self._header is None:
                    self._header = bytearray(_MAX_HEADER)
                self._header[0:take] = view[pos:end]
                self._header_length = take
                return end
            self._frame_start(*decoded)
            return pos + decoded[0]
        had = self._header_length
        take = min(_MAX_HEADER - had, end - pos)
        self._header[had : had + take] = view[pos : pos + take]
        decoded = decode_header(self._header, 0, had + take, not self.client)
        if decoded is None:
            self._header_length = had + take
            return pos + take
        self._header_length = 0
        self._frame_start(*decoded)
        return pos + decoded[0] - had

    def _frame_start(self, header_length, fin, opcode, length, mask_key):
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise ProtocolError("reserved control opcode %d" % opcode)
            self._control = []
        elif opcode == OP_CONTINUATION:
            if self._message_opcode is None:
                raise ProtocolError("continuation frame without a message to continue")
        elif opcode == OP_TEXT or opcode == OP_BINARY:
            if self._message_opcode is not None:
                raise ProtocolError("new message started before the previous one finished")
            self._message_opcode = opcode
            self._validator = None  # made by _payload when a text message needs one
        else:
            raise ProtocolError("reserved data opcode %d" % opcode)
        if opcode < OP_CLOSE and self.max_size is not None and self._message_size + length > self.max_size:
            raise ProtocolError("message larger than %d bytes" % self.max_size, CLOSE_MESSAGE_TOO_BIG)
        if opcode < OP_CLOSE and length >= _FILL_FROM:
            if _COLLECT_FROM is not None and length >= _COLLECT_FROM:
                gc.collect()
            if fillable is not None and fin and opcode != OP_CONTINUATION and length < _HEAP:
                # A message in one frame, of a size the heap could hold: filled in place.
                self._frame_bytes, self._frame_view = fillable(length)
        self._fin = fin
        self._opcode = opcode
        self._mask_key = mask_key
        self._phase = 0
        self._remaining = length
        self._in_payload = True
        if length == 0:
            self._frame_end()

    def _payload(self, chunk):
        """Keep one piece of the current frame's payload, unmasked into the frame's bytes (see
        ``_FILL_FROM``) or into a buffer of its own."""
        target = self._frame_view
        if target is not None:
            # The frame's own bytes, made whole at its header: the piece is unmasked into it.
            start = self._phase
            piece = target[start : start + len(chunk)]
            if self._mask_key is not None:
                mask_into(piece, chunk, self._mask_key, start)
            else:
                piece[:] = chunk
            self._phase = start + len(chunk)
            self._message_size += len(piece)
            if self._message_opcode == OP_TEXT:
                self._validate(piece)
            return
        if self._mask_key is not None:
            piece = masked(chunk, self._mask_key, self._phase)
            self._phase += len(chunk)
        else:
            piece = bytes(chunk)
        if self._opcode >= OP_CLOSE:
            self._control.append(piece)
            return
        parts = self._parts
        first = not parts
        if first:
            parts = self._parts = [piece]
        elif len(piece) >= _SMALL_PIECE:
            parts.append(piece)
        else:
            # A message arriving a few bytes at a time (tiny fragments, tiny TCP segments) must
            # not cost an object per piece: that held ~40 times the message's size.
            last = parts[-1]
            if type(last) is bytearray and len(last) < _GATHER:
                last.extend(piece)
            else:
                parts.append(bytearray(piece))
        self._message_size += len(piece)
        if self._message_opcode == OP_TEXT:
            self._validate(piece)

    def _validate(self, piece):
        """Check a text message's piece as it comes, so that an invalid byte fails at once."""
        validator = self._validator
        if validator is None:
            validator = self._validator = Utf8Validator()
        if not validator.feed(piece):
            raise ProtocolError("invalid UTF-8 in text message", CLOSE_INVALID_DATA)

    def _frame_end(self):
        self._in_payload = False
        opcode = self._opcode
        if opcode >= OP_CLOSE:
            payload = b"".join(self._control)
            self._control = None
            self._control_frame(opcode, payload)
            return
        if self._frame_view is not None:  # a whole message, filled in place
            self._parts = [filled(self._frame_bytes)]
            self._frame_bytes = self._frame_view = None
        if self._fin:
            self._message_end()

    def _message_end(self):
        parts = self._parts
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._message_opcode == OP_TEXT:
            validator = self._validator  # None when the message had no payload
            if validator is not None and not validator.finish():
                raise ProtocolError("invalid UTF-8 in text message", CLOSE_INVALID_DATA)
            try:
                message = str(data, "utf-8")
            except UnicodeError:
                raise ProtocolError("invalid UTF-8 in text message", CLOSE_INVALID_DATA)
        else:
            message = data if type(data) is bytes else bytes(data)
        self._parts = ()
        self._message_size = 0
        self._message_opcode = None
        self._validator = None
        self._emit(message)

    def _control_frame(self, opcode, payload):
        if opcode == OP_PING:
            if not self.close_sent:
                self._queue(encode_frame(OP_PONG, payload, True, self._mask()))
            self._emit(Ping(payload))
        elif opcode == OP_PONG:
            self._emit(Pong(payload))
        else:
            self._close_frame(payload)

    def _close_frame(self, payload):
        if len(payload) == 0:
            code, reason = CLOSE_NO_STATUS, ""
        elif len(payload) == 1:
            raise ProtocolError("close frame with a 1-byte payload")
        else:
            code = (payload[0] << 8) | payload[1]
            if not is_valid_close_code(code):
                raise ProtocolError("invalid close code %d" % code)
            if not is_valid_utf8(payload[2:]):
                raise ProtocolError("close reason is not valid UTF-8")
            reason = str(payload[2:], "utf-8")
        self.close_received = True
        if not self.close_sent:
            # Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty reply.
            self._send_close(None if code == CLOSE_NO_STATUS else code, "")
        self._closed(code, reason)

    def _fail(self, exc):
        """Fail the connection (RFC 6455 section 7.1.7): send the close code, stop parsing."""
        self.error = exc
        if not self.close_sent:
            self._send_close(exc.code, _truncate_reason(str(exc)))
        self._closed(exc.code, str(exc))

    def _closed(self, code, reason):
        self.state = CLOSED
        self.close_code = code
        self.close_reason = reason
        self._in_payload = False
        self._parts = ()
        self._frame_bytes = self._frame_view = None
        self._emit(Close(code, reason))

    # ---- sending ------------------------------------------------------------------------

    def _mask(self):
        return self._mask_source() if self._mask_source else None

    def _check_can_send(self):
        if self.close_sent or self.state == CLOSED:
            raise connection_closed(self.close_code if self.close_code is not None else CLOSE_ABNORMAL, self.close_reason)

    def send_text(self, text, fragment_size=None):
        """Queue a text message (a ``str``), in frames of ``fragment_size`` bytes if given."""
        if not isinstance(text, str):
            raise TypeError("a text message is a str, not %s" % type(text).__name__)
        self.send_message(text, fragment_size)

    def send_binary(self, data, fragment_size=None):
        """Queue a binary message (any bytes-like object, used without a copy on the server)."""
        if isinstance(data, str):
            raise TypeError("a binary message is bytes-like, not a str")
        self.send_message(data, fragment_size)

    def send_message(self, message, fragment_size=None):
        """Queue ``message``: text for a ``str``, binary for anything bytes-like."""
        # Every data message is queued here, the checks and the queueing written out: the
        # WebSocket's send() calls this once per message, and on MicroPython each Python call
        # more costs ~1,500 instructions.
        if self.close_sent or self.state == CLOSED:
            self._check_can_send()  # raises
        if isinstance(message, str):
            buffers = encode_message(OP_TEXT, message.encode("utf-8"), self._mask_source, fragment_size)
        else:
            buffers = encode_message(OP_BINARY, _byte_payload(message), self._mask_source, fragment_size)
        if self._outgoing:
            self._outgoing.extend(buffers)
        else:
            self._outgoing = buffers

    def send_ping(self, data=b""):
        """Queue a ping (payload of at most 125 bytes)."""
        self._check_can_send()
        self._queue(encode_frame(OP_PING, _control_payload(data), True, self._mask()))

    def send_pong(self, data=b""):
        """Queue an unsolicited pong (payload of at most 125 bytes)."""
        self._check_can_send()
        self._queue(encode_frame(OP_PONG, _control_payload(data), True, self._mask()))

    def send_close(self, code=1000, reason=""):
        """Start the closing handshake with ``code`` and ``reason`` (None for a close with no code).

        Raises ``ValueError`` for a code that may not be sent or a reason over 123 bytes.
        Nothing can be sent after this.
        """
        if code is not None and not is_valid_close_code(code):
            raise ValueError("close code %d may not be sent" % code)
        if self.close_sent or self.state == CLOSED:
            return
        self._send_close(code, reason)

    def _send_close(self, code, reason):
        payload = encode_close_payload(code, reason)
        self._queue(encode_frame(OP_CLOSE, payload, True, self._mask()))
        self.close_sent = True
        if self.state == OPEN:
            self.state = CLOSING

    def has_data_to_send(self):
        """True when ``data_to_send()`` would return something."""
        return bool(self._outgoing)

    def data_to_send(self):
        """Return and forget the buffers queued for the wire, in order."""
        out = self._outgoing
        if not out:
            return []
        self._outgoing = ()
        return out

    def abort(self, code=CLOSE_ABNORMAL, reason=""):
        """Record that the connection ended without a close handshake (e.g. a timeout)."""
        if self.state != CLOSED:
            self._closed(code, reason)


def _byte_payload(data):
    """``data`` (bytes-like) as a buffer whose ``len()`` counts bytes, as framing needs.

    An ``array('h')``, or a memoryview of one, has items wider than a byte and ``len()`` counts
    those: cast to bytes (copied where memoryview cannot cast, as on MicroPython).
    """
    if type(data) is bytes or type(data) is bytearray:
        return data
    view = memoryview(data)
    if len(view) == 0 or len(bytes(view[:1])) == 1:  # MicroPython's memoryview has no itemsize
        return data
    try:
        return view.cast("B")
    except (AttributeError, TypeError):  # no cast (MicroPython), or not contiguous
        return bytes(view)


def _control_payload(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > 125:
        raise ValueError("control frame payload longer than 125 bytes")
    return data


def _truncate_reason(reason):
    # Our own failure messages are ASCII, so characters and bytes agree.
    return reason[:MAX_CLOSE_REASON]
