"""The input rules every string scimgate stores or compares must pass, however it was decoded.

A string must be storable Unicode: no U+0000 (PostgreSQL text cannot hold it) and no lone
surrogate (a UTF-8 response cannot carry it; RFC 8259 §8.2). Values reach the SCIM layer
decoded more than once: filter and path literals by the SCIM grammar (RFC 7644 §3.4.2.2 uses
JSON string escapes), Entra's JSON-encoded role elements by a second JSON parse
(``scim.quirks.decode_json_text``). The request body check at the HTTP edge sees only the
escaped text, so each decoded value passes these rules again before it is kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scimgate.scim.errors import ScimError


def check_text(text: str, error: type[ScimError], source: str) -> None:
    """Raise ``error`` (a 400) if ``text`` holds NUL or a lone surrogate; ``source`` names it."""
    if "\x00" in text:
        raise error(detail=f"The {source} holds NUL (\\u0000), which no attribute can hold.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(
                detail=f"The {source} holds a lone surrogate (such as \\ud800): not Unicode text."
            ) from exc


def check_literals(node: Any, error: type[ScimError], source: str) -> None:
    """Raise ``error`` if a string in the parsed tree ``node`` holds NUL or a lone surrogate.

    ``node`` is a scim2-models ``FilterNode``/``AttrPath`` tree (dataclasses, tuples of them and
    plain values); ``source`` names what was parsed, for the detail.
    """
    if isinstance(node, str):
        check_text(node, error, source)
        return
    if isinstance(node, list | tuple):
        for item in node:
            check_literals(item, error, source)
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            check_literals(getattr(node, field.name), error, source)
