"""The provisioning log's download (``/admin/log/export``, CSV or JSON Lines), and the helpers
the log's templates use to read an event as a sentence (services.audit_sentence).

The export takes the log page's own filters (failures, resource, client, since/from,
until/to: admin.routes.log_filter), so "Download" gives what the page shows, every page of it,
oldest first, streamed page by page (http.audit_download), never held whole.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from scimgate.admin.routes import Admin, PageError, flush_journal, log_filter
from scimgate.http.audit_download import MEDIA_TYPES, download
from scimgate.http.deps import State
from scimgate.services import audit_sentence

router = APIRouter(prefix="/admin")


def shown(value: object) -> str:
    """A before/after value as the log's details show it."""
    if value is True:
        return "active"
    if value is False:
        return "inactive"
    return "—" if value in (None, "") else str(value)


def install(templates: Jinja2Templates) -> None:
    """Give the admin templates ``sentence``, ``label`` and ``shown`` (templates/_events.html)."""
    templates.env.globals.update(sentence=audit_sentence.sentence, label=audit_sentence.label, shown=shown)


@router.get("/log/export")
def export(request: Request, admin: Admin, state: State, format: str = "csv") -> Response:
    """The filtered log as a CSV or JSON Lines download; the 400 page for another format or a
    filter value the log page would not apply (saying which and why: a download must not
    quietly hold more than was asked for)."""
    if format not in MEDIA_TYPES:
        raise PageError(400, "Bad request", "The export format is csv or jsonl.")
    filters = log_filter(request.query_params)
    if filters.problems:
        raise PageError(400, "Bad request", " ".join(filters.problems.values()))
    flush_journal(state)
    return download(state.readers, admin.workspace_id, filters.wanted, format)
