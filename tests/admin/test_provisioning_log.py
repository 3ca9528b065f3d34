"""The provisioning log that says what changed (issue 17): sentences built from the stored
change, before/after values per attribute (never a password), the raw request one click away,
and the CSV / JSON Lines download of a filtered range from the page and from the admin API,
streamed in keyset pages. A live server per module, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from scimgate.services.audit_export import EXPORT_PAGE
from scimgate.storage.db import transaction
from scimgate.storage.models import AuditEvent, utcnow
from tests.admin.client import AdminClient, signed_in
from tests.support import Tenant, admin_client, audit_events, make_tenant

ENTRA = {"User-Agent": "Azure AD SCIM Client"}  # what guess_client reads as Entra
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SECRET = "Tr0ub4dor&3-never-logged"


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[AdminClient]:
    client = signed_in(tenant)
    yield client
    client.close()


def _patch(tenant: Tenant, path: str, operations: list[dict[str, object]], headers: dict[str, str]) -> None:
    response = tenant.patch(path, json={"schemas": [PATCH_OP], "Operations": operations}, headers=headers)
    assert response.status_code in (200, 204), response.text


def _ada(tenant: Tenant) -> dict[str, object]:
    """Ada Lovelace, created by Entra, with a password in the body."""
    response = tenant.post("/Users", headers=ENTRA, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com",
        "displayName": "Ada Lovelace", "password": SECRET,
        "emails": [{"value": "ada@example.com", "primary": True, "type": "work"}]})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _log(admin: AdminClient, **params: str) -> str:
    return html.unescape(admin.get("/admin/log", params=params).text)


def test_rows_read_as_sentences(admin: AdminClient, tenant: Tenant) -> None:
    """Created, deactivated, an email changed, 3 members added: each row says so in words."""
    ada = _ada(tenant)
    _patch(tenant, f"/Users/{ada['id']}", [{"op": "replace", "path": "active", "value": False}], ENTRA)
    new_email = [{"value": "ada.l@example.com", "primary": True, "type": "work"}]
    put = {**ada, "active": False, "emails": new_email}
    assert tenant.put(f"/Users/{ada['id']}", json=put, headers=OKTA).status_code == 200
    others = [tenant.create_user(f"m{i}@example.com") for i in range(2)]
    group = tenant.post("/Groups", json={"displayName": "Engineering"}, headers=ENTRA).json()
    _patch(tenant, f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [
        {"value": ada["id"]}, *({"value": o["id"]} for o in others)]}], ENTRA)
    page = _log(admin)
    assert "Entra created Ada Lovelace" in page
    assert "Entra deactivated Ada Lovelace" in page
    assert "Okta changed the email of Ada Lovelace from ada@example.com to ada.l@example.com" in page
    assert "Entra created the group Engineering" in page
    assert "Entra added 3 members to Engineering" in page
    assert f"<code>PATCH /api/scim/v2/Groups/{group['id']}</code>" in page  # the raw request, in <details>
    assert "<summary>Entra added 3 members to Engineering</summary>" in page


def test_the_change_keeps_before_and_after_but_never_a_password(admin: AdminClient, tenant: Tenant) -> None:
    """The audit row holds each changed attribute's before/after; a password sent on create and
    in a PATCH is on no row, no page and no export."""
    ada = _ada(tenant)
    _patch(tenant, f"/Users/{ada['id']}", [{"op": "replace", "path": "title", "value": "Analyst"},
                                           {"op": "replace", "path": "password", "value": SECRET}], OKTA)
    rows = audit_events(tenant.server, tenant.workspace_id, 2)
    changes = [row.change for row in rows if row.method in ("POST", "PATCH")]
    assert changes[1] == {"kind": "updated", "display": "Ada Lovelace",
                          "attributes": [{"name": "title", "before": None, "after": "Analyst"}]}
    assert changes[0] is not None and changes[0]["kind"] == "created"
    assert SECRET not in json.dumps([row.change for row in rows])
    assert "Okta set the title of Ada Lovelace to Analyst" in _log(admin)
    for fmt in ("csv", "jsonl"):
        exported = admin.get("/admin/log/export", params={"format": fmt})
        assert exported.status_code == 200 and SECRET not in exported.text and "Analyst" in exported.text
    assert SECRET not in admin.get("/admin/log").text


def test_failures_read_as_what_could_not_be_done(admin: AdminClient, tenant: Tenant) -> None:
    """A refused update names the resource by its current name and its status and scimType;
    the detail sits under it, visible."""
    ada = _ada(tenant)
    refused = tenant.patch(f"/Users/{ada['id']}", headers=ENTRA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "ada@home.example"}]})
    assert refused.status_code == 400
    page = _log(admin, failures="1")
    assert "Entra could not update Ada Lovelace: 400 noTarget" in page and "Entra compatibility" in page
    tenant.get("/Users/no-such-id")
    assert "A SCIM client could not read user no-such-…: 404" in _log(admin, failures="1")


def _problem(page: str, name: str) -> str:
    found = re.search(rf'data-testid="problem-{name}">([^<]*)<', page)
    assert found, page[:1500]
    return found.group(1)


def test_bad_filter_values_are_said_next_to_their_filter(admin: AdminClient, tenant: Tenant) -> None:
    """An unknown client, a garbage time and a 'From' after 'To' are each said next to their
    filter and not applied (the page, its pager and its download links); the export of those
    values is the 400 page saying the same."""
    _ada(tenant)
    tenant.get("/Users/no-such-id", headers=OKTA)
    page = _log(admin, client="azure", since="yesterday")
    assert _problem(page, "client") == "'azure' is not a client: choose entra, okta, other. Not applied."
    assert _problem(page, "since") == ("'yesterday' is not a time: use one like 2026-11-29T08:30 (UTC). "
                                       "Not applied.")
    assert _problem(page, "until") == "" and "2 events, newest first" in page
    assert 'href="/admin/log/export?format=csv"' in page
    swapped = _log(admin, since="2026-12-02T10:00", until="2026-12-01T10:00", client="okta")
    assert _problem(swapped, "until") == "'To' must be later than 'From': swap them. Neither time is applied."
    assert "1 event, newest first" in swapped and 'href="/admin/log/export?client=okta&format=csv"' in swapped
    refused = admin.get("/admin/log/export", params={"client": "azure", "format": "csv"})
    assert refused.status_code == 400 and "&#39;azure&#39; is not a client" in refused.text


def test_the_admin_apis_from_and_to_names_work_on_the_page(admin: AdminClient, tenant: Tenant) -> None:
    """``from``/``to`` (the admin API's names) filter the page and its export like since/until."""
    with transaction(tenant.server.sessions) as session:
        for day in (1, 2, 3):
            session.add(AuditEvent(workspace_id=tenant.workspace_id, request_id=uuid.uuid4().hex,
                                   at=datetime(2026, 11, day, 12, tzinfo=UTC), method="GET",
                                   path="/api/scim/v2/Users", resource_type="User", status=200,
                                   client="okta", duration_ms=1.0))
    window = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
    assert "1 event, newest first" in _log(admin, **window)
    assert "1 event, newest first" in _log(admin, since="2026-11-02T00:00", until="2026-11-03T00:00")
    exported = admin.get("/admin/log/export", params={**window, "format": "jsonl"}).text.splitlines()
    assert len(exported) == 1 and json.loads(exported[0])["at"].startswith("2026-11-02T12:00")


def test_export_from_the_page_follows_the_filters(admin: AdminClient, tenant: Tenant) -> None:
    """The page's CSV and JSON Lines links carry its filters; the files hold those events,
    oldest first, with their sentence and change, as attachments."""
    ada = _ada(tenant)
    tenant.get("/Users/no-such-id", headers=OKTA)
    _patch(tenant, f"/Users/{ada['id']}", [{"op": "replace", "path": "active", "value": False}], ENTRA)
    page = admin.get("/admin/log", params={"client": "entra"}).text
    assert 'href="/admin/log/export?client=entra&amp;format=csv"' in page
    lines = admin.get("/admin/log/export", params={"client": "entra", "format": "jsonl"})
    assert lines.headers["content-type"].startswith("application/jsonl")
    assert lines.headers["content-disposition"].startswith('attachment; filename="provisioning-log-')
    records = [json.loads(line) for line in lines.text.splitlines()]
    sentences = [r["sentence"] for r in records]
    assert sentences == ["Entra created Ada Lovelace", "Entra deactivated Ada Lovelace"]
    assert records[1]["change"]["attributes"] == [{"name": "active", "before": True, "after": False}]
    table = list(csv.DictReader(io.StringIO(admin.get("/admin/log/export", params={"format": "csv"}).text)))
    assert [row["status"] for row in table] == ["201", "404", "200"]
    assert table[1]["client"] == "okta" and table[1]["resource_id"] == "no-such-id"
    assert admin.get("/admin/log/export", params={"format": "xml"}).status_code == 400
    assert admin.get("/admin/log/export", params={"since": "yesterday"}).status_code == 400


def test_csv_cells_are_never_formulas(admin: AdminClient, tenant: Tenant) -> None:
    """A display name a spreadsheet would run (``=HYPERLINK(...)``) is exported with a leading quote."""
    tenant.create_user("eve@example.com", displayName='=HYPERLINK("http://evil.example","x")')
    table = list(csv.DictReader(io.StringIO(admin.get("/admin/log/export", params={"format": "csv"}).text)))
    assert table[0]["sentence"].startswith("A SCIM client created =HYPERLINK")
    attributes = json.loads(table[0]["change"])["attributes"]
    assert attributes[0]["after"] == "eve@example.com"
    tenant.delete(f"/Users/{tenant.get('/Users').json()['Resources'][0]['id']}")
    rows = list(csv.reader(io.StringIO(admin.get("/admin/log/export", params={"format": "csv"}).text)))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_the_log_and_its_export_keep_to_the_workspace(admin: AdminClient, tenant: Tenant) -> None:
    """Another workspace's events are in neither download."""
    other = make_tenant(tenant.server)
    other.create_user("leak@example.com", displayName="Leaky")
    for fmt in ("csv", "jsonl"):
        assert "Leaky" not in admin.get("/admin/log/export", params={"format": fmt}).text


# --- The admin API ----------------------------------------------------------------------------


def test_admin_api_exports_a_range_in_both_formats(tenant: Tenant) -> None:
    """``from``/``to`` bound the range (``to`` exclusive); JSON Lines by default, CSV on request."""
    with transaction(tenant.server.sessions) as session:
        for hours, path in ((30, "/old"), (5, "/in-range"), (1, "/late")):
            session.add(AuditEvent(
                workspace_id=tenant.workspace_id, at=utcnow() - timedelta(hours=hours),
                request_id=uuid.uuid4().hex, method="GET", path="/api/scim/v2/Users" + path,
                resource_type="User", status=200, client="entra", duration_ms=1.0))
    start = (utcnow() - timedelta(hours=24)).isoformat()
    end = (utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with admin_client(tenant) as api:
        lines = api.get("/audit", params={"from": start, "to": end})
        assert lines.status_code == 200 and lines.headers["content-type"].startswith("application/jsonl")
        paths = [json.loads(line)["path"] for line in lines.text.splitlines()]
        assert paths == ["/api/scim/v2/Users/in-range"]
        table = api.get("/audit", params={"from": start, "format": "csv"})
        assert table.headers["content-type"].startswith("text/csv")
        paths = [row["path"] for row in csv.DictReader(io.StringIO(table.text))]
        assert paths == ["/api/scim/v2/Users/in-range", "/api/scim/v2/Users/late"]
        assert len(api.get("/audit").text.splitlines()) == 3


@pytest.mark.parametrize(("params", "words"), [
    ({"from": "yesterday"}, "from must be an ISO 8601 time"),
    ({"to": "2026-13-01"}, "to must be an ISO 8601 time"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "from must be earlier than to"),
    ({"format": "xml"}, "format must be one of csv, jsonl"),
    ({"client": "ping"}, "client must be one of"),
    ({"failures": "yes"}, "failures must be 1"),
    ({"since": "2026-12-01"}, "Unknown parameter 'since'"),
])
def test_admin_api_refuses_bad_parameters_in_its_json(tenant: Tenant, params: dict[str, str],
                                                      words: str) -> None:
    with admin_client(tenant) as api:
        response = api.get("/audit", params=params)
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid" and words in error["detail"]


def test_admin_api_export_needs_an_admin_key(tenant: Tenant) -> None:
    """No key, or a SCIM token instead of an admin key: 401 in the admin API's JSON."""
    url = tenant.server.url + "/api/admin/v1/audit"
    for headers in ({}, {"Authorization": f"Bearer {tenant.token}"}):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_admin_api_export_streams_keyset_pages_without_loss_or_repeat(tenant: Tenant) -> None:
    """More than two pages of events, many sharing one timestamp: every event once, in order
    (at, id), sent in chunks rather than with a Content-Length."""
    count = EXPORT_PAGE * 2 + 7
    same = utcnow() - timedelta(minutes=5)
    with transaction(tenant.server.sessions) as session:
        session.add_all(AuditEvent(workspace_id=tenant.workspace_id, at=same if i % 3 else same + timedelta(
            seconds=i), request_id=f"r{i:05d}", method="GET", path="/api/scim/v2/Users", status=200,
            client="okta", duration_ms=1.0) for i in range(count))
    with admin_client(tenant) as api, api.stream("GET", "/audit") as response:
        assert response.status_code == 200 and "content-length" not in response.headers
        records = [json.loads(line) for line in response.iter_lines() if line]
    ids = [r["request_id"] for r in records]
    assert len(ids) == count and len(set(ids)) == count
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)


def test_admin_api_export_answers_only_get(tenant: Tenant) -> None:
    """POST/DELETE on /audit: 405 in the admin API's JSON with ``Allow`` (RFC 9110 §15.5.6)."""
    with admin_client(tenant) as api:
        for method in ("POST", "DELETE"):
            response = api.request(method, "/audit")
            assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
            assert response.json()["error"]["code"] == "method_not_allowed"
