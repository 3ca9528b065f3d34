"""Roles, Recently removed and transfer in a real browser (Chromium via Playwright, issue 16).

Uses the sign-in fixtures of test_admin_pages (SQLite only, screenshots into SCIMGATE_SCREENSHOTS
or a temporary folder); each outcome is checked on the page and over the admin API.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_admin_pages import browser, page, shoot, sqlite_only  # noqa: F401, F811 (fixtures)
from tests.http.test_leaving import owned
from tests.http.test_roles import group, role
from tests.support import Tenant, admin_client


@pytest.fixture
def api(tenant: Tenant) -> Iterator[httpx.Client]:
    with admin_client(tenant) as client:
        yield client


def test_role_mapping_preview_and_save(page: Page, tenant: Tenant, api: httpx.Client) -> None:  # noqa: F811
    """Map a group to admin: the preview lists the member and saves nothing; Save applies it."""
    member = tenant.create_user("ann@example.com")["id"]
    group(tenant, "Platform team", member)
    page.get_by_role("link", name="Roles").click()
    expect(page.get_by_role("heading", name="Roles", exact=True)).to_be_visible()
    page.get_by_label("Role of Platform team").select_option("admin")
    page.get_by_role("button", name="Preview changes").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("1 member would change role")
    expect(preview).to_contain_text("ann@example.com")
    shoot(page, "roles-preview")
    assert role(api, member) == "member"
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Role mapping saved")
    expect(page.get_by_label("Role of Platform team")).to_have_value("admin")
    assert role(api, member) == "admin"
    page.get_by_role("link", name="Members").click()
    expect(page.locator("td[data-label=Role]")).to_have_text("admin")


def test_recently_removed_restore(page: Page, tenant: Tenant, api: httpx.Client) -> None:  # noqa: F811
    """A member deleted by SCIM is listed with what it owns; Restore brings it back, same id."""
    member = tenant.create_user("ben@example.com")["id"]
    owned(api, member)
    assert tenant.delete(f"/Users/{member}").status_code == 204
    page.get_by_role("link", name="Recently removed").click()
    row = page.locator(f"tr[data-member='{member}']")
    expect(row).to_contain_text("ben@example.com")
    expect(row).to_contain_text("2 chats, 1 agent")
    shoot(page, "recently-removed")
    row.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("Member restored")
    expect(page.get_by_test_id("role")).to_contain_text("managed by your identity provider")
    assert tenant.get(f"/Users/{member}").status_code == 200


def test_transfer_chats_and_agents(page: Page, tenant: Tenant, api: httpx.Client) -> None:  # noqa: F811
    """Hand a leaver's chats and agents to another member by userName; the log records it."""
    leaver = tenant.create_user("cy@example.com")["id"]
    heir = tenant.create_user("dan@example.com")["id"]
    owned(api, leaver, chats=3, agents=2)
    assert tenant.delete(f"/Users/{leaver}").status_code == 204
    page.goto(tenant.server.url + "/admin/removed")
    row = page.locator(f"tr[data-member='{leaver}']")
    row.get_by_label("Recipient of cy@example.com's chats and agents").fill("dan@example.com")
    row.get_by_role("button", name="Hand over").click()
    expect(page.get_by_role("status")).to_contain_text("Chats and agents handed over")
    expect(page.locator(f"tr[data-member='{leaver}']")).to_contain_text("0 chats, 0 agents")
    shoot(page, "recently-removed-transferred")
    assert api.get(f"/members/{heir}/owned").json() == {"member_id": heir, "chats": 3, "agents": 2}
