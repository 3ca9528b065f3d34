"""Leaving and coming back over HTTP, on SQLite and PostgreSQL (issue 16).

The deletion policy (keep: Recently removed, out of the SCIM view; purge), ``active`` false
never deleting, restore by an admin (same id, owned data, groups), the identity provider's
re-POST of the same person (automatic restore), transfer of chats and agents (logged), the
purge job (``scimgate retention run``: idempotent, concurrent runs purge each member once) and
seats (states, counts, the limit under racing creates).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from scimgate.storage.models import AuditEvent, Chat, Member, ScimToken, utcnow
from tests.events.support import all_events
from tests.http.test_roles import PATCH_OP, group, race, role, save_roles
from tests.support import Tenant, admin_client, make_tenant


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[httpx.Client]:
    with admin_client(tenant) as client:
        yield client


def admin_key_prefix(tenant: Tenant) -> str:
    with tenant.server.sessions() as session:
        return str(session.scalar(select(ScimToken.prefix).where(
            ScimToken.workspace_id == tenant.workspace_id, ScimToken.kind == "admin")))


def log_sentences(admin: httpx.Client) -> list[str]:
    """The provisioning log's sentences, through the admin API's audit export (JSON Lines)."""
    return [json.loads(line)["sentence"] for line in admin.get("/audit").text.splitlines() if line]


def owned(admin: httpx.Client, member_id: str, chats: int = 2, agents: int = 1) -> None:
    response = admin.post(f"/members/{member_id}/sample-data", json={"chats": chats, "agents": agents})
    assert response.status_code == 201, response.text


def counts(admin: httpx.Client, member_id: str) -> tuple[int, int]:
    body = admin.get(f"/members/{member_id}/owned").json()
    return body["chats"], body["agents"]


def removed_ids(admin: httpx.Client) -> list[str]:
    return [r["member_id"] for r in admin.get("/members/removed").json()["removed"]]


def settings(admin: httpx.Client, **values: Any) -> None:
    body = {"deletion_policy": "keep", "removal_keep_days": 30, "seat_limit": None, **values}
    response = admin.put("/settings", json=body)
    assert response.status_code == 200, response.text


def test_delete_keeps_the_member_out_of_the_scim_view(tenant: Tenant, admin: httpx.Client) -> None:
    """keep (the default): 404 (RFC 7644 §3.6), in no list, filter or group; kept in Recently removed
    with its chats and agents; its userName is free."""
    user = tenant.create_user("ana@example.com", externalId="e-ana")
    owned(admin, user["id"])
    g = group(tenant, "Team", user["id"])
    assert admin.get("/settings").json() == {"deletion_policy": "keep", "removal_keep_days": 30,
                                             "seat_limit": None}
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert tenant.get(f"/Users/{user['id']}").status_code == 404
    assert tenant.delete(f"/Users/{user['id']}").status_code == 404
    by_name = tenant.get("/Users", params={"filter": 'userName eq "ana@example.com"'})
    assert by_name.json()["totalResults"] == 0
    assert tenant.get("/Users", params={"filter": 'externalId eq "e-ana"'}).json()["totalResults"] == 0
    assert tenant.get("/Users").json()["totalResults"] == 0
    assert "members" not in tenant.get(f"/Groups/{g}").json()
    add = tenant.patch(f"/Groups/{g}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]}]})
    assert add.status_code == 400  # not a User of the workspace any more
    listed = admin.get("/members/removed").json()
    assert listed["total"] == 1
    entry = listed["removed"][0]
    assert (entry["member_id"], entry["chats"], entry["agents"], entry["groups"]) == (user["id"], 2, 1, 1)
    assert counts(admin, user["id"]) == (2, 1)
    other = tenant.create_user("ana@example.com", externalId="e-someone-else")
    assert other["id"] != user["id"]


def test_active_false_never_deletes(tenant: Tenant, admin: httpx.Client) -> None:
    user = tenant.create_user("bea@example.com")
    owned(admin, user["id"])
    response = tenant.patch(f"/Users/{user['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    assert response.status_code == 200
    assert tenant.get(f"/Users/{user['id']}").status_code == 200
    assert counts(admin, user["id"]) == (2, 1)
    assert removed_ids(admin) == []


def test_purge_policy_deletes_at_once(tenant: Tenant, admin: httpx.Client) -> None:
    settings(admin, deletion_policy="purge")
    user = tenant.create_user("cid@example.com")
    owned(admin, user["id"])
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert removed_ids(admin) == []
    assert admin.get(f"/members/{user['id']}/owned").status_code == 404
    with tenant.server.sessions() as session:
        assert session.scalar(select(Chat).where(Chat.member_id == user["id"])) is None


def test_settings_are_checked(admin: httpx.Client) -> None:
    for bad in ({"deletion_policy": "archive"}, {"removal_keep_days": 0}, {"seat_limit": 0}):
        body = {"deletion_policy": "keep", "removal_keep_days": 30, "seat_limit": None, **bad}
        assert admin.put("/settings", json=body).status_code == 400


def test_admin_restore_brings_back_everything(tenant: Tenant, admin: httpx.Client) -> None:
    """Restore: same SCIM id, chats and agents, memberships of the groups that still exist, role."""
    user = tenant.create_user("dee@example.com")
    keeper = tenant.create_user("keeper@example.com")
    owned(admin, user["id"], chats=3, agents=2)
    kept, gone = group(tenant, "Kept", user["id"]), group(tenant, "Gone", user["id"])
    assert save_roles(admin, {kept: "editor"}).status_code == 200
    assert role(admin, user["id"]) == "editor"
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    assert tenant.delete(f"/Groups/{gone}").status_code == 204
    restored = admin.post(f"/members/{user['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"member_id": user["id"], "groups": [kept], "role": "editor"}
    back = tenant.get(f"/Users/{user['id']}").json()
    assert back["userName"] == "dee@example.com"
    assert [g["value"] for g in back["groups"]] == [kept]
    assert counts(admin, user["id"]) == (3, 2)
    assert [m["value"] for m in tenant.get(f"/Groups/{kept}").json()["members"]] == [user["id"]]
    assert removed_ids(admin) == []
    assert admin.post(f"/members/{user['id']}/restore").status_code == 404
    assert admin.post(f"/members/{keeper['id']}/restore").status_code == 404
    key = admin_key_prefix(tenant)
    restored_line = f"admin key {key}… restored dee@example.com and their memberships of 1 group"
    assert restored_line in log_sentences(admin)
    restored_events = [e for e in all_events(admin) if e["type"] == "member.restored"]
    assert len(restored_events) == 1
    event = restored_events[0]
    assert event["actor"]["type"] == "admin" and event["resource"]["id"] == user["id"]
    assert event["data"]["groups"] == [kept] and event["data"]["resource"]["userName"] == "dee@example.com"


def test_restore_refused_when_the_user_name_was_taken(tenant: Tenant, admin: httpx.Client) -> None:
    user = tenant.create_user("eve@example.com", externalId="e1")
    assert tenant.delete(f"/Users/{user['id']}").status_code == 204
    tenant.create_user("eve@example.com", externalId="e2")
    response = admin.post(f"/members/{user['id']}/restore")
    assert response.status_code == 409
    assert "eve@example.com" in response.json()["error"]["detail"]
    assert removed_ids(admin) == [user["id"]]


def test_idp_re_post_restores_automatically(tenant: Tenant, admin: httpx.Client) -> None:
    """The same person posted again within the window (same externalId; or same userName when the
    externalIds do not differ): 201 with the same SCIM id and everything it owned, no old groups."""
    by_external = tenant.create_user("fay@example.com", externalId="oid-fay")
    by_name = tenant.create_user("gus@example.com")
    for member in (by_external, by_name):
        owned(admin, member["id"])
        group(tenant, f"G-{member['id'][:8]}", member["id"])
        assert tenant.delete(f"/Users/{member['id']}").status_code == 204
    again = tenant.create_user("fay.renamed@example.com", externalId="oid-fay", displayName="Fay")
    assert again["id"] == by_external["id"] and again["userName"] == "fay.renamed@example.com"
    assert "groups" not in again
    assert counts(admin, again["id"]) == (2, 1)
    same_name = tenant.create_user("GUS@example.com")
    assert same_name["id"] == by_name["id"]
    assert counts(admin, same_name["id"]) == (2, 1)
    assert removed_ids(admin) == []


def test_re_post_in_another_unicode_case_restores(tenant: Tenant, admin: httpx.Client) -> None:
    """The same userName in any case is Unicode case, on both databases: SQLite's own lower()
    folds ASCII only, so ``Ädä`` posted again as ``äDÄ`` was a new member there."""
    first = tenant.create_user("Ädä.Øre@example.com")
    assert tenant.delete(f"/Users/{first['id']}").status_code == 204
    again = tenant.create_user("äDÄ.øRE@example.com")
    assert again["id"] == first["id"]
    assert removed_ids(admin) == []


def test_a_user_name_shaped_like_a_tombstone_is_not_taken(tenant: Tenant, admin: httpx.Client) -> None:
    """While a member is in Recently removed its lower-cased userName column holds a marker, not
    a name: a new member whose userName spells that marker (any case) is not a duplicate."""
    removed = tenant.create_user("ivy@example.com")
    assert tenant.delete(f"/Users/{removed['id']}").status_code == 204
    for spelling in (f"~removed~{removed['id']}", f"~REMOVED~{removed['id']}"):
        created = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                              "userName": spelling})
        assert created.status_code == 201, created.text
        assert tenant.delete(f"/Users/{created.json()['id']}").status_code == 204
    assert tenant.create_user("ivy@example.com")["id"] == removed["id"]


def test_re_post_of_another_person_is_a_new_member(tenant: Tenant, admin: httpx.Client) -> None:
    first = tenant.create_user("hal@example.com", externalId="oid-1")
    assert tenant.delete(f"/Users/{first['id']}").status_code == 204
    stranger = tenant.create_user("hal@example.com", externalId="oid-2")
    assert stranger["id"] != first["id"]
    assert removed_ids(admin) == [first["id"]]


def test_re_post_after_the_window_is_a_new_member(tenant: Tenant, admin: httpx.Client) -> None:
    first = tenant.create_user("ivy@example.com", externalId="oid-ivy")
    assert tenant.delete(f"/Users/{first['id']}").status_code == 204
    _age_removal(tenant, first["id"], days=31)
    again = tenant.create_user("ivy@example.com", externalId="oid-ivy")
    assert again["id"] != first["id"]


def test_transfer_hands_chats_and_agents_over(tenant: Tenant, admin: httpx.Client) -> None:
    leaver = tenant.create_user("jo@example.com")
    heir = tenant.create_user("kim@example.com")
    owned(admin, leaver["id"], chats=3, agents=2)
    owned(admin, heir["id"], chats=1, agents=0)
    assert tenant.delete(f"/Users/{leaver['id']}").status_code == 204
    response = admin.post(f"/members/{leaver['id']}/transfer", json={"to": heir["id"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"from": leaver["id"], "to": heir["id"], "chats": 3, "agents": 2}
    assert counts(admin, heir["id"]) == (4, 2)
    assert counts(admin, leaver["id"]) == (0, 0)
    with tenant.server.sessions() as session:
        row = session.scalar(select(AuditEvent).where(AuditEvent.workspace_id == tenant.workspace_id,
                                                      AuditEvent.client == "admin"))
    assert row is not None and row.resource_id == leaver["id"] and row.method == "" and row.path == ""
    key = admin_key_prefix(tenant)
    sentence = f"admin key {key}… handed over 3 chats and 2 agents from jo@example.com to kim@example.com"
    assert sentence in log_sentences(admin)
    moved = [e for e in all_events(admin) if e["type"] == "member.data_transferred"]
    assert [(e["resource"]["id"], e["actor"]["type"], e["data"]) for e in moved] == [
        (leaver["id"], "admin", {"from": {"id": leaver["id"], "userName": "jo@example.com"},
                                 "to": {"id": heir["id"], "userName": "kim@example.com"},
                                 "chats": 3, "agents": 2})]
    by_name = admin.post(f"/members/{heir['id']}/transfer", json={"to": "JO@example.com"})
    assert by_name.status_code == 404  # a member in Recently removed receives nothing
    assert admin.post(f"/members/{leaver['id']}/transfer", json={"to": " KIM@example.com "}).json() == {
        "from": leaver["id"], "to": heir["id"], "chats": 0, "agents": 0}
    assert admin.post(f"/members/{heir['id']}/transfer", json={"to": "kim@example.com"}).status_code == 400
    assert admin.post(f"/members/{heir['id']}/transfer", json={"to": leaver["id"]}).status_code == 404
    other = make_tenant(tenant.server)
    stranger = other.create_user("lee@example.com")
    for foreign in (stranger["id"], "lee@example.com", "nobody@example.com"):
        refused = admin.post(f"/members/{leaver['id']}/transfer", json={"to": foreign})
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found" and foreign in refused.json()["error"]["detail"]
    other.client.close()


def _age_removal(tenant: Tenant, member_id: str, days: int) -> None:
    with tenant.server.sessions.begin() as session:
        session.execute(update(Member).where(Member.id == member_id)
                        .values(removed_at=utcnow() - timedelta(days=days)))


def _retention_run(tenant: Tenant) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SCIMGATE_DATABASE_URL": tenant.server.database_url}
    command = str(Path(sys.executable).parent / "scimgate")
    return subprocess.Popen([command, "retention", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_retention_run_purges_once_even_when_run_concurrently(tenant: Tenant, admin: httpx.Client) -> None:
    """Three runs at once, then one more: the member past its window is purged once (one retention
    row), the one still in its window is kept."""
    due = tenant.create_user("max@example.com")
    fresh = tenant.create_user("ned@example.com")
    for member in (due, fresh):
        owned(admin, member["id"])
        assert tenant.delete(f"/Users/{member['id']}").status_code == 204
    _age_removal(tenant, due["id"], days=31)
    runs = [_retention_run(tenant) for _ in range(3)]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    again = _retention_run(tenant)
    assert again.communicate(timeout=120)[0].decode().startswith("Purged 0")
    assert removed_ids(admin) == [fresh["id"]]
    assert admin.get(f"/members/{due['id']}/owned").status_code == 404
    assert counts(admin, fresh["id"]) == (2, 1)
    with tenant.server.sessions() as session:
        purges = list(session.scalars(select(AuditEvent).where(AuditEvent.workspace_id == tenant.workspace_id,
                                                               AuditEvent.client == "retention")))
    assert [(p.resource_id, p.method) for p in purges] == [(due["id"], "")]
    assert "Retention purged max@example.com after their time in Recently removed" in log_sentences(admin)


def test_seat_states_and_limit(tenant: Tenant, admin: httpx.Client) -> None:
    """States counted; with a limit a create or a reactivation beyond it is 400 with a clear
    detail; a deactivated member frees its seat."""
    a = tenant.create_user("oli@example.com")
    b = tenant.create_user("pam@example.com")
    tenant.patch(f"/Users/{b['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    c = tenant.create_user("quin@example.com")
    assert tenant.delete(f"/Users/{c['id']}").status_code == 204
    assert admin.get("/seats").json() == {"pending": 1, "active": 0, "deactivated": 1, "removed": 1,
                                          "seats": 1, "limit": None}
    settings(admin, seat_limit=1)
    refused = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "userName": "ray@example.com"})
    assert refused.status_code == 400, refused.text
    assert "scimType" not in refused.json() and "Seat limit reached" in refused.json()["detail"]
    reactivate = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": True}]}
    assert tenant.patch(f"/Users/{b['id']}", json=reactivate).status_code == 400
    assert admin.post(f"/members/{c['id']}/restore").status_code == 409
    inactive = tenant.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                           "userName": "sue@example.com", "active": False})
    assert inactive.status_code == 201  # a deactivated member holds no seat
    assert tenant.patch(f"/Users/{a['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": False}]}).status_code == 200
    assert tenant.patch(f"/Users/{b['id']}", json=reactivate).status_code == 200


def test_seat_limit_holds_under_racing_creates(tenant: Tenant, admin: httpx.Client) -> None:
    settings(admin, seat_limit=3)
    user = "urn:ietf:params:scim:schemas:core:2.0:User"
    statuses = race(tenant, [("POST", "/Users", {"schemas": [user], "userName": f"r{n}@example.com"})
                             for n in range(8)])
    assert sorted(statuses) == [201] * 3 + [400] * 5, statuses
    assert tenant.get("/Users").json()["totalResults"] == 3


def test_settings_refuse_unknown_fields_and_wrong_types(admin: httpx.Client) -> None:
    """A typo or a value of the wrong JSON type is 400 in the admin API's format; nothing is
    reset to its default (``{"a": 1}`` once answered 200 and reset every setting)."""
    saved = admin.put("/settings", json={"deletion_policy": "keep", "removal_keep_days": 12})
    assert saved.status_code == 200, saved.text
    for body in ({"a": 1}, {"seat_limit": True}, {"removal_keep_days": "10"}):
        refused = admin.put("/settings", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"]["code"] == "invalid"
    assert admin.get("/settings").json()["removal_keep_days"] == 12
    assert admin.put("/roles", json={"mapping": []}).status_code == 400
