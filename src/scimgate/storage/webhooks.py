"""Webhook storage: endpoints, the fan-out of events into deliveries, and delivery leases.

Fan-out: an endpoint's ``cursor_seq`` is the last event seq turned into its deliveries. Because
event seqs are given in commit order without gaps (storage.events), the committed events of a
workspace are always a prefix of its sequence, so reading ``seq > cursor_seq`` and moving the
cursor to the last event read never skips one. On PostgreSQL the endpoint row is locked
``FOR UPDATE SKIP LOCKED`` while it is fanned out: two deliverers never fan out one endpoint at
once (the second one skips it); SQLite runs one writer at a time.

Claims: a delivery is due when ``pending``, its ``next_attempt_at`` has come, no lease holds it
and its endpoint is enabled. Deliveries of one resource to one endpoint go out in seq order: a
due delivery is claimed only if no earlier pending delivery of the same (endpoint, resource)
exists outside the claimed batch, so a resource's later event waits for its earlier one to
succeed or to be given up. Claimed rows get ``lease_until``/``lease_owner`` in the claiming
transaction (PostgreSQL: rows picked ``FOR UPDATE SKIP LOCKED``, so concurrent claimers take
different rows); an outcome is written only by the lease's owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from scimgate.storage.models import Event, WebhookDelivery, WebhookEndpoint, utcnow

FAN_OUT_BATCH = 1000
_INSERT_DELIVERY = insert(WebhookDelivery.metadata.tables[WebhookDelivery.__tablename__])
_TO_ENDPOINT = WebhookEndpoint.id == WebhookDelivery.endpoint_id


def resource_key(resource_type: str, resource_id: str) -> str:
    """The ordering key of a delivery: deliveries of one key to one endpoint go out in seq order."""
    return f"{resource_type}:{resource_id}"


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def list_endpoints(session: Session, workspace_id: str) -> list[WebhookEndpoint]:
    """The workspace's endpoints, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
                                .order_by(WebhookEndpoint.created, WebhookEndpoint.id)))


def get_endpoint(session: Session, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The workspace's endpoint ``endpoint_id`` (None for another workspace's)."""
    return session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id,
                                                        WebhookEndpoint.id == endpoint_id))


def has_enabled_endpoint(session: Session) -> bool:
    """Whether any workspace has an enabled endpoint."""
    return session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.enabled).limit(1)) is not None


def needing_fan_out(session: Session) -> list[str]:
    """Ids of enabled endpoints with events after their cursor (one indexed probe each)."""
    newer = select(Event.seq).where(Event.workspace_id == WebhookEndpoint.workspace_id,
                                    Event.seq > WebhookEndpoint.cursor_seq).exists()
    return list(session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.enabled, newer)))


def fan_out(session: Session, endpoint_id: str, limit: int = FAN_OUT_BATCH) -> int:
    """Turn up to ``limit`` events after the endpoint's cursor (of its types) into pending
    deliveries and move the cursor; returns how many deliveries were made. Skips an endpoint
    another transaction is fanning out (PostgreSQL) or one disabled meanwhile."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if _is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    endpoint = session.scalar(statement)
    if endpoint is None or not endpoint.enabled:
        return 0
    events = select(Event.id, Event.seq, Event.resource_type, Event.resource_id, Event.type).where(
        Event.workspace_id == endpoint.workspace_id, Event.seq > endpoint.cursor_seq)
    scanned = session.execute(events.order_by(Event.seq).limit(limit)).all()
    if not scanned:
        return 0
    wanted = set(endpoint.event_types) if endpoint.event_types else None
    now = utcnow()
    rows = [
        {"endpoint_id": endpoint.id, "workspace_id": endpoint.workspace_id, "event_id": event_id,
         "event_seq": seq, "resource_key": resource_key(kind, rid), "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created": now}
        for event_id, seq, kind, rid, event_type in scanned if wanted is None or event_type in wanted
    ]
    insert_deliveries(session, rows)
    endpoint.cursor_seq = int(scanned[-1][1])
    session.flush()
    return len(rows)


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows as one executemany (multi-row INSERTs on PostgreSQL, see
    SQLAlchemy's insertmanyvalues)."""
    if rows:
        session.connection().execute(_INSERT_DELIVERY, list(rows))


def _due(now: datetime) -> Any:
    return and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now))


def has_due(session: Session, now: datetime) -> bool:
    """Whether some delivery to an enabled endpoint is due (a read-only probe)."""
    statement = (select(WebhookDelivery.id).join(WebhookEndpoint, _TO_ENDPOINT)
                 .where(_due(now), WebhookEndpoint.enabled).limit(1))
    return session.scalar(statement) is not None


@dataclass(frozen=True)
class Claimed:
    """One claimed delivery, with what sending it needs."""

    id: int
    endpoint_id: str
    event_id: str
    attempts: int
    url: str
    secrets: tuple[str, ...]


