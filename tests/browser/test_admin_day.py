"""The admin's day in a real browser (issue 17): the provisioning log's sentences, their raw
request one click away and the CSV / JSON Lines download; the health card in each state; the
guided setup whose checklist ticks, without a reload, from real SCIM traffic. Headless Chromium
driven by Playwright, signed in through the form (fixtures of tests/browser/test_admin_pages.py,
SQLite only for the same reason); screenshots as there."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Page, expect

# The signed-in page and its browser, as the admin pages' browser tests make them: pytest finds
# imported fixtures under their names, which the tests' parameters then shadow (F811).
from tests.browser.test_admin_pages import browser, page, shoot, sqlite_only  # noqa: F401
from tests.support import Tenant

ENTRA = {"User-Agent": "Azure AD SCIM Client"}
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
POLLED = 15_000  # ms: the checklist reloads every 5 s (admin.setup_routes.POLL_SECONDS)


def _ada(tenant: Tenant) -> dict[str, object]:
    created = tenant.post("/Users", headers=ENTRA, json={
        "userName": "ada@example.com", "displayName": "Ada Lovelace",
        "emails": [{"value": "ada@example.com", "primary": True}]})
    assert created.status_code == 201
    return dict(created.json())


def test_log_rows_are_sentences_with_the_request_one_click_away(page: Page, tenant: Tenant) -> None:  # noqa: F811
    ada = _ada(tenant)
    patched = tenant.patch(f"/Users/{ada['id']}", headers=ENTRA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    assert patched.status_code == 200
    put = {**ada, "active": False, "emails": [{"value": "ada.l@example.com", "primary": True}]}
    assert tenant.put(f"/Users/{ada['id']}", json=put, headers=OKTA).status_code == 200
    page.get_by_role("link", name="Provisioning log").click()
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("summary")).to_have_text(
        "Okta changed the email of Ada Lovelace from ada@example.com to ada.l@example.com")
    deactivated = rows.nth(1)
    expect(deactivated.locator("summary")).to_have_text("Entra deactivated Ada Lovelace")
    request_line = deactivated.get_by_text(f"PATCH /api/scim/v2/Users/{ada['id']}")
    expect(request_line).to_be_hidden()
    deactivated.locator("summary").click()
    expect(request_line).to_be_visible()
    expect(deactivated.locator("ul.changes")).to_contain_text("active: active → inactive")
    shoot(page, "log-sentences")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV").click()
    text = csv_download.value.path().read_text(encoding="utf-8")
    assert text.startswith("at,client,sentence,") and "Entra deactivated Ada Lovelace" in text
    page.get_by_label("Client").select_option("entra")
    expect(rows).to_have_count(2)
    with page.expect_download() as lines_download:
        page.get_by_role("link", name="JSON Lines").click()
    lines = lines_download.value.path().read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    sentences = [r["sentence"] for r in records]
    assert sentences == ["Entra created Ada Lovelace", "Entra deactivated Ada Lovelace"]


def test_health_cards_show_each_state_and_the_fix(page: Page, tenant: Tenant) -> None:  # noqa: F811
    """No request yet (other), healthy (Okta), failing with its fix (Entra: an unverified
    domain, then noTarget fixed by the card's own button)."""
    assert tenant.get("/Users", headers=OKTA).status_code == 200
    for i in range(3):
        tenant.post("/Users", json={"userName": f"u{i}@new-company.example"}, headers=ENTRA)
    page.get_by_role("link", name="Connection health").click()
    expect(page.get_by_test_id("health-other-state")).to_have_text("no request yet")
    expect(page.get_by_test_id("health-okta-state")).to_have_text("healthy")
    expect(page.get_by_test_id("health-entra-state")).to_have_text("failing")
    entra = page.get_by_test_id("health-entra")
    expect(entra).to_contain_text("fix: verify new-company.example")
    expect(page.get_by_test_id("health-entra-rate")).to_contain_text("100% (3 failed)")
    ada = _ada(tenant)
    refused = tenant.patch(f"/Users/{ada['id']}", headers=ENTRA, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ada@example.com"}]})
    assert refused.status_code == 400
    page.reload()
    expect(entra).to_contain_text("fix: turn on Entra compatibility")
    shoot(page, "health")
    entra.get_by_role("button", name="Turn it on").click()
    expect(page.get_by_test_id("entra-sync-state")).to_have_text("On")


def test_setup_checklist_ticks_from_real_scim_traffic(page: Page, tenant: Tenant) -> None:  # noqa: F811
    """Choose Entra (compatibility turns on), make the token on the page, then Entra's test
    connection, a user, a group and an update tick the checklist while the page stays open."""
    page.get_by_role("link", name="Setup").click()
    page.get_by_role("button", name="Microsoft Entra ID").click()
    expect(page.get_by_role("heading", name="Set up Microsoft Entra ID")).to_be_visible()
    tenant_url = tenant.server.base_url + "?aadOptscim062020"
    expect(page.get_by_label("Tenant URL", exact=True)).to_have_value(tenant_url)
    expect(page.get_by_test_id("local-only")).to_contain_text("https://")
    page.get_by_role("button", name="Generate a token").click()
    secret = page.get_by_label("SCIM bearer token", exact=True).input_value()
    entra = {**ENTRA, "Authorization": f"Bearer {secret}"}
    for key in ("test_connection", "user_created", "group_pushed", "first_update"):
        expect(page.get_by_test_id(f"check-{key}")).to_have_attribute("data-done", "no")
    shoot(page, "setup-entra")
    probe = tenant.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'}, headers=entra)
    assert probe.status_code == 200
    expect(page.get_by_test_id("check-test_connection")).to_have_attribute("data-done", "yes", timeout=POLLED)
    user = tenant.post("/Users", json={"userName": "grace@example.com"}, headers=entra).json()
    group = {"displayName": "Engineering", "members": [{"value": user["id"]}]}
    assert tenant.post("/Groups", json=group, headers=entra).status_code == 201
    expect(page.get_by_test_id("check-group_pushed")).to_have_attribute("data-done", "yes", timeout=POLLED)
    patched = tenant.patch(f"/Users/{user['id']}", headers=entra, json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "grace@example.com"}]})
    assert patched.status_code == 200  # Entra compatibility is on: no noTarget
    expect(page.get_by_test_id("check-first_update")).to_have_attribute("data-done", "yes", timeout=POLLED)
    expect(page.locator("#checklist")).to_contain_text("Every step is done.", timeout=POLLED)
    shoot(page, "setup-entra-done")


def test_log_filters_say_what_they_did_not_apply(page: Page, tenant: Tenant) -> None:  # noqa: F811
    """A 'To' before 'From' chosen on the page (htmx, no reload): the message appears next to the
    filter and every event stays listed; a valid range clears it."""
    _ada(tenant)
    page.get_by_role("link", name="Provisioning log").click()
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(1)
    problem = page.get_by_test_id("problem-until")
    expect(problem).to_be_hidden()
    page.get_by_label("From (UTC)").fill("2030-01-02T10:00")
    page.get_by_label("To (UTC)").fill("2030-01-01T10:00")
    expect(problem).to_have_text("'To' must be later than 'From': swap them. Neither time is applied.")
    expect(problem).to_be_visible()
    expect(rows).to_have_count(1)
    shoot(page, "log-filter-problem")
    page.get_by_label("From (UTC)").fill("2020-01-01T10:00")
    expect(problem).to_be_hidden()
    expect(rows).to_have_count(1)
