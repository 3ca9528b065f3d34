"""GET /Users/{id} and a ``userName eq`` lookup are read-only units of work (issue 14): on SQLite
they run on the event loop's own connection (storage.db.loop_reader_factory), so they must
never wait for the writer."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from scimgate.scim.params import ListQuery, is_unique_user_lookup
from scimgate.storage.db import transaction
from scimgate.storage.members import GROUPS_READ_WITH_MEMBER
from scimgate.storage.models import Member
from tests.support import Tenant, make_tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_a_user_read_answers_while_a_writer_holds_the_database(tenant: Tenant) -> None:
    """A GET by id answers, with the last committed version, while another connection holds
    an uncommitted change of that user (on SQLite: the database's write lock; on PostgreSQL:
    the row's lock). A read that took the write lock would wait until the request timed out."""
    created = tenant.create_user("ada@example.com", displayName="Ada")
    assert tenant.get(f"/Users/{created['id']}").status_code == 200
    with transaction(tenant.server.sessions) as session:
        session.execute(update(Member).where(Member.id == created["id"]).values(display_name="Held"))
        read = tenant.get(f"/Users/{created['id']}", timeout=10)
        assert read.status_code == 200, read.text
        assert read.json()["displayName"] == "Ada"
        assert read.headers["ETag"] == created["meta"]["version"]


def test_a_user_name_lookup_answers_while_a_writer_holds_the_database(tenant: Tenant) -> None:
    """``filter=userName eq "..."`` (the lookup Entra and Okta make before a create) is answered on
    the same read-only path as a GET by id: with the last committed version, while another
    connection holds an uncommitted change of that user; and a lookup that matches nobody, or
    that the server refuses, answers as any list does."""
    created = tenant.create_user("grace@example.com", displayName="Grace")
    with transaction(tenant.server.sessions) as session:
        session.execute(update(Member).where(Member.id == created["id"]).values(display_name="Held"))
        found = tenant.get("/Users", params={"filter": 'userName eq "GRACE@example.com"'}, timeout=10)
        assert found.status_code == 200, found.text
        assert found.json()["totalResults"] == 1
        assert found.json()["Resources"][0]["displayName"] == "Grace"
        by_id = tenant.get("/Users", params={"filter": f'id eq "{created["id"]}"'}, timeout=10)
        assert [r["userName"] for r in by_id.json()["Resources"]] == ["grace@example.com"]
    missing = tenant.get("/Users", params={"filter": 'userName eq "nobody@example.com"'})
    assert missing.status_code == 200
    assert missing.json()["totalResults"] == 0
    bad = tenant.get("/Users", params={"filter": 'userName eq "unterminated\\"'})
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidFilter"


@pytest.mark.parametrize(("text", "unique"), [
    ('userName eq "a@example.com"', True),
    ('USERNAME EQ "a\\"b"', True),
    (' id eq "2819c223" ', True),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"', True),
    ('userName eq "a" or userName eq "b"', False),
    ('userName eq "a" and id eq "b"', False),
    ('userName co "a"', False),
    ('emails.value eq "a@example.com"', False),
    ('externalId eq "a"', False),
    (None, False),
])
def test_unique_user_lookup_is_one_comparison_of_a_unique_attribute(text: str | None, unique: bool) -> None:
    assert is_unique_user_lookup(ListQuery(filter=text)) is unique


def test_a_user_read_names_every_group_in_order_however_many(tenant: Tenant) -> None:
    """GET by id reads the member and its groups in one statement up to
    ``GROUPS_READ_WITH_MEMBER`` groups and in two beyond; either way it names every group, in
    the order and with the version the list read gives them."""
    lonely = tenant.create_user("lonely@example.com")
    busy = tenant.create_user("busy@example.com")
    some = tenant.create_user("some@example.com")
    for n in range(GROUPS_READ_WITH_MEMBER + 1):
        members = [{"value": busy["id"]}] + ([{"value": some["id"]}] if n in (3, 1) else [])
        created = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": f"Team {n:03d}",
                                               "members": members})
        assert created.status_code == 201, created.text
    for user, count in ((lonely, 0), (some, 2), (busy, GROUPS_READ_WITH_MEMBER + 1)):
        read = tenant.get(f"/Users/{user['id']}").json()
        listed = tenant.get("/Users", params={"filter": f'userName eq "{user["userName"]}"',
                                              "count": "2"}).json()["Resources"][0]
        assert [g["display"] for g in read.get("groups", [])] == sorted(
            g["display"] for g in read.get("groups", []))
        assert len(read.get("groups", [])) == count
        assert read.get("groups", []) == listed.get("groups", [])
        assert read["meta"]["version"] == listed["meta"]["version"]


def test_a_unique_lookup_answers_as_the_general_filter_path(tenant: Tenant) -> None:
    """``userName eq`` and ``id eq`` are answered by one indexed statement
    (services.members._look_up); the same filter in parentheses takes the general filter
    compiler. Both answer the same, byte for byte, for a userName in another Unicode case, an id
    in another case (ids are case-exact), a user in Recently removed, a name nobody has, a
    URN-qualified name, and with startIndex, count and attributes; a user of another workspace
    with the same userName is never found."""
    jurgen = tenant.create_user("jürgen.ärztin@example.com", displayName="Jürgen")
    grouped = tenant.create_user("grouped@example.com")
    gone = tenant.create_user("gone@example.com")
    group = tenant.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Lookups",
                                         "members": [{"value": grouped["id"]}]})
    assert group.status_code == 201, group.text
    assert tenant.delete(f"/Users/{gone['id']}").status_code == 204
    other = make_tenant(tenant.server)
    twin = other.create_user("grouped@example.com")
    filters = ['userName eq "JÜRGEN.ÄRZTIN@EXAMPLE.COM"', f'id eq "{jurgen["id"]}"',
               f'id eq "{jurgen["id"].upper()}"', 'USERNAME eq "grouped@example.com"',
               'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "Grouped@Example.com"',
               'userName eq "gone@example.com"', f'id eq "{gone["id"]}"', 'userName eq "nobody@example.com"',
               f'id eq "{twin["id"]}"']
    variants: list[dict[str, str]] = [{}, {"startIndex": "2"}, {"count": "0"}, {"attributes": "userName"},
                                      {"excludedAttributes": "groups,emails"}]
    for text in filters:
        for params in variants:
            fast = tenant.get("/Users", params={"filter": text, **params})
            general = tenant.get("/Users", params={"filter": f"({text})", **params})
            assert fast.status_code == general.status_code == 200, (text, params, fast.text)
            assert fast.json() == general.json(), (text, params)
    found = tenant.get("/Users", params={"filter": 'userName eq "grouped@example.com"'}).json()
    assert [user["id"] for user in found["Resources"]] == [grouped["id"]]
    assert found["Resources"][0]["groups"][0]["value"] == group.json()["id"]
    assert tenant.get("/Users", params={"filter": f'id eq "{twin["id"]}"'}).json()["totalResults"] == 0
    found = tenant.get("/Users", params={"filter": 'userName eq "jürgen.ärztin@example.com"'}).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == jurgen["id"]
