"""Opaque, stable cursors of the events API: a cursor names a position in a workspace's event
sequence ("after event seq N"), so it stays valid as long as the events after it are retained
(docs/events.md, "Events API"). The encoding is URL-safe base64 of ``v1:<seq>``; clients must
not build or read them."""

from __future__ import annotations

import base64
import binascii

PREFIX = "v1:"


class InvalidCursor(ValueError):
    """A cursor this server did not make."""


def encode(seq: int) -> str:
    """The cursor after event ``seq`` (>= 0)."""
    return base64.urlsafe_b64encode(f"{PREFIX}{seq}".encode("ascii")).decode("ascii").rstrip("=")


def decode(cursor: str) -> int:
    """The seq a cursor stands after; raises InvalidCursor for anything :func:`encode` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this server made.") from exc
    number = text.removeprefix(PREFIX)
    if not text.startswith(PREFIX) or not number.isdigit() or len(number) > 18:
        raise InvalidCursor("The cursor is not one this server made.")
    return int(number)
