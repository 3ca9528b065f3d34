"""The connection health card per client (issue 17): last request, 24-hour requests and error
rate, top refusals with their fix, and Entra's *quiet* after two 40-minute cycles. Driven by
real SCIM traffic over HTTP (User-Agents of Entra and Okta), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from scimgate.services import workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import AuditEvent, ScimToken, utcnow
from tests.admin.client import AdminClient, signed_in
from tests.support import Tenant, make_tenant

ENTRA = {"User-Agent": "Azure AD SCIM Client"}
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def admin(tenant: Tenant) -> Iterator[AdminClient]:
    client = signed_in(tenant)
    yield client
    client.close()


def _card(admin: AdminClient, client: str) -> str:
    """The text of one client's card on the health page."""
    page = html.unescape(admin.get("/admin/health").text)
    found = re.search(rf'data-testid="health-{client}">(.*?)</section>', page, re.S)
    assert found, page[:2000]
    return found.group(1)


def _state(card: str, client: str) -> str:
    found = re.search(rf'data-testid="health-{client}-state">([^<]+)<', card)
    assert found
    return found.group(1)


def _logged_at(tenant: Tenant, client: str, ago: timedelta, status: int = 200) -> None:
    with transaction(tenant.server.sessions) as session:
        session.add(AuditEvent(workspace_id=tenant.workspace_id, at=utcnow() - ago,
                               request_id=uuid.uuid4().hex, method="GET", path="/api/scim/v2/Users",
                               resource_type="User", status=status, client=client, duration_ms=1.0))


def test_a_new_workspace_has_no_request_yet(admin: AdminClient) -> None:
    for client in ("entra", "okta", "other"):
        assert _state(_card(admin, client), client) == "no request yet"


def test_traffic_makes_its_own_clients_card_healthy(admin: AdminClient, tenant: Tenant) -> None:
    """Entra's test connection (a filtered GET) and a create: Entra healthy with 2 requests, 0%;
    Okta's card untouched."""
    assert tenant.get("/Users", params={"filter": 'userName eq "probe"'}, headers=ENTRA).status_code == 200
    assert tenant.post("/Users", json={"userName": "ada@example.com"}, headers=ENTRA).status_code == 201
    card = _card(admin, "entra")
    assert _state(card, "entra") == "healthy"
    assert 'data-testid="health-entra-requests">2<' in card and ">0% (0 failed)<" in card
    assert _state(_card(admin, "okta"), "okta") == "no request yet"


def test_unverified_domain_failures_name_the_domain_to_verify(admin: AdminClient, tenant: Tenant) -> None:
    """Three creates in an unverified domain, one success: failing at 75%, with the fix
    "verify new-company.example"."""
    tenant.get("/Users", headers=OKTA)
    for i in range(3):
        refused = tenant.post("/Users", json={"userName": f"u{i}@new-company.example"}, headers=OKTA)
        assert refused.status_code == 400
    card = _card(admin, "okta")
    assert _state(card, "okta") == "failing" and ">75% (3 failed)<" in card
    assert "3 × 400 invalidValue" in card and "fix: verify new-company.example" in card


def test_sync_off_refusals_say_turn_on_scim_user_sync(admin: AdminClient, tenant: Tenant) -> None:
    with transaction(tenant.server.sessions) as session:
        workspaces.set_scim_sync(session, workspaces.find_workspace(session, tenant.workspace_id), False)
    for _ in range(3):
        assert tenant.get("/Users", headers=ENTRA).status_code == 403
    card = _card(admin, "entra")
    assert _state(card, "entra") == "failing" and "fix: turn on SCIM user sync" in card
    assert 'name="switch" value="user"' in card


def test_no_target_refusals_offer_entra_compatibility(admin: AdminClient, tenant: Tenant) -> None:
    """Entra's ordinary update answered 400 noTarget: the fix turns on Entra compatibility, and
    its button does (the same PATCH then succeeds and the reason's fix is gone)."""
    ada = tenant.create_user("ada@example.com")
    body = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ada@example.com"}]}
    assert tenant.patch(f"/Users/{ada['id']}", json=body, headers=ENTRA).status_code == 400
    card = _card(admin, "entra")
    assert "400 noTarget" in card and "fix: turn on Entra compatibility" in card
    assert 'name="switch" value="entra"' in card
    assert admin.post("/admin/security/sync", {"switch": "entra", "active": "on"}).status_code == 303
    assert tenant.patch(f"/Users/{ada['id']}", json=body, headers=ENTRA).status_code == 200
    assert "fix: turn on Entra compatibility" not in _card(admin, "entra")


