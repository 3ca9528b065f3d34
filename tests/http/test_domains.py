"""Allowed and verified email domains over HTTP: the admin JSON API and the provisioning rule
on POST/PUT/PATCH /Users (issue 7 §1-3; RFC 7644 §3.12 for the 400 ``invalidValue``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scimgate.storage.models import AuditEvent, EmailDomain, Member
from tests.dns_server import DnsZone
from tests.support import LiveServer, Tenant, admin_client, make_tenant

pytestmark = pytest.mark.dns  # the live server resolves through the test DNS server (`zone`)

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"




def unique(label: str = "d") -> str:
    return f"{label}{uuid.uuid4().hex[:8]}.example"


def user(user_name: str, *emails: str, **extra: Any) -> dict[str, Any]:
    body = {"schemas": [USER], "userName": user_name, **extra}
    if emails:
        body["emails"] = [{"value": e, "type": "work", "primary": i == 0} for i, e in enumerate(emails)]
    return body


def last_audit(tenant: Tenant) -> AuditEvent:
    with tenant.server.sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.workspace_id == tenant.workspace_id)
                                .order_by(AuditEvent.id.desc()).limit(1)).one()
        return event


def member_count(tenant: Tenant) -> int:
    with tenant.server.sessions() as session:
        return len(session.scalars(select(Member.id).where(Member.workspace_id == tenant.workspace_id)).all())


def assert_domain_refused(response: httpx.Response, domain: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["scimType"] == "invalidValue"
    assert f"add and verify {domain} in the workspace's security settings" in body["detail"]


# --- Admin API ------------------------------------------------------------------------------


def test_admin_api_needs_an_admin_key(tenant: Tenant) -> None:
    """No key, a SCIM token, or a revoked key: 401 as JSON; an admin key cannot call SCIM."""
    url = tenant.server.url + "/api/admin/v1/domains"
    for headers in ({}, {"Authorization": f"Bearer {tenant.token}"}, {"Authorization": "Basic abc"}):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
    with admin_client(tenant) as admin:
        assert admin.get("/domains").status_code == 200
        admin_key = {"Authorization": admin.headers["authorization"]}
        r = httpx.get(tenant.server.base_url + "/Users", headers=admin_key)
        assert r.status_code == 401


def test_add_domain_is_stored_lower_case_idna(tenant: Tenant) -> None:
    """``Bücher.Example`` is stored as ``xn--bcher-kva.example``, pending, with its TXT record."""
    with admin_client(tenant) as admin:
        r = admin.post("/domains", json={"name": "Bücher.Example"})
        assert r.status_code == 201, r.text
        added = r.json()
        assert added["name"] == "xn--bcher-kva.example"
        assert added["display_name"] == "bücher.example (xn--bcher-kva.example)"
        assert added["status"] == "pending" and added["verified_at"] is None and added["verified_by"] is None
        assert added["verification"]["names"] == ["xn--bcher-kva.example", "_scimgate.xn--bcher-kva.example"]
        assert added["verification"]["value"].startswith("scimgate-verification=")
        again = admin.post("/domains", json={"name": "XN--BCHER-KVA.example."})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        assert admin.get("/domains/BÜCHER.example").json()["name"] == "xn--bcher-kva.example"


def test_invalid_domain_names_are_refused(tenant: Tenant) -> None:
    """Names that are not email domains get 400 with a JSON error saying why."""
    with admin_client(tenant) as admin:
        for name in ("not a domain", "com", "alice@example.org", "-bad.example", "10.0.0.1", ""):
            r = admin.post("/domains", json={"name": name})
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"]["code"] == "invalid"
        assert admin.post("/domains", json={}).status_code == 400


def test_list_get_remove(tenant: Tenant) -> None:
    """List shows every domain with its status; DELETE removes one; a second DELETE is 404."""
    name = unique()
    with admin_client(tenant) as admin:
        admin.post("/domains", json={"name": name})
        listed = {d["name"]: d for d in admin.get("/domains").json()["domains"]}
        fixture_domain = listed["example.com"]
        assert (fixture_domain["status"], fixture_domain["verified_by"]) == ("verified", "operator")
        assert listed[name]["status"] == "pending"
        assert admin.delete(f"/domains/{name}").status_code == 204
        assert name not in {d["name"] for d in admin.get("/domains").json()["domains"]}
        r = admin.delete(f"/domains/{name}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert admin.get("/no-such-thing").json()["error"]["code"] == "not_found"


def test_admin_key_of_one_workspace_gets_404_for_another(tenant: Tenant, live_server: LiveServer) -> None:
    """Workspace B's domains and members do not exist for workspace A's key (tenancy)."""
    other = make_tenant(live_server, domains=("b-only.example",))
    member = other.create_user("bob@b-only.example")
    with admin_client(tenant) as admin:
        assert admin.get("/domains/b-only.example").status_code == 404
        assert admin.delete("/domains/b-only.example").status_code == 404
        assert admin.post("/domains/b-only.example/verify").status_code == 404
        assert admin.get(f"/members/{member['id']}/owned").status_code == 404
        assert admin.post(f"/members/{member['id']}/sample-data", json={}).status_code == 404
    with admin_client(other) as admin_b:
        assert admin_b.get("/domains/b-only.example").json()["status"] == "verified"
    other.client.close()


def test_dns_verification_through_the_api(tenant: Tenant, zone: DnsZone) -> None:
    """With the TXT record at _scimgate.<domain>, verify marks it verified by dns, by the key."""
    name = unique()
    with admin_client(tenant) as admin:
        value = admin.post("/domains", json={"name": name}).json()["verification"]["value"]
        zone.empty.add(name)
        zone.add_txt(f"_scimgate.{name}", value)
        r = admin.post(f"/domains/{name}/verify")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verified"] is True
        assert body["domain"]["status"] == "verified" and body["domain"]["verified_by"] == "dns"
        assert body["domain"]["verified_detail"].startswith("by admin key sg_")
        assert f"_scimgate.{name}" in body["domain"]["verified_detail"]
        again = admin.post(f"/domains/{name}/verify").json()
        assert again["verified"] is True and "already verified" in again["explanation"]


def test_failed_dns_verification_explains_and_stays_pending(tenant: Tenant, zone: DnsZone) -> None:
    """A wrong TXT value: verified false, the explanation quotes it, the domain stays pending."""
    name = unique()
    with admin_client(tenant) as admin:
        admin.post("/domains", json={"name": name})
        zone.add_txt(name, "scimgate-verification=someone-else")
        body = admin.post(f"/domains/{name}/verify").json()
        assert body["verified"] is False
        assert '"scimgate-verification=someone-else"' in body["explanation"]
        assert f"_scimgate.{name}: the name does not exist (NXDOMAIN)" in body["explanation"]
        assert [c["finding"] for c in body["checks"]] == ["other_values", "nxdomain"]
        assert admin.get(f"/domains/{name}").json()["status"] == "pending"


def test_sample_data_and_owned_counts_through_the_api(tenant: Tenant) -> None:
    """POST sample-data creates chats/agents for the member; GET owned reads the counts."""
    member = tenant.create_user("owner@example.com")
    with admin_client(tenant) as admin:
        none = {"member_id": member["id"], "chats": 0, "agents": 0}
        assert admin.get(f"/members/{member['id']}/owned").json() == none
        r = admin.post(f"/members/{member['id']}/sample-data", json={"chats": 3, "agents": 2})
        assert r.status_code == 201 and r.json() == {"member_id": member["id"], "chats": 3, "agents": 2}
        assert admin.post(f"/members/{member['id']}/sample-data").json()["chats"] == 5
        assert admin.post(f"/members/{member['id']}/sample-data", json={"chats": -1}).status_code == 400


# --- Enforcement on provisioning ------------------------------------------------------------


def test_post_with_email_outside_verified_domains_is_refused_and_audited(tenant: Tenant) -> None:
    """POST /Users with a work email in an unverified domain: 400 invalidValue naming it,
    nothing written, the failure in the audit log (issue 7 §3)."""
    r = tenant.post("/Users", json=user("carol@example.com", "carol@elsewhere.example"))
    assert_domain_refused(r, "elsewhere.example")
    assert member_count(tenant) == 0
    event = last_audit(tenant)
    assert (event.method, event.status, event.scim_type) == ("POST", 400, "invalidValue")
    assert "elsewhere.example" in (event.detail or "")


def test_email_without_a_domain_cannot_bypass_the_rule(tenant: Tenant) -> None:
    """An ``emails`` value with no domain is refused on POST, PUT and PATCH: it would pass every
    domain check (RFC 7643 §4.1.2: emails are RFC 5321 addresses)."""
    for value in ("x", "frank@", "@example.com", "frank"):
        response = tenant.post("/Users", json={**user("frank"), "emails": [{"value": value}]})
        assert response.status_code == 400, value
        assert response.json()["scimType"] == "invalidValue"
    created = tenant.post("/Users", json=user("frank", "frank@example.com")).json()
    put = tenant.put(f"/Users/{created['id']}", json={**user("frank"), "emails": "frank"})
    assert put.status_code == 400
    patch = tenant.patch(f"/Users/{created['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "frank"}]})
    assert patch.status_code == 400
    assert tenant.get(f"/Users/{created['id']}").json()["emails"] == created["emails"]


def test_username_rule_applies_only_to_email_shaped_names(tenant: Tenant) -> None:
    """An email-shaped userName (a full-width ＠ included) must be in a verified domain; a plain
    one is not checked."""
    assert_domain_refused(tenant.post("/Users", json=user("dave@elsewhere.example")), "elsewhere.example")
    full_width_at = tenant.post("/Users", json=user("dave\uff20elsewhere.example"))
    assert full_width_at.status_code == 400 and full_width_at.json()["scimType"] == "invalidValue"
    assert tenant.post("/Users", json=user("dave")).status_code == 201
    assert tenant.post("/Users", json=user("erin", "erin@example.com")).status_code == 201


def test_put_into_an_unverified_domain_changes_nothing(tenant: Tenant) -> None:
    """PUT giving an email outside the verified domains: 400, the member keeps its version."""
    created = tenant.create_user("frank@example.com", emails=[{"value": "frank@example.com", "type": "work"}])
    replacement = user("frank@example.com", "frank@example.com", "f@other.example")
    assert_domain_refused(tenant.put(f"/Users/{created['id']}", json=replacement), "other.example")
    assert (last_audit(tenant).method, last_audit(tenant).status) == ("PUT", 400)
    after = tenant.get(f"/Users/{created['id']}").json()
    assert after["meta"]["version"] == created["meta"]["version"]
    assert [e["value"] for e in after["emails"]] == ["frank@example.com"]


def test_patch_into_an_unverified_domain_changes_nothing(tenant: Tenant) -> None:
    """PATCH adding an email in an unverified domain: 400, all-or-none (RFC 7644 §3.5.2)."""
    created = tenant.create_user("gina@example.com")
    r = tenant.patch(f"/Users/{created['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Gina"},
        {"op": "Add", "path": "emails", "value": [{"value": "gina@other.example", "type": "home"}]},
    ]})
    assert_domain_refused(r, "other.example")
    assert (last_audit(tenant).method, last_audit(tenant).scim_type) == ("PATCH", "invalidValue")
    after = tenant.get(f"/Users/{created['id']}").json()
    assert after["meta"]["version"] == created["meta"]["version"] and "displayName" not in after


def test_case_and_idna_forms_of_a_verified_domain_are_accepted(live_server: LiveServer) -> None:
    """``ALICE@New-Company.EXAMPLE`` and ``x@BÜCHER.example`` match their verified domains."""
    tenant = make_tenant(live_server, domains=("new-company.example", "xn--bcher-kva.example"))
    r = tenant.post("/Users", json=user("ALICE@New-Company.EXAMPLE", "Alice@NEW-company.example"))
    assert r.status_code == 201, r.text
    assert tenant.post("/Users", json=user("x@BÜCHER.example", "x@xn--bcher-kva.example")).status_code == 201
    tenant.client.close()


def test_look_alike_unicode_domain_is_refused(live_server: LiveServer) -> None:
    """A Cyrillic 'а' in ``new-compаny.example`` is another domain: refused, shown in both forms."""
    tenant = make_tenant(live_server, domains=("new-company.example",))
    r = tenant.post("/Users", json=user("alice@new-comp\u0430ny.example"))
    assert_domain_refused(r, "new-comp\u0430ny.example (xn--new-compny-6qi.example)")
    tenant.client.close()


def test_subdomains_are_not_implied(tenant: Tenant) -> None:
    """example.com verified does not allow eu.example.com (issue 7 §1)."""
    assert_domain_refused(tenant.post("/Users", json=user("hank@eu.example.com")), "eu.example.com")


def test_pending_domain_does_not_allow_provisioning(tenant: Tenant) -> None:
    """An added but unverified domain still refuses members."""
    name = unique()
    with admin_client(tenant) as admin:
        admin.post("/domains", json={"name": name})
    assert_domain_refused(tenant.post("/Users", json=user(f"ivy@{name}")), name)


def test_workspace_without_domains_refuses_unless_allow_any_domain(live_server: LiveServer) -> None:
    """No verified domain: every email-shaped identity is refused, saying so; allow_any_domain
    (trials) accepts any domain (docs/decisions.md)."""
    strict = make_tenant(live_server, domains=())
    r = strict.post("/Users", json=user("jo@example.com"))
    assert_domain_refused(r, "example.com")
    assert "(it has no verified email domain yet)" in r.json()["detail"]
    trial = make_tenant(live_server, domains=(), allow_any_domain=True)
    assert trial.post("/Users", json=user("jo@anything.example")).status_code == 201
    strict.client.close()
    trial.client.close()


def test_removing_a_domain_blocks_new_members_and_keeps_existing_ones(live_server: LiveServer) -> None:
    """After DELETE of old.example: a new member there is refused; the existing one stays and can
    still be changed and deactivated (issue 7 §4)."""
    tenant = make_tenant(live_server, domains=("old.example", "new.example"))
    kept = tenant.create_user("kim@old.example", emails=[{"value": "kim@old.example", "type": "work"}])
    with admin_client(tenant) as admin:
        assert admin.delete("/domains/old.example").status_code == 204
    assert_domain_refused(tenant.post("/Users", json=user("lee@old.example")), "old.example")
    assert tenant.get(f"/Users/{kept['id']}").json()["userName"] == "kim@old.example"
    r = tenant.patch(f"/Users/{kept['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Kim"},
        {"op": "Replace", "path": "active", "value": False}]})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    with tenant.server.sessions() as session:
        names = set(session.scalars(
            select(EmailDomain.name).where(EmailDomain.workspace_id == tenant.workspace_id)))
    assert names == {"new.example"}
    tenant.client.close()


def test_look_alike_spellings_of_an_address_are_refused(tenant: Tenant) -> None:
    """Zero-width, bidi, full-width, ideographic-dot and trailing-dot spellings of an existing
    address are 400, not a second (look-alike) member; with allow_any_domain too (TR 39)."""
    assert tenant.post("/Users", json=user("ok@example.com", "ok@example.com")).status_code == 201
    spellings = ["ok@example.com.", "ok@example.com\u200b", "ok@ｅxample.com", "ok@example\u3002com",
                 "\u202eok@example.com", "o\u200dk@example.com", " ok@example.com", "ok@example.com ",
                 "OK@example.com  ", "ok @example.com", "ok@example.com\t", "\u2003ok@example.com"]
    for spelling in spellings:
        for body in (user(spelling), user("plain@example.com", spelling)):
            response = tenant.post("/Users", json=body)
            assert response.status_code == 400, (spelling, response.text)
            assert response.json()["scimType"] == "invalidValue"
    listed = tenant.get("/Users", params={"filter": 'userName sw "ok"'}).json()
    assert listed["totalResults"] == 1
    for name in (" ok", "ok ", "\tok"):  # not email-shaped: still no white space at either end
        assert tenant.post("/Users", json={"userName": name}).json()["scimType"] == "invalidValue"


def test_public_mail_domains_cannot_be_added(tenant: Tenant) -> None:
    """gmail.com, outlook.com and the like are refused: anyone has an address there (issue 18)."""
    with admin_client(tenant) as admin:
        for name in ("gmail.com", "Outlook.com", "hotmail.com", "yahoo.com", "icloud.com"):
            r = admin.post("/domains", json={"name": name})
            assert r.status_code == 400, (name, r.text)
            assert "public mail domain" in r.json()["error"]["detail"]


def test_a_verified_domain_belongs_to_one_workspace(tenant: Tenant, zone: DnsZone,
                                                    live_server: LiveServer) -> None:
    """A second workspace's verification of a domain the first verified is refused (409), by DNS
    too, and the first keeps it; sign-in discovery therefore finds one workspace per domain."""
    name = unique()
    other = make_tenant(live_server, domains=())
    with admin_client(tenant) as first, admin_client(other) as second:
        value = first.post("/domains", json={"name": name}).json()["verification"]["value"]
        second_value = second.post("/domains", json={"name": name}).json()["verification"]["value"]
        zone.empty.add(name)
        zone.add_txt(f"_scimgate.{name}", value)
        zone.add_txt(name, second_value)
        assert first.post(f"/domains/{name}/verify").json()["verified"] is True
        refused = second.post(f"/domains/{name}/verify")
        assert refused.status_code == 409, refused.text
        assert "already verified by another workspace" in refused.json()["error"]["detail"]
        assert second.get(f"/domains/{name}").json()["status"] == "pending"
        assert first.get(f"/domains/{name}").json()["status"] == "verified"
    other.client.close()
