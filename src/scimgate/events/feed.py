"""Reading the outbox: pages of a workspace's events after a cursor, and the retention purge.

A page is read in seq order from the (workspace_id, seq) index (with a type filter, the
(workspace_id, type, seq) one); ``next`` is the cursor after the page's last event, or the
given cursor when the page is empty, so a client polls with it until new events arrive. Since
seq numbers are gap-free and given in commit order (storage.events), an event can never appear
behind a cursor already handed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scimgate.events import catalogue, cursor
from scimgate.events.envelope import envelope
from scimgate.storage import events as store
from scimgate.storage.db import transaction
from scimgate.storage.models import utcnow

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_RETENTION_DAYS = 30


class FeedError(ValueError):
    """A request for events the admin must correct (a bad cursor, limit or type)."""


class CursorExpired(FeedError):
    """Events after the cursor were purged (older than the retention period): the client must
    reconcile from the current state (docs/events.md, "Reconciliation")."""


@dataclass(frozen=True)
class Page:
    """One page: the events (as :func:`~scimgate.events.envelope.envelope` JSON), the cursor to
    ask with next, and whether more events were already there."""

    events: list[dict[str, Any]]
    next: str
    has_more: bool


def read_page(session: Session, workspace_id: str, after: str | None, limit: int = DEFAULT_LIMIT,
              types: Sequence[str] = ()) -> Page:
    """Up to ``limit`` (1..``MAX_LIMIT``) events after ``after`` (None: from the oldest kept),
    of ``types`` when given. Raises FeedError for a bad cursor, limit or type, CursorExpired
    when events after the cursor were purged."""
    if not 1 <= limit <= MAX_LIMIT:
        raise FeedError(f"limit must be between 1 and {MAX_LIMIT}.")
    unknown = [t for t in types if not catalogue.is_known(t)]
    if unknown:
        raise FeedError(f"Unknown event type {unknown[0]!r}; the types are: {', '.join(catalogue.TYPES)}.")
    try:
        after_seq = cursor.decode(after) if after else 0
    except cursor.InvalidCursor as exc:
        raise FeedError(str(exc)) from exc
    if after_seq:
        _check_retained(session, workspace_id, after_seq)
    rows = store.page(session, workspace_id, after_seq, limit + 1, types)
    shown = rows[:limit]
    next_cursor = cursor.encode(shown[-1].seq) if shown else cursor.encode(after_seq)
    return Page([envelope(row) for row in shown], next_cursor, len(rows) > limit)


def end_cursor(session: Session, workspace_id: str) -> str:
    """The cursor after the workspace's newest event (to follow from now on)."""
    return cursor.encode(store.last_seq(session, workspace_id))


def _check_retained(session: Session, workspace_id: str, after_seq: int) -> None:
    oldest = store.oldest_seq(session, workspace_id)
    newest = store.last_seq(session, workspace_id)
    if after_seq > newest:
        raise FeedError("The cursor is not one this server made for this workspace.")
    purged = after_seq < oldest - 1 if oldest is not None else after_seq < newest
    if purged:
        raise CursorExpired("Events after this cursor are older than the retention period and were "
                            "deleted: read the current state (GET /Users, /Groups) and start again "
                            "without a cursor.")


def purge(sessions: sessionmaker[Session], retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Delete every workspace's events older than ``retention_days`` (>= 1), with their
    deliveries, in short transactions of ``storage.events.PURGE_BATCH``; returns how many."""
    if retention_days < 1:
        raise FeedError("The event retention is at least 1 day.")
    before = utcnow() - timedelta(days=retention_days)
    total = 0
    while True:
        with transaction(sessions) as session:
            removed = store.purge_batch(session, before)
        total += removed
        if removed < store.PURGE_BATCH:
            return total