def test_entra_is_quiet_after_two_cycles_and_okta_never_is(admin: AdminClient, tenant: Tenant) -> None:
    """Entra's last request 79 minutes ago: healthy; 81 minutes ago: quiet. Okta silent for
    three hours stays healthy (it pushes on change, it does not poll)."""
    _logged_at(tenant, "entra", timedelta(minutes=81))
    _logged_at(tenant, "okta", timedelta(hours=3))
    card = _card(admin, "entra")
    assert _state(card, "entra") == "quiet" and "two Entra cycles" in card
    assert _state(_card(admin, "okta"), "okta") == "healthy"
    _logged_at(tenant, "entra", timedelta(minutes=79))
    assert _state(_card(admin, "entra"), "entra") == "healthy"


def test_only_the_last_24_hours_count(admin: AdminClient, tenant: Tenant) -> None:
    """Failures 25 hours old count in no rate; the last request still shows."""
    for _ in range(3):
        _logged_at(tenant, "other", timedelta(hours=25), status=500)
    _logged_at(tenant, "other", timedelta(hours=1))
    card = _card(admin, "other")
    assert _state(card, "other") == "healthy"
    assert 'data-testid="health-other-requests">1<' in card and ">0% (0 failed)<" in card


def test_cards_keep_to_the_workspace_and_need_a_session(admin: AdminClient, tenant: Tenant) -> None:
    other = make_tenant(tenant.server)
    other.get("/Users", headers=ENTRA)
    assert _state(_card(admin, "entra"), "entra") == "no request yet"
    partial = admin.get("/admin/health/cards")
    assert partial.status_code == 200 and 'hx-trigger="every 30s"' in partial.text
    anonymous = AdminClient.open(tenant.server)
    try:
        assert anonymous.get("/admin/health").headers["location"] == "/admin/login"
        polled = anonymous.get("/admin/health/cards", headers={"HX-Request": "true"})
        assert polled.status_code == 401 and polled.headers["hx-redirect"] == "/admin/login"
    finally:
        anonymous.close()


def test_wrong_tokens_are_counted_and_shown_with_their_fix(admin: AdminClient, tenant: Tenant) -> None:
    """A mistyped copy of the workspace's token (its first characters kept) and a revoked token
    are 401s on the sender's card, with the fix; a token nobody issued is 401 and writes nothing."""
    mangled = tenant.token[:12] + "x" * 20
    assert tenant.get("/Users", headers={**ENTRA, "Authorization": f"Bearer {mangled}"}).status_code == 401
    stranger = {**ENTRA, "Authorization": "Bearer sg_nobody_issued_this"}
    assert tenant.get("/Users", headers=stranger).status_code == 401
    assert tenant.get("/Users", headers={**ENTRA, "Authorization": "Basic x"}).status_code == 401
    other = make_tenant(tenant.server)
    with transaction(tenant.server.sessions) as session:
        session.query(ScimToken).filter_by(workspace_id=other.workspace_id).update({"revoked_at": utcnow()})
    assert other.get("/Users", headers=OKTA).status_code == 401
    card = _card(admin, "entra")
    assert 'data-testid="health-entra-unauthorized">1<' in card
    assert 'data-testid="health-entra-requests">1<' in card
    assert "1 request was refused for a revoked or mistyped SCIM bearer token" in card
    assert "1 × 401</strong>" in card and "fix: the identity provider sends a revoked or mistyped" in card
    assert 'data-testid="health-okta-unauthorized">0<' in _card(admin, "okta")
    theirs = signed_in(other)
    try:
        assert 'data-testid="health-okta-unauthorized">1<' in _card(theirs, "okta")
    finally:
        theirs.close()


def test_every_refusal_shown_has_a_fix(admin: AdminClient, tenant: Tenant) -> None:
    """An unsupported filter (400 invalidFilter) and an unknown user (404) each get a fix line."""
    refused = tenant.get("/Users", params={"filter": "title sw"}, headers=OKTA)
    assert refused.json()["scimType"] == "invalidFilter"
    assert tenant.get(f"/Users/{uuid.uuid4()}", headers=OKTA).status_code == 404
    card = _card(admin, "okta")
    assert "400 invalidFilter</strong>" in card
    assert "fix: the client sends a filter scimgate does not answer" in card
    assert "404</strong>" in card and "fix: the client refers to a user or group that is not here" in card
    assert card.count("— fix:") == card.count("<li>")
