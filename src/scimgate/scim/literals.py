"""String literals inside parsed filters and paths must be storable Unicode.

A filter or path arrives as text and its string literals are decoded by the SCIM grammar
(RFC 7644 §3.4.2.2 uses JSON string escapes), so ``"\\ud800"`` inside a filter becomes a lone
surrogate that neither a UTF-8 response nor PostgreSQL text can carry. The request body check
cannot see it (the body holds the escaped text); this walk over the parsed tree does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scimgate.scim.errors import ScimError


def check_literals(node: Any, error: type[ScimError], source: str) -> None:
    """Raise ``error`` if a string in the parsed tree ``node`` holds NUL or a lone surrogate.

    ``node`` is a scim2-models ``FilterNode``/``AttrPath`` tree (dataclasses, tuples of them and
    plain values); ``source`` names what was parsed, for the detail.
    """
    if isinstance(node, str):
        if "\x00" in node:
            raise error(detail=f"The {source} holds NUL (\\u0000), which no attribute can hold.")
        if not node.isascii():
            try:
                node.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise error(
                    detail=f"The {source} holds a lone surrogate (such as \\ud800): not Unicode text."
                ) from exc
        return
    if isinstance(node, list | tuple):
        for item in node:
            check_literals(item, error, source)
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            check_literals(getattr(node, field.name), error, source)
