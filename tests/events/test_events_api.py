"""The events API pages through 100,000 events with a stable cursor; the retention purge removes
old events and a cursor into them answers 410 (both databases)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from scimgate.events import feed, outbox
from scimgate.storage import events as store
from scimgate.storage.db import transaction
from scimgate.storage.models import Event, utcnow
from tests.support import Tenant, admin_client

BULK = 100_000


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[httpx.Client]:
    client = admin_client(tenant)
    yield client
    client.close()


def _bulk_events(tenant: Tenant, count: int) -> None:
    """``count`` member.updated events in one transaction (the outbox's own multi-row path)."""
    with transaction(tenant.server.sessions) as session:
        now = utcnow()
        store.append(session, tenant.workspace_id, [
            {"id": str(uuid.uuid4()), "occurred_at": now,
             "type": "member.updated" if n % 10 else "member.created", "actor": "system", "actor_id": None,
             "resource_type": "User", "resource_id": f"u{n}", "data": {"n": n}}
            for n in range(count)
        ])


def _page(admin: httpx.Client, after: str | None, **params: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"limit": 1000, **params}
    if after:
        query["after"] = after
    response = admin.get("/events", params=query)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_pages_through_100000_events_with_a_stable_cursor(tenant: Tenant, admin: httpx.Client) -> None:
    """Every event once, in seq order; a cursor asked twice answers the same page; events
    committed during the walk appear after the ones before them; the type filter pages too."""
    _bulk_events(tenant, BULK)
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        body = _page(admin, after)
        seen.extend(e["seq"] for e in body["data"])
        pages += 1
        if pages == 50:
            assert _page(admin, after)["data"] == body["data"]  # the same cursor, the same page
            with transaction(tenant.server.sessions) as session:  # a change committed mid-walk
                outbox.emit(session, tenant.workspace_id, "member.deleted", "User", "late", {"resource": {}})
        after = body["next"]
        if not body["has_more"]:
            break
    assert len(seen) == BULK + 2  # the fixture's workspace.sync_changed, the bulk, the late one
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == seen[0] + BULK + 1
    assert _page(admin, after) == {"data": [], "next": after, "has_more": False}  # polling the end
    created = _page(admin, None, type="member.created", limit=1000)
    assert len(created["data"]) == 1000 and {e["type"] for e in created["data"]} == {"member.created"}
    rest = _page(admin, created["next"], type="member.created")
    assert rest["data"][0]["seq"] > created["data"][-1]["seq"]


def test_purge_and_expired_cursor(tenant: Tenant, admin: httpx.Client) -> None:
    """Events older than the retention go (with their deliveries); a cursor into them is 410
    ``cursor_expired``; one after them keeps working."""
    _bulk_events(tenant, 30)
    events = _page(admin, None)["data"]
    with transaction(tenant.server.sessions) as session:
        session.execute(update(Event).where(Event.workspace_id == tenant.workspace_id,
                                            Event.seq <= events[10]["seq"])
                        .values(occurred_at=utcnow() - timedelta(days=31)))
    assert feed.purge(tenant.server.sessions, 30) >= 11
    expired = admin.get("/events", params={"after": events[5]["cursor"]})
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "cursor_expired"
    kept = _page(admin, events[10]["cursor"])
    assert [e["id"] for e in kept["data"]] == [e["id"] for e in events[11:]]
    assert _page(admin, None)["data"][0]["id"] == events[11]["id"]


def test_numbering_goes_on_after_every_event_was_purged(tenant: Tenant, admin: httpx.Client) -> None:
    """The purge deletes every event of the workspace: the next event still numbers after the
    last one, and a cursor taken before the purge sees it (SQLite numbers from the newest
    stored event, and from the counter the purge raised once none is left)."""
    _bulk_events(tenant, 5)
    last = _page(admin, None)["data"][-1]
    with transaction(tenant.server.sessions) as session:
        session.execute(update(Event).where(Event.workspace_id == tenant.workspace_id)
                        .values(occurred_at=utcnow() - timedelta(days=31)))
    assert feed.purge(tenant.server.sessions, 30) >= 5
    assert _page(admin, None)["data"] == []
    _bulk_events(tenant, 2)
    after = admin.get("/events", params={"after": last["cursor"]})
    assert after.status_code == 200, after.text
    assert [e["seq"] for e in after.json()["data"]] == [last["seq"] + 1, last["seq"] + 2]
