"""The transactional outbox: :func:`emit` records an event inside the caller's transaction.

Events are held on the session (``session.info``) and written by a ``before_commit`` hook, all
of the transaction's events of a workspace in one statement that also numbers them
(storage.events.append). The event rows therefore commit, or roll back, with the change that caused them, and
the per-workspace counter is locked only for the transaction's last moments. A unit of work
that is run again (storage.db.run) starts from a fresh session, so nothing is written twice.

Who acted comes from the session too: :func:`act_as` names the actor (``entra``, ``okta``,
``scim``, ``admin``, ``system``) for the whole unit of work; without it the actor is ``system``.
After a commit that wrote events the functions given to :func:`on_commit` run (the deliverer's
wake-up), and after one that added or enabled a webhook endpoint (:func:`note_endpoints_changed`)
those given to :func:`on_endpoints_changed`; they must be quick and must not raise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from scimgate.storage import events as store
from scimgate.storage.models import utcnow

ACTORS = ("entra", "okta", "scim", "admin", "system")
_PENDING = "scimgate_events"
_WROTE = "scimgate_events_written"
_ACTOR = "scimgate_event_actor"
_ENDPOINTS = "scimgate_endpoints_changed"
_listeners: list[Callable[[], None]] = []
_endpoint_listeners: list[Callable[[], None]] = []


@dataclass(frozen=True)
class Actor:
    """Who made a change: ``kind`` one of ``ACTORS``; ``id`` a token prefix, an admin account's
    id or an operator's name (never a secret)."""

    kind: str = "system"
    id: str | None = None


def act_as(session: Session, kind: str, actor_id: str | None = None) -> None:
    """Name the actor of every event the session's unit of work emits. ``kind`` outside
    ``ACTORS`` (a SCIM client that is neither Entra nor Okta) counts as ``scim``."""
    session.info[_ACTOR] = Actor(kind if kind in ACTORS else "scim", (actor_id or "")[:64] or None)


def emit(session: Session, workspace_id: str, event_type: str, resource_type: str, resource_id: str,
         data: dict[str, Any]) -> None:
    """Record one event in the session's transaction: the hook for every producer (services,
    and later features such as roles). ``data`` must be JSON-serialisable and hold no secret;
    ``resource_id`` is the SCIM id (a domain's name for ``Domain``). Nothing is written if the
    transaction rolls back."""
    actor: Actor = session.info.get(_ACTOR) or Actor()
    session.info.setdefault(_PENDING, []).append({
        "id": str(uuid.uuid4()), "workspace_id": workspace_id, "occurred_at": utcnow(), "type": event_type,
        "actor": actor.kind, "actor_id": actor.id, "resource_type": resource_type,
        "resource_id": resource_id, "data": data,
    })


def emit_many(session: Session, workspace_id: str, event_type: str, resource_type: str, resource_id: str,
              datas: list[dict[str, Any]]) -> None:
    """:func:`emit` for many events of one type and resource (a membership change of thousands)."""
    for data in datas:
        emit(session, workspace_id, event_type, resource_type, resource_id, data)


def on_commit(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every commit that wrote events, in this process."""
    _listeners.append(listener)


def remove_on_commit(listener: Callable[[], None]) -> None:
    """Stop calling ``listener`` (see :func:`on_commit`)."""
    if listener in _listeners:
        _listeners.remove(listener)


def on_endpoints_changed(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every commit, in this process, that added or enabled a webhook
    endpoint (see :func:`note_endpoints_changed`)."""
    _endpoint_listeners.append(listener)


def remove_on_endpoints_changed(listener: Callable[[], None]) -> None:
    """Stop calling ``listener`` (see :func:`on_endpoints_changed`)."""
    if listener in _endpoint_listeners:
        _endpoint_listeners.remove(listener)


def note_endpoints_changed(session: Session) -> None:
    """The session's transaction adds or enables a webhook endpoint: tell this process's
    deliverers once it commits."""
    session.info[_ENDPOINTS] = True


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT's release: the events wait for the real commit
        return
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    by_workspace: dict[str, list[dict[str, Any]]] = {}
    for row in pending:
        by_workspace.setdefault(row["workspace_id"], []).append(row)
    for workspace_id in sorted(by_workspace):  # one lock order across workspaces
        store.append(session, workspace_id, by_workspace[workspace_id])
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _notify(session: Session) -> None:
    if session.info.pop(_ENDPOINTS, False):
        for listener in list(_endpoint_listeners):
            listener()
    if session.info.pop(_WROTE, False):
        for listener in list(_listeners):
            listener()


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended (committed: nothing is left; rolled back: its events go)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WROTE, None)
        session.info.pop(_ENDPOINTS, None)
