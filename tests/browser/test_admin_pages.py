"""The admin pages in a real browser: Debian's Chromium, headless, driven by Playwright (issue 8).

Each test signs in through the form and checks the outcome both on the page and over SCIM. The
tests save the screenshots of docs/screenshots/ (linked from the README) when
``SCIMGATE_SCREENSHOTS`` names that folder, else into a temporary one. SQLite only: the pages'
data paths run on both databases in tests/admin; a browser run per database would double the
slowest module for no extra coverage.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from scimgate.services import owned, workspaces
from scimgate.storage.db import transaction
from tests.admin.client import PASSWORD, make_admin
from tests.support import LiveServer, Tenant

CHROMIUM = os.environ.get("SCIMGATE_TEST_CHROMIUM", "/usr/bin/chromium")
# docs/screenshots/ is refreshed only on request (SCIMGATE_SCREENSHOTS=docs/screenshots make test),
# so that a test run leaves the working tree as it found it.
SCREENSHOTS = Path(os.environ.get("SCIMGATE_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "scimgate-screenshots")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module", autouse=True)
def sqlite_only(backend: str) -> None:
    """Run the browser module once, on SQLite."""
    if backend != "sqlite":
        pytest.skip("browser tests run on SQLite only; tests/admin covers the pages on PostgreSQL")


@pytest.fixture(scope="module")
def browser(sqlite_only: None) -> Iterator[Browser]:
    """One headless Chromium for the module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, tenant: Tenant) -> Iterator[Page]:
    """A page signed in, through the sign-in form, as an admin of the tenant's workspace; the
    test fails if the browser reports any Content-Security-Policy violation (htmx, static files)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    violations: list[str] = []
    opened.on("console", lambda message: violations.append(message.text)
              if "Content Security Policy" in message.text else None)
    email = make_admin(tenant)
    opened.goto(tenant.server.url + "/admin/login")
    opened.get_by_label("Workspace").fill(tenant.workspace_name)
    opened.get_by_label("Email").fill(email)
    opened.get_by_label("Password").fill(PASSWORD)
    shoot(opened, "login")
    opened.get_by_role("button", name="Sign in").click()
    opened.wait_for_url("**/admin/security")
    yield opened
    context.close()
    assert violations == []


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def scim(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_sign_in_shows_the_security_settings(page: Page, tenant: Tenant) -> None:
    """Signing in lands on the security settings with the SCIM Base URL and the Entra Tenant URL."""
    expect(page.get_by_role("heading", name="Security settings")).to_be_visible()
    expect(page.get_by_label("SCIM Base URL", exact=True)).to_have_value(tenant.server.base_url)
    expect(page.get_by_label("Microsoft Entra ID: Tenant URL", exact=True)).to_have_value(
        tenant.server.base_url + "?aadOptscim062020")
    shoot(page, "security")


def test_rotated_token_works_and_old_one_is_revoked(page: Page, tenant: Tenant) -> None:
    """Rotate: the new token (shown once) works over SCIM; after confirming, the old one gets 401."""
    page.get_by_role("button", name="Rotate: generate a new token").click()
    secret = page.get_by_label("New SCIM bearer token", exact=True).input_value()
    assert secret.startswith("sg_") and secret != tenant.token
    shoot(page, "security-new-token")
    with scim(tenant.server, secret) as new:
        assert new.get("/Users").status_code == 200
        page.get_by_role("button", name="Revoke the old token now").click()
        expect(page.get_by_role("status")).to_contain_text("only the new one works")
        assert tenant.get("/Users").status_code == 401
        assert new.get("/Users").status_code == 200
    assert secret not in page.content()


def test_sync_off_makes_scim_answer_403(page: Page, tenant: Tenant) -> None:
    """Turning "SCIM user sync active" off in the page makes SCIM answer 403."""
    switch = page.locator("form.switch", has_text="SCIM user sync active")
    switch.get_by_role("button", name="Turn off").click()
    expect(page.get_by_role("heading", name="Turn off SCIM user sync?")).to_be_visible()
    assert tenant.get("/Users").status_code == 200
    page.get_by_role("button", name="Turn it off").click()
    expect(page.get_by_test_id("user-sync-state")).to_have_text("Off")
    refused = tenant.get("/Users")
    assert refused.status_code == 403 and "SCIM user sync is not active" in refused.json()["detail"]


def test_domain_added_then_verified_by_operator(page: Page, tenant: Tenant) -> None:
    """A domain added in the page shows its TXT record; after the operator path it is marked verified."""
    name = f"acme{uuid.uuid4().hex[:6]}.example"
    page.get_by_label("Add a domain").fill(name)
    page.get_by_role("button", name="Add domain").click()
    row = page.locator("#domains tbody tr", has_text=name)
    expect(row).to_contain_text("pending")
    expect(row.get_by_role("textbox")).to_have_value(re.compile("^scimgate-verification="))
    shoot(page, "security-domain-pending")
    done = CliRunner().invoke(cli_app, ["domain", "verify", name, "--workspace", tenant.workspace_name,
                                        "--operator", "DNS host cannot publish TXT; ticket 4711"],
                              env={"SCIMGATE_DATABASE_URL": tenant.server.database_url})
    assert done.exit_code == 0, done.output
    page.reload()
    expect(row).to_contain_text("operator-verified")
    assert tenant.create_user(f"ada@{name}")["userName"] == f"ada@{name}"


def test_provisioned_member_is_found_by_search(page: Page, tenant: Tenant) -> None:
    """A member provisioned over SCIM is found on the members page by the search box (htmx)."""
    katherine = tenant.create_user(
        "katherine@example.com", displayName="Katherine Johnson", externalId="kj-1926",
        name={"givenName": "Katherine", "familyName": "Johnson"},
        emails=[{"value": "katherine@example.com", "type": "work", "primary": True}])
    tenant.create_user("dorothy@example.com", displayName="Dorothy Vaughan")
    with transaction(tenant.server.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        owned.create_sample_data(session, workspace, katherine["id"], chats=3, agents=1)
    group = tenant.post("/Groups", json={"displayName": "Flight Research",
                                         "members": [{"value": katherine["id"]}]}).json()
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Search name, userName or email").fill("johnson")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Katherine Johnson")
    assert "q=johnson" in page.url
    shoot(page, "members")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "members-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    rows.first.get_by_role("link", name="Katherine Johnson").click()
    expect(page.get_by_role("heading", name="Provisioning history")).to_be_visible()
    expect(page.locator("pre.json")).to_contain_text(katherine["id"])
    expect(page.locator(".pairs")).to_contain_text("3 chats, 1 agent")
    shoot(page, "member")
    page.get_by_role("link", name="Groups").first.click()
    expect(page.locator("tbody tr", has_text="Flight Research")).to_contain_text("1")
    shoot(page, "groups")
    page.get_by_role("link", name="Flight Research").click()
    expect(page.locator("tbody")).to_contain_text("katherine@example.com")
    assert group["id"] in page.url
    shoot(page, "group")


def test_failing_request_is_on_the_log_with_detail(page: Page, tenant: Tenant) -> None:
    """A failed SCIM request is on the provisioning log, with its scimType and detail."""
    tenant.create_user("ok@example.com")
    failed = tenant.post("/Users", json={"userName": "mallory@unverified.example"},
                         headers={"User-Agent": "Okta SCIM Client 1.0.0"})
    assert failed.status_code == 400
    page.get_by_role("link", name="Provisioning log").click()
    page.get_by_label("Failures only").check()
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("invalidValue")
    expect(rows.first).to_contain_text("unverified.example is not a verified domain")
    expect(rows.first).to_contain_text("Okta")
    assert "failures=1" in page.url
    page.get_by_label("Failures only").uncheck()
    expect(rows).to_have_count(2)
    shoot(page, "log")
