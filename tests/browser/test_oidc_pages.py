"""OpenID Connect on the Single sign-on card in a real browser (issue 18): Debian's Chromium,
headless, Playwright, against the in-process provider (src/scimgate/simulate/oidc_provider.py).

An admin gives an issuer whose discovery document names another issuer (refused by the field
with its message), then the provider's issuer, client id and secret; copies nothing by hand (the
redirect URI is on the card); runs a test sign-in over OIDC (the matched member, no member
session) and requires SSO. SQLite only, like the other browser modules: the same flows run over
HTTP on both databases in tests/oidc/test_oidc_admin.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from scimgate.simulate.oidc_provider import OidcProvider, ProviderUser
from tests.admin.client import PASSWORD, make_admin
from tests.browser.test_admin_pages import shoot
from tests.browser.test_sso_pages import chromium, context, sqlite_only  # noqa: F401 (fixtures)
from tests.support import LiveServer, make_tenant, start_server, stop_server


@pytest.fixture(scope="module")
def live_server(database_url: str, backend: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The module's server, allowed to read the loopback provider's issuer over plain http."""
    server = start_server(database_url, tmp_path_factory.mktemp("log") / "server.log", backend,
                          env={"SCIMGATE_OIDC_ALLOW_LOOPBACK_HTTP": "1"})
    yield server
    stop_server(server)


def test_admin_sets_up_oidc_tests_it_and_requires_sso(context: tuple[BrowserContext, list[str]],  # noqa: F811
                                                      live_server: LiveServer) -> None:
    domain = f"oidc-{uuid.uuid4().hex[:8]}.example"
    tenant = make_tenant(live_server, domains=(domain,))
    member = tenant.create_user(f"ada@{domain}", displayName="Ada Lovelace")
    provider = OidcProvider()
    provider.add_user(ProviderUser(f"ada@{domain}"))
    page = context[0].new_page()
    page.goto(tenant.server.url + "/admin/login")
    page.get_by_label("Workspace").fill(tenant.workspace_name)
    page.get_by_label("Email").fill(make_admin(tenant))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/security")
    redirect = page.get_by_label("Okta: Sign-in redirect URIs", exact=True)
    page.locator("#sso-oidc-okta summary").click()
    expect(redirect).to_have_value(f"{tenant.server.url}/sso/oidc/{tenant.workspace_id}/callback")
    provider.redirect_uris.add(redirect.input_value())  # the admin pastes it at the provider
    form = page.locator("#sso-oidc-form")
    provider.discovery_overrides = {"issuer": "https://login.example/other"}
    form.get_by_label("Issuer URL").fill(provider.issuer)
    form.get_by_label("Client id").fill(provider.client_id)
    form.get_by_label("Client secret").fill(provider.client_secret)
    form.get_by_role("button", name="Save OpenID Connect").click()
    expect(page.locator("#sso-oidc-issuer-error")).to_contain_text("names the issuer")
    expect(form.get_by_label("Client secret")).to_have_value("")  # never given back
    provider.discovery_overrides = {}
    form.get_by_label("Client secret").fill(provider.client_secret)
    form.get_by_role("button", name="Save OpenID Connect").click()
    expect(page.get_by_role("status")).to_contain_text("OpenID Connect provider is saved")
    expect(page.locator("#sso-connection")).to_contain_text("stored sealed, not shown")
    page.get_by_label("Sign in as").fill(f"ada@{domain}")
    page.get_by_role("button", name="Start a test sign-in over OpenID Connect").click()
    page.get_by_role("link", name="Continue to the identity provider").click()
    expect(page.get_by_role("heading", name="Test sign-in succeeded")).to_be_visible()
    expect(page.get_by_test_id("matched-member")).to_have_text(member["id"])
    expect(page.get_by_role("heading", name="Claims received")).to_be_visible()
    assert not [c for c in context[0].cookies() if c["name"] == "scimgate_member"]  # no session
    shoot(page, "oidc-test-sign-in")
    page.get_by_role("link", name="Back to Security settings").click()
    page.locator("#sso form.switch").get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("sso-required-state")).to_have_text("On")
    page.locator("#sso-oidc-form").scroll_into_view_if_needed()
    shoot(page, "security-sso-oidc")
    provider.close()
