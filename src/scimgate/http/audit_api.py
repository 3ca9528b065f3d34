"""The provisioning log through the admin API: ``GET /api/admin/v1/audit``, streamed.

Query parameters (all optional): ``from`` and ``to``, ISO 8601 instants (``2026-12-01T00:00:00Z``;
no offset means UTC; ``to`` exclusive); ``format`` ``jsonl`` (default, JSON Lines) or ``csv``;
``client`` (``entra``, ``okta``, ``other``), ``resource`` (``User``, ``Group``) and
``failures=1`` narrow it as on the log page. The body is the range's events, oldest first, one
record per line (services.audit_export's fields), read in keyset pages while it is sent. A bad
parameter is the admin API's JSON error 400 ``invalid`` (http.admin_api).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from scimgate.http.admin_api import PREFIX, Admin, AdminApiError, AdminRoute
from scimgate.http.audit_download import MEDIA_TYPES, download
from scimgate.http.deps import State
from scimgate.services.audit_log import CLIENTS, RESOURCES, LogFilter

router = APIRouter(prefix=PREFIX, route_class=AdminRoute)
KNOWN = {"from", "to", "format", "client", "resource", "failures"}


def _instant(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 instant (``Z`` or an offset; none means UTC), or None when absent."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise AdminApiError(400, "invalid", f"{name} must be an ISO 8601 time such as "
                            f"2026-12-01T00:00:00Z, not {value[:40]!r}.") from exc


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise AdminApiError(400, "invalid", f"{name} must be one of {', '.join(allowed)}.")
    return value


@router.get("/audit")
def export_audit(request: Request, admin: Admin, state: State) -> Response:
    """The workspace's provisioning log in ``[from, to)`` as JSON Lines or CSV, streamed."""
    params = request.query_params
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise AdminApiError(400, "invalid", f"Unknown parameter {unknown[0][:40]!r}; this endpoint takes "
                            f"{', '.join(sorted(KNOWN))}.")
    fmt = _choice("format", params.get("format"), tuple(MEDIA_TYPES)) or "jsonl"
    since, until = _instant("from", params.get("from")), _instant("to", params.get("to"))
    if since is not None and until is not None and since >= until:
        raise AdminApiError(400, "invalid", "from must be earlier than to.")
    if params.get("failures") not in (None, "", "0", "1"):
        raise AdminApiError(400, "invalid", "failures must be 1 (failures only) or 0.")
    wanted = LogFilter(failures_only=params.get("failures") == "1",
                       resource_type=_choice("resource", params.get("resource"), RESOURCES),
                       client=_choice("client", params.get("client"), CLIENTS), since=since, until=until)
    if state.journal is not None:  # this worker's reads not yet written (services.audit_journal)
        state.journal.flush()
    return download(state.readers, admin.workspace.id, wanted, fmt)
