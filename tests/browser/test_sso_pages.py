"""SAML single sign-on in a real browser (issue 18): Debian's Chromium, headless, Playwright.

An admin sets SAML up on the Single sign-on card (bad metadata refused by the field, then the
IdP's metadata uploaded), runs a test sign-in through a loopback IdP (tests/browser/idp_server)
and requires SSO; a member signs in at /login and lands on /me, again after SCIM moved it to
another domain (same member id); a deactivated member is refused. Screenshots as in
test_admin_pages (``SCIMGATE_SCREENSHOTS``). SQLite only, like the other browser module: the
same flows run over HTTP on both databases in tests/sso.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from scimgate.services import sso, workspaces
from scimgate.storage.db import transaction
from tests.admin.client import PASSWORD, make_admin
from tests.browser.idp_server import BrowserIdp, browser_idp
from tests.browser.test_admin_pages import ARGS, CHROMIUM, shoot
from tests.support import LiveServer, Tenant, make_tenant


@pytest.fixture(scope="module", autouse=True)
def sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("browser tests run on SQLite only; tests/sso covers the flows on PostgreSQL")


@pytest.fixture(scope="module")
def chromium(sqlite_only: None) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def idp(live_server: LiveServer) -> Iterator[BrowserIdp]:
    with browser_idp() as served:
        yield served


@pytest.fixture
def tenant_sso(live_server: LiveServer) -> tuple[Tenant, str, str]:
    """A workspace with two verified domains of its own (home realm discovery needs them
    exclusive); returns (tenant, domain, second domain)."""
    first, second = (f"{name}-{uuid.uuid4().hex[:8]}.example" for name in ("old", "new"))
    return make_tenant(live_server, domains=(first, second)), first, second


def point_idp(idp: BrowserIdp, tenant: Tenant) -> None:
    """The admin pastes scimgate's values into the IdP (here: its SP metadata)."""
    entity_id = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/metadata"
    idp.idp.trust_sp(httpx.get(entity_id).text)
    idp.sp_entity_id, idp.acs_url = entity_id, f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/acs"


@pytest.fixture
def context(chromium: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A browser context; the test fails on any Content-Security-Policy violation."""
    opened = chromium.new_context(viewport={"width": 1280, "height": 860})
    opened.set_default_timeout(15_000)
    violations: list[str] = []
    opened.on("console", lambda message: violations.append(message.text)
              if "Content Security Policy" in message.text else None)
    yield opened, violations
    opened.close()
    assert violations == []


def through_idp(page: Page, email: str) -> None:
    """At the IdP's page: sign in as ``email`` and continue back to scimgate."""
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Continue").click()


def test_admin_sets_up_saml_tests_it_and_requires_sso(context: tuple[BrowserContext, list[str]],
                                                      tenant_sso: tuple[Tenant, str, str], idp: BrowserIdp,
                                                      tmp_path: Path) -> None:
    tenant, domain, _ = tenant_sso
    member = tenant.create_user(f"ada@{domain}", displayName="Ada Lovelace")
    page = context[0].new_page()
    page.goto(tenant.server.url + "/admin/login")
    page.get_by_label("Workspace").fill(tenant.workspace_name)
    page.get_by_label("Email").fill(make_admin(tenant))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/security")
    entity_id = f"{tenant.server.url}/sso/saml/{tenant.workspace_id}/metadata"
    entra = "Microsoft Entra ID: "
    expect(page.get_by_label(entra + "Identifier (Entity ID)", exact=True)).to_have_value(entity_id)
    expect(page.get_by_label(entra + "Reply URL (Assertion Consumer Service URL)", exact=True)
           ).to_have_value(entity_id.removesuffix("/metadata") + "/acs")
    point_idp(idp, tenant)
    page.get_by_label("or paste the metadata XML").fill("<not metadata")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#sso-metadata-error")).to_contain_text("This is not XML")
    metadata = tmp_path / "idp-metadata.xml"
    metadata.write_text(idp.idp.metadata_xml)
    page.get_by_label("or paste the metadata XML").fill("")
    page.get_by_label(re.compile("Identity provider metadata: upload")).set_input_files(str(metadata))
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_contain_text("metadata is saved")
    expect(page.locator("#sso-certificates")).to_contain_text("Trusted signing certificates")
    page.locator("#sso form.switch").get_by_role("button", name="Turn on").click()  # before any test
    expect(page.locator("#sso-required-error")).to_contain_text("Run a test sign-in first")
    page.get_by_role("button", name="Start a test sign-in").click()
    page.get_by_role("link", name="Continue to the identity provider").click()
    through_idp(page, f"ada@{domain}")
    expect(page.get_by_role("heading", name="Test sign-in succeeded")).to_be_visible()
    expect(page.get_by_test_id("matched-member")).to_have_text(member["id"])
    assert not [c for c in context[0].cookies() if c["name"] == "scimgate_member"]  # no session
    shoot(page, "sso-test-sign-in")
    page.get_by_role("link", name="Back to Security settings").click()
    expect(page.get_by_test_id("sso-tested-at")).not_to_contain_text("No successful")
    page.locator("#sso form.switch").get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("sso-required-state")).to_have_text("On")
    expect(page.locator("#sso-break-glass")).to_contain_text("break-glass")
    page.locator("#sso").scroll_into_view_if_needed()
    shoot(page, "security-sso")


