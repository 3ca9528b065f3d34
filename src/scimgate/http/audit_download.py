"""The provisioning log as a streamed download (CSV or JSON Lines), for the admin pages and the
admin API: the response iterates services.audit_export's pages as the client reads them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import StreamingResponse

from scimgate.services import audit_export
from scimgate.services.audit_log import LogFilter
from scimgate.storage.models import utcnow

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


def download(readers: sessionmaker[Session], workspace_id: str, wanted: LogFilter, fmt: str,
             stem: str = "provisioning-log") -> StreamingResponse:
    """The workspace's events matching ``wanted`` in ``fmt`` (a key of ``MEDIA_TYPES``), as an
    attachment named ``<stem>-<UTC time>.<fmt>``, never cached. Starlette runs the sync
    generator in its thread pool, one page (one short read-only unit of work) at a time."""
    found = audit_export.records(readers, workspace_id, wanted)
    lines = audit_export.csv_rows(found) if fmt == "csv" else audit_export.jsonl(found)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(lines, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{stem}-{stamp}.{fmt}"',
        "Cache-Control": "no-store",
    })