def claim(session: Session, owner: str, now: datetime, lease_until: datetime, limit: int,
          chain_limit: int) -> list[list[Claimed]]:
    """Claim due deliveries (see the module docstring) and lease them to ``owner`` until
    ``lease_until``; returns them as chains, one per (endpoint, resource), each in seq order and
    at most ``chain_limit`` long. A chain is sent in order and stops at its first failure."""
    statement = (select(WebhookDelivery).join(WebhookEndpoint, _TO_ENDPOINT)
                 .where(_due(now), WebhookEndpoint.enabled)
                 .order_by(WebhookDelivery.event_seq, WebhookDelivery.id).limit(limit))
    if _is_postgres(session):
        statement = statement.with_for_update(skip_locked=True, of=WebhookDelivery)
    candidates = list(session.scalars(statement))
    if not candidates:
        return []
    chains: dict[tuple[str, str], list[WebhookDelivery]] = {}
    for delivery in candidates:
        chain = chains.setdefault((delivery.endpoint_id, delivery.resource_key), [])
        if len(chain) < chain_limit:
            chain.append(delivery)
    pending = _pending_before(session, {key: chain[-1].event_seq for key, chain in chains.items()})
    accepted: list[list[WebhookDelivery]] = []
    for key, chain in chains.items():
        earliest, count = pending[key]
        if chain[0].event_seq != earliest:
            continue  # an earlier delivery of this resource is waiting (retry) or leased elsewhere
        accepted.append(chain if count == len(chain) else chain[:1])
    ids = [d.id for chain in accepted for d in chain]
    if not ids:
        return []
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                    .values(lease_until=lease_until, lease_owner=owner)
                    .execution_options(synchronize_session=False))
    endpoints = {e.id: e for e in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_({d.endpoint_id for d in candidates})))}
    return [[_claimed(d, endpoints[d.endpoint_id], now) for d in chain] for chain in accepted]


def _pending_before(session: Session,
                    last_seqs: dict[tuple[str, str], int]) -> dict[tuple[str, str], tuple[int, int]]:
    """For each (endpoint, resource key): the lowest seq of its pending deliveries up to the given
    seq (the chain's last) and how many there are (the chain index serves each branch)."""
    keys = list(last_seqs)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for start in range(0, len(keys), 100):
        branches = [and_(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.resource_key == key,
                         WebhookDelivery.event_seq <= last_seqs[(endpoint_id, key)])
                    for endpoint_id, key in keys[start:start + 100]]
        rows = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.resource_key,
                   func.min(WebhookDelivery.event_seq), func.count())
            .where(WebhookDelivery.status == "pending", or_(*branches))
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.resource_key)
        )
        for endpoint_id, key, earliest, count in rows:
            found[(str(endpoint_id), str(key))] = (int(earliest), int(count))
    return found


def _claimed(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime) -> Claimed:
    live = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        live.append(endpoint.previous_secret)
    return Claimed(delivery.id, endpoint.id, delivery.event_id, delivery.attempts, endpoint.url, tuple(live))


def events_by_id(session: Session, event_ids: Sequence[str]) -> dict[str, Event]:
    """The events of ``event_ids`` (one IN query per 500)."""
    found: dict[str, Event] = {}
    ids = list(dict.fromkeys(event_ids))
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        found.update((e.id, e) for e in session.scalars(select(Event).where(Event.id.in_(batch))))
    return found


def release(session: Session, delivery_ids: Sequence[int], owner: str) -> None:
    """Give back leases of deliveries not attempted (they stay pending and due)."""
    if delivery_ids:
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(list(delivery_ids)),
                               WebhookDelivery.lease_owner == owner)
                        .values(lease_until=None, lease_owner=None)
                        .execution_options(synchronize_session=False))


def renew(session: Session, delivery_ids: Sequence[int], owner: str, lease_until: datetime) -> None:
    """Extend ``owner``'s leases of ``delivery_ids`` to ``lease_until``."""
    if delivery_ids:
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(list(delivery_ids)),
                               WebhookDelivery.lease_owner == owner)
                        .values(lease_until=lease_until)
                        .execution_options(synchronize_session=False))


def record_attempt(session: Session, delivery_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome (``values``: columns of WebhookDelivery) and drop the lease,
    if ``owner`` still holds it; returns whether it did."""
    result = session.execute(update(WebhookDelivery)
                             .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner)
                             .values(lease_until=None, lease_owner=None, **values)
                             .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recent_deliveries(session: Session, workspace_id: str,
                      limit: int = 50) -> list[tuple[WebhookDelivery, Event]]:
    """The workspace's latest deliveries with their events, newest first."""
    rows = session.execute(select(WebhookDelivery, Event).join(Event, Event.id == WebhookDelivery.event_id)
                           .where(WebhookDelivery.workspace_id == workspace_id)
                           .order_by(WebhookDelivery.id.desc()).limit(limit))
    return [(delivery, event) for delivery, event in rows.tuples()]


def pending_count(session: Session, endpoint_id: str) -> int:
    """How many deliveries to the endpoint are still pending."""
    return int(session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")) or 0)