def test_member_signs_in_and_deactivated_member_is_refused(context: tuple[BrowserContext, list[str]],
                                                           tenant_sso: tuple[Tenant, str, str],
                                                           idp: BrowserIdp, chromium: Browser) -> None:
    """/login -> IdP -> /me; again after SCIM moved the member to the second domain (same id); a
    member with active false reads that the organisation deactivated the access."""
    tenant, domain, second = tenant_sso
    with transaction(tenant.server.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        sso.configure_saml(session, workspace, idp.idp.metadata_xml)
    point_idp(idp, tenant)
    member = tenant.create_user(f"ada@{domain}", displayName="Ada Lovelace",
                                emails=[{"value": f"ada@{domain}", "primary": True}])
    tenant.create_user(f"gone@{domain}", active=False)
    browser_context = context[0]
    page = browser_context.new_page()
    page.goto(tenant.server.url + "/login")
    page.get_by_label("Work email").fill(f"ada@{domain}")
    page.get_by_role("button", name="Continue").click()
    through_idp(page, f"ada@{domain}")
    page.wait_for_url("**/me")
    expect(page.get_by_test_id("member-id")).to_have_text(member["id"])
    expect(page.get_by_test_id("workspace")).to_have_text(tenant.workspace_name)
    shoot(page, "member-home")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    moved = tenant.patch(f"/Users/{member['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": f"ada@{second}"},
                       {"op": "replace", "path": "emails",
                        "value": [{"value": f"ada@{second}", "primary": True}]}]})
    assert moved.status_code == 200, moved.text
    idp.object_ids[f"ada@{second}"] = idp.object_ids[f"ada@{domain}"]  # the same Entra user, renamed
    page.get_by_label("Work email").fill(f"ada@{second}")
    page.get_by_role("button", name="Continue").click()
    through_idp(page, f"ada@{second}")
    page.wait_for_url("**/me")
    expect(page.get_by_test_id("member-id")).to_have_text(member["id"])
    expect(page.get_by_test_id("email")).to_have_text(f"ada@{second}")
    other = chromium.new_context()
    refused = other.new_page()
    refused.goto(tenant.server.url + "/login")
    refused.get_by_label("Work email").fill(f"gone@{domain}")
    refused.get_by_role("button", name="Continue").click()
    through_idp(refused, f"gone@{domain}")
    expect(refused.get_by_role("alert")).to_contain_text("Your organisation has deactivated your access")
    shoot(refused, "member-deactivated")
    refused.goto(tenant.server.url + "/me")
    refused.wait_for_url("**/login")
    other.close()
