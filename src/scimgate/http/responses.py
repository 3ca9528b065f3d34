"""SCIM JSON responses: ``application/scim+json`` (RFC 7644 §3.1, §8.1)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

SCIM_MEDIA_TYPE = "application/scim+json"


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response whose body is ``body`` serialised compactly as UTF-8 JSON."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, headers=headers, media_type=SCIM_MEDIA_TYPE)
