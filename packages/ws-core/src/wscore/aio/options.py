"""The options every connection understands, with their defaults (the same on both platforms)."""

from ..http import HeadReader


class Options:
    """Limits and timeouts of a server or a client connection; unknown names raise TypeError.

    - ``max_size`` (1 MiB): largest message received; a bigger one closes with 1009. None: no limit.
    - ``max_queue`` (16): received messages held for a handler that is not reading; past that,
      reading from the socket pauses, so TCP pushes back on the peer.
    - ``handshake_timeout`` (10 s): a client must finish its request head within this (slowloris).
    - ``open_timeout`` (10 s): a client connection must be open within this (client side).
    - ``close_timeout`` (5 s): how long the closing handshake may take before the TCP connection
      is dropped.
    - ``ping_interval`` (20 s) and ``ping_timeout`` (20 s): keepalive. A ping goes out after
      ``ping_interval`` seconds with nothing received; if nothing at all (a pong or any other
      frame) arrives within ``ping_timeout`` after it, the connection is closed with 1011 (and
      recorded here as 1006: no close frame came back). Any
      frame counts, not just the pong, because some device clients never answer pings but do
      send data; a peer that is silent and deaf is dead either way. None turns keepalive off.
    - ``idle_timeout`` (None): close a connection that received no byte for this long, even with
      keepalive off; a frame stalled in the middle of its payload counts as idle.
    - ``max_head_size`` (8 KiB): largest request head (one line may take all of it); there may
      be at most 100 header fields.
    - ``max_body_size`` (16 KiB): largest request body of a plain HTTP route.
    - ``subprotocols`` (None): the subprotocols a server accepts, in order of preference.
    - ``allowed_origins`` (None): None admits clients that send no ``Origin`` (not browsers)
      and pages of the server's own origin; other pages get 403, so a site cannot open a
      WebSocket to us with its visitors' cookies (cross-site WebSocket hijacking). ``"*"``
      admits any origin; a list admits exactly those (``None`` in it: no ``Origin`` too).
    - ``max_connections`` (None): server only; beyond it new connections get 503. None means no
      limit on CPython, and on MicroPython as many as the free heap allows when the server
      starts (two thirds of it at 2.5 KB each), so that a flood of connections gets 503s, not
      a heap exhausted.
    - ``fragment_size`` (None): if set, messages we send are split into frames of this size.

    Sizes and counts out of range raise ``ValueError``, and so do times that are not a number
    of seconds (None or 0 turns a timer off).
    """

    max_size = 1 << 20
    max_queue = 16
    handshake_timeout = 10.0
    open_timeout = 10.0
    close_timeout = 5.0
    ping_interval = 20.0
    ping_timeout = 20.0
    idle_timeout = None
    max_head_size = 8192
    max_body_size = 16384
    subprotocols = None
    allowed_origins = None
    max_connections = None
    fragment_size = None

    def __init__(self, **options):
        for name, value in options.items():
            if not hasattr(Options, name) or name.startswith("_"):
                raise TypeError("unknown option %r" % name)
            if name in _TIMES and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ValueError("%s must be a number of seconds (0 or more) or None" % name)
            if name in _COUNTS and not (value is None and name in _COUNTS_OR_NONE):
                if not isinstance(value, int) or value < _COUNTS[name]:
                    raise ValueError("%s must be an integer of at least %d%s" % (name, _COUNTS[name], " or None" if name in _COUNTS_OR_NONE else ""))
            setattr(self, name, value)

    def head_reader(self):
        """A reader for one HTTP head within ``max_head_size`` (one line may take all of it)."""
        return HeadReader(self.max_head_size, self.max_head_size)

    def timer_tick(self):
        """How often the timers of connections with these options need checking (seconds).

        An eighth of the shortest period (at most 1 s): a timer fires at most two ticks late,
        one for the check and one because activity is noted at a tick, not at each read.
        """
        periods = [t for t in (self.ping_interval, self.ping_timeout, self.idle_timeout, self.close_timeout) if t]
        return min(1.0, max(0.02, min(periods) / 8)) if periods else None


# Sizes and counts, with their least value: a negative fragment_size would never finish
# splitting a message, a max_queue of 0 would never read.
_TIMES = ("handshake_timeout", "open_timeout", "close_timeout", "ping_interval", "ping_timeout", "idle_timeout")
_COUNTS = {"max_size": 0, "max_queue": 1, "max_head_size": 64, "max_body_size": 0, "max_connections": 1, "fragment_size": 1}
_COUNTS_OR_NONE = ("max_size", "max_connections", "fragment_size")
