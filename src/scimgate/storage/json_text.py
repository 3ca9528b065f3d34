"""The JSON text of what is stored as JSON: documents (``Document`` columns), event data, the
provisioning log's changes.

orjson writes and reads it several times faster than the standard library (a user's document
of about a kilobyte: 1-2 µs against 10-15 µs each way, which every write pays for the member
row and again for its event). It refuses to write an integer beyond 64 bits, which a client may send
in an extension attribute, and reads one as a float; such a value is written and read by
``json``, as before. Text ``json`` wrote that
orjson does not read (``Infinity`` or ``NaN`` from an overflowing number) is read by ``json``.
The engines use both functions for their JSON types (storage.db.make_engine), and the statements
run on the driver's cursor use them too, so the stored text is the same either way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8 characters as they are)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_LONG_NUMBER = re.compile(r"\d{20}")
"""20 digits in a row: perhaps an integer beyond 64 bits, which orjson reads as a float."""


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``; ValueError if it is not JSON. Text with 20 digits in a row
    (an integer beyond 64 bits, or only a long string of digits) is read by ``json``, which
    keeps such an integer exact."""
    decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    if _LONG_NUMBER.search(decoded):
        return json.loads(decoded)
    try:
        return orjson.loads(decoded)
    except orjson.JSONDecodeError:
        return json.loads(decoded)
