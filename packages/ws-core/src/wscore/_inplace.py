"""A ``bytes`` filled after it is made, where MicroPython allows it: a large message's only copy.

A frame larger than one read arrives in pieces. Joining them into the ``bytes`` handed to the
application holds the message twice for a moment; filling one ``bytes`` made when the frame's
header arrives holds it once, which on a board decides the largest message that fits.

MicroPython's ``bytes`` stores a hash computed when it is made, and there a hash of 0 means
"not computed": ``hash()`` computes it when asked and ``==`` compares the bytes themselves (the
runtime makes such strings itself, for exception messages). So the ``bytes`` is made zeroed,
written through a ``uctypes`` alias of its data while nothing else holds it, and its stale hash
is set to 0 before it is handed on. Nothing but the connection filling it sees it change.

Imported only where ``uctypes`` exists: ``ImportError`` elsewhere (CPython included), and the
caller then assembles messages from pieces. It also raises ``ImportError`` when a probe finds
an object layout other than the one relied on (``mp_obj_str_t``: type, hash, length, data, a
machine word each) or an ``id()`` that is not the object's address.
"""

import sys

import uctypes

_WORD = 8 if sys.maxsize > 0xFFFFFFFF else 4
_UWORD = uctypes.UINT64 if _WORD == 8 else uctypes.UINT32
# The two words after the type pointer of a str or bytes object.
_FIELDS = {"hash": _WORD | _UWORD, "len": 2 * _WORD | _UWORD}


def fillable(n):
    """A new ``bytes`` of ``n`` (> 0) zero bytes and a writable memoryview of its data.

    Write the data through the view, then pass the ``bytes`` to ``filled()`` before anything
    else sees it.
    """
    data = bytes(n)
    return data, memoryview(uctypes.bytearray_at(uctypes.addressof(data), n))


def filled(data):
    """``data``, from ``fillable()``, once written: the hash it got while zeroed is cleared."""
    address = id(data)
    if address <= 0:  # id() overflowed a small integer (an address from 2**30 to 2**31 on 32 bits)
        return bytes(memoryview(data))  # then a copy, with a hash of its own
    uctypes.struct(address, _FIELDS).hash = 0
    return data


def _layout_holds():
    probe, view = fillable(5)
    if id(probe) <= 0:  # see filled()
        return False
    fields = uctypes.struct(id(probe), _FIELDS)
    if fields.len != 5 or fields.hash != hash(probe):
        return False
    view[:] = b"ws-io"
    filled(probe)
    text = str(probe, "utf-8")  # shares the data, and takes the hash if it is not 0
    return hash(probe) == hash(b"ws-io") and {b"ws-io": True}.get(probe, False) and text == "ws-io"


if not _layout_holds():
    raise ImportError("bytes objects are not laid out as wscore._inplace expects")
del _layout_holds  # run once: no need to keep its code in the heap
