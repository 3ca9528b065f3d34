"""The admin pages over HTTP against a live server: sign-in, CSRF, tenancy, every form (issue 8)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from scimgate.services import admins, owned, tokens, workspaces
from scimgate.storage.db import transaction
from scimgate.storage.models import AdminAccount, AuditEvent, EmailDomain, Workspace, utcnow
from tests.admin.client import PASSWORD, AdminClient, cli, make_admin, signed_in
from tests.dns_server import DnsZone
from tests.support import LiveServer, Tenant, make_tenant

pytestmark = pytest.mark.dns  # the live server resolves through the test DNS server (`zone`)

FAILED = "Sign-in failed: the workspace, email or password is not right"




@pytest.fixture
def admin(tenant: Tenant) -> Iterator[AdminClient]:
    """A client signed in as an admin of the tenant's workspace."""
    client = signed_in(tenant)
    yield client
    client.close()


# --- Sign-in, session, CSRF -------------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_scoped(live_server: LiveServer) -> None:
    """The session cookie is HttpOnly, SameSite=Lax, Path=/admin, and not Secure over plain http."""
    client = AdminClient.open(live_server)
    cookie = client.get("/admin/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie
    assert "secure" not in cookie


def test_session_cookie_is_secure_behind_https(live_server: LiveServer) -> None:
    """Behind an https proxy (X-Forwarded-Proto from loopback) the cookie is Secure."""
    client = AdminClient.open(live_server)
    cookie = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"].lower()
    assert "secure" in cookie


@pytest.mark.parametrize("path", ["/admin/login", "/admin/security", "/admin/no-such-page",
                                  "/admin/static/htmx.min.js"])
def test_admin_responses_carry_security_headers(live_server: LiveServer, path: str) -> None:
    """Pages, redirects, error pages and static files under /admin send CSP (no framing, only
    this origin's scripts and styles), X-Frame-Options, nosniff and Referrer-Policy."""
    headers = AdminClient.open(live_server).get(path).headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_sign_in_lands_on_security_settings(tenant: Tenant) -> None:
    """Right credentials: 303 to /admin/security, which names the admin and the workspace."""
    client = AdminClient.open(tenant.server)
    email = make_admin(tenant)
    response = client.login(tenant.workspace_name.upper(), email.upper())
    assert response.status_code == 303 and response.headers["location"] == "/admin/security"
    page = client.get("/admin/security")
    assert page.status_code == 200 and email in page.text and tenant.workspace_name in page.text


def test_failures_do_not_tell_which_part_was_wrong(tenant: Tenant) -> None:
    """Wrong password, unknown email and unknown workspace give the same 401 message."""
    email = make_admin(tenant)
    client = AdminClient.open(tenant.server)
    answers = [client.login(tenant.workspace_name, email, "wrong password!"),
               client.login(tenant.workspace_name, "nobody@example.com"),
               client.login("no-such-workspace", email)]
    assert {r.status_code for r in answers} == {401}
    messages = {re.search(r'role="alert">([^<]+)<', r.text).group(1) for r in answers}  # type: ignore[union-attr]
    assert len(messages) == 1 and html.unescape(messages.pop()).startswith(FAILED)


def test_repeated_failures_lock_the_account(tenant: Tenant) -> None:
    """After 5 wrong passwords even the right one is refused (same message); the lock is stored."""
    email = make_admin(tenant)
    client = AdminClient.open(tenant.server)
    for _ in range(admins.FREE_ATTEMPTS):
        assert client.login(tenant.workspace_name, email, "wrong password!").status_code == 401
    refused = client.login(tenant.workspace_name, email)
    assert refused.status_code == 401 and FAILED in html.unescape(refused.text)
    with transaction(tenant.server.sessions) as session:
        account = session.scalar(select(AdminAccount).where(AdminAccount.email == email))
        assert account is not None and account.locked_until is not None and account.locked_until > utcnow()


def test_lock_backs_off_and_expires() -> None:
    """The lock starts after the free attempts, doubles per failure and is capped (OWASP lockout)."""
    assert admins.lock_duration(admins.FREE_ATTEMPTS - 1) is None
    assert admins.lock_duration(admins.FREE_ATTEMPTS) == admins.BASE_LOCK
    assert admins.lock_duration(admins.FREE_ATTEMPTS + 1) == admins.BASE_LOCK * 2
    assert admins.lock_duration(100) == admins.MAX_LOCK


def test_login_without_csrf_is_forbidden(tenant: Tenant) -> None:
    """A sign-in POST without the CSRF token is 403 and signs nobody in."""
    email = make_admin(tenant)
    client = AdminClient.open(tenant.server)
    client.get("/admin/login")
    response = client.http.post("/admin/login", data={"workspace": tenant.workspace_name, "email": email,
                                                      "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/admin/security").status_code == 303


@pytest.mark.parametrize("path", ["/admin/security", "/admin/members", "/admin/groups", "/admin/log",
                                  "/admin/members/x", "/admin/groups/x"])
def test_pages_need_a_session(live_server: LiveServer, path: str) -> None:
    """Without a session every page redirects to the sign-in page."""
    client = AdminClient.open(live_server)
    response = client.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_unknown_admin_path_is_an_html_404(live_server: LiveServer) -> None:
    """An /admin path that is no page answers the HTML 404 page, not SCIM JSON."""
    response = AdminClient.open(live_server).get("/admin/no-such-page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


def test_forged_cookie_is_not_a_session(tenant: Tenant) -> None:
    """A cookie not signed with the server's secret key is ignored."""
    client = AdminClient.open(tenant.server)
    client.http.cookies.set("scimgate_admin", "eyJjIjoieCIsImEiOiJ4IiwidyI6IngifQ.AAAA.forged",
                           domain="127.0.0.1", path="/admin")
    assert client.get("/admin/security").status_code == 303


@pytest.mark.parametrize(("path", "data"), [
    ("/admin/security/tokens", {}),
    ("/admin/security/tokens/keep", {"token_id": "x"}),
    ("/admin/security/sync", {"switch": "user", "active": "off"}),
    ("/admin/security/domains", {"name": "csrf.example"}),
    ("/admin/security/domains/example.com/remove", {}),
    ("/admin/security/domains/example.com/check", {}),
    ("/admin/log/retention", {"days": "7"}),
    ("/admin/logout", {}),
])
def test_state_changing_forms_need_csrf(admin: AdminClient, tenant: Tenant, path: str,
                                        data: dict[str, str]) -> None:
    """Every POST without the session's CSRF token is 403 and changes nothing."""
    assert admin.post(path, data, csrf=False).status_code == 403
    assert admin.post(path, {**data, "csrf_token": "not-the-token"}, csrf=False).status_code == 403
    assert tenant.get("/Users").status_code == 200  # sync still on
    with transaction(tenant.server.sessions) as session:
        workspace = session.get(Workspace, tenant.workspace_id)
        assert workspace is not None and workspace.audit_retention_days == 30
        names = set(session.scalars(select(EmailDomain.name).where(EmailDomain.workspace_id == workspace.id)))
    assert names == {"example.com"}
    assert admin.get("/admin/security").status_code == 200  # still signed in


def test_sign_out_ends_the_session(admin: AdminClient) -> None:
    """Signing out clears the cookie; the pages then redirect to sign-in."""
    response = admin.post("/admin/logout")
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert admin.get("/admin/members").status_code == 303


def test_cli_creates_an_admin_from_stdin(tenant: Tenant) -> None:
    """``scimgate admin create EMAIL --workspace W --password-stdin`` makes an account that can sign in."""
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    create = ("admin", "create", email, "--workspace", tenant.workspace_name, "--password-stdin")
    done = cli(tenant.server, *create, stdin=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert AdminClient.open(tenant.server).login(tenant.workspace_name, email).status_code == 303
    again = cli(tenant.server, *create, stdin=PASSWORD + "\n")
    assert again.exit_code == 1 and "already an admin" in again.output


def test_new_password_lifts_the_lock_and_ends_sessions(tenant: Tenant) -> None:
    """``scimgate admin set-password``: the old session ends, the lock is lifted, the new password works."""
    email = make_admin(tenant)
    signed = AdminClient.open(tenant.server)
    assert signed.login(tenant.workspace_name, email).status_code == 303
    locked = AdminClient.open(tenant.server)
    for _ in range(admins.FREE_ATTEMPTS):
        locked.login(tenant.workspace_name, email, "wrong password!")
    done = cli(tenant.server, "admin", "set-password", email, "--workspace", tenant.workspace_name,
               "--password-stdin", stdin="a brand new passphrase\n")
    assert done.exit_code == 0, done.output
    assert signed.get("/admin/security").status_code == 303
    assert locked.login(tenant.workspace_name, email, "a brand new passphrase").status_code == 303
    assert locked.get("/admin/security").status_code == 200


def test_cli_refuses_a_short_password(tenant: Tenant) -> None:
    """A password under 12 characters is refused with exit status 1."""
    done = cli(tenant.server, "admin", "create", "short@example.com", "--workspace", tenant.workspace_name,
               "--password-stdin", stdin="short\n")
    assert done.exit_code == 1 and "at least 12" in done.output


# --- Security settings ------------------------------------------------------------------------


def test_security_page_shows_urls_and_token_metadata(admin: AdminClient, tenant: Tenant) -> None:
    """Base URL, Entra Tenant URL (?aadOptscim062020), Okta field names and the live token's prefix."""
    page = admin.get("/admin/security").text
    base = tenant.server.base_url
    assert f'value="{base}"' in page and f'value="{base}?aadOptscim062020"' in page
    assert "SCIM connector base URL" in page and "Unique identifier field for users" in page
    assert tenant.token[:10] in page and tenant.token not in page


def test_new_token_is_shown_once_and_rotation_revokes_the_old(admin: AdminClient, tenant: Tenant) -> None:
    """The new token is on the page the POST redirects to, once; both work until the rotation is confirmed."""
    assert admin.post("/admin/security/tokens").status_code == 303
    answer = admin.get("/admin/security")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', answer.text).group(1)  # type: ignore[union-attr]
    assert "shown only once" in answer.text
    assert secret not in admin.get("/admin/security").text
    new = {"Authorization": f"Bearer {secret}"}
    assert tenant.get("/Users", headers=new).status_code == 200 and tenant.get("/Users").status_code == 200
    token_id = re.search(r'name="token_id" value="([^"]+)"', answer.text).group(1)  # type: ignore[union-attr]
    confirmed = admin.post("/admin/security/tokens/keep", {"token_id": token_id})
    assert confirmed.status_code == 303
    assert tenant.get("/Users").status_code == 401
    assert tenant.get("/Users", headers=new).status_code == 200


def test_keeping_another_workspaces_token_is_404(admin: AdminClient, tenant: Tenant) -> None:
    """Confirming a rotation with a token id of another workspace is 404 and revokes nothing."""
    other = make_tenant(tenant.server)
    with transaction(tenant.server.sessions) as session:
        foreign = tokens.list_tokens(session, workspaces.find_workspace(session, other.workspace_id))[0].id
    assert admin.post("/admin/security/tokens/keep", {"token_id": foreign}).status_code == 404
    assert tenant.get("/Users").status_code == 200 and other.get("/Users").status_code == 200


def test_user_sync_off_makes_scim_answer_403(admin: AdminClient, tenant: Tenant) -> None:
    """Turning "SCIM user sync active" off: SCIM 403 with a clear detail; on again: 200."""
    assert admin.post("/admin/security/sync", {"switch": "user", "active": "off",
                                               "confirm": "yes"}).status_code == 303
    refused = tenant.get("/Users")
    assert refused.status_code == 403 and "SCIM user sync is not active" in refused.json()["detail"]
    assert 'data-testid="user-sync-state">Off' in admin.get("/admin/security").text
    admin.post("/admin/security/sync", {"switch": "user", "active": "on"})
    assert tenant.get("/Users").status_code == 200


def test_group_sync_off_makes_groups_answer_403(admin: AdminClient, tenant: Tenant) -> None:
    """Turning "Group sync active" off: /Groups 403, /Users still 200."""
    admin.post("/admin/security/sync", {"switch": "group", "active": "off", "confirm": "yes"})
    assert tenant.get("/Groups").status_code == 403 and tenant.get("/Users").status_code == 200


def test_entra_compatibility_switch(admin: AdminClient, tenant: Tenant) -> None:
    """The Entra compatibility switch of PATCH replace is shown and stored (off by default)."""
    assert 'data-testid="entra-sync-state">Off' in admin.get("/admin/security").text
    assert admin.post("/admin/security/sync", {"switch": "entra", "active": "on"}).status_code == 303
    assert 'data-testid="entra-sync-state">On' in admin.get("/admin/security").text
    with transaction(tenant.server.sessions) as session:
        assert workspaces.find_workspace(session, tenant.workspace_id).entra_replace_creates is True


def test_sync_form_rejects_unknown_switch(admin: AdminClient) -> None:
    """A switch other than user/group is 400."""
    assert admin.post("/admin/security/sync", {"switch": "all", "active": "off"}).status_code == 400


def test_domain_add_shows_txt_record_and_remove(admin: AdminClient, tenant: Tenant) -> None:
    """Adding a domain shows it pending with the TXT record to publish; removing it takes it away."""
    name = f"d{uuid.uuid4().hex[:8]}.example"
    assert admin.post("/admin/security/domains", {"name": name.upper()}).status_code == 303
    page = admin.get("/admin/security").text
    with transaction(tenant.server.sessions) as session:
        challenge = session.scalar(select(EmailDomain.challenge).where(EmailDomain.name == name))
    assert f"scimgate-verification={challenge}" in page and f"_scimgate.{name}" in page
    assert ">pending<" in page
    assert admin.post(f"/admin/security/domains/{name}/remove", {"confirm": "yes"}).status_code == 303
    assert name not in admin.get("/admin/security").text


def test_domain_add_refuses_invalid_and_duplicate(admin: AdminClient) -> None:
    """An invalid or already-added domain is 400 with the service's explanation."""
    bad = admin.post("/admin/security/domains", {"name": "not a domain"})
    assert bad.status_code == 400 and "not a valid domain name" in html.unescape(bad.text)
    again = admin.post("/admin/security/domains", {"name": "example.com"})
    assert again.status_code == 400 and "already a domain" in html.unescape(again.text)


def test_check_now_verifies_by_dns_and_explains(admin: AdminClient, tenant: Tenant, zone: DnsZone) -> None:
    """"Check now" explains a missing record, then verifies once the TXT record is published."""
    name = f"d{uuid.uuid4().hex[:8]}.example"
    admin.post("/admin/security/domains", {"name": name})
    missing = admin.post(f"/admin/security/domains/{name}/check")
    assert missing.status_code == 200 and "was not found" in html.unescape(missing.text)
    with transaction(tenant.server.sessions) as session:
        challenge = session.scalar(select(EmailDomain.challenge).where(EmailDomain.name == name))
    zone.add_txt(f"_scimgate.{name}", f"scimgate-verification={challenge}")
    found = admin.post(f"/admin/security/domains/{name}/check")
    assert "Found the TXT record" in found.text and "by DNS" in found.text
    assert tenant.create_user(f"ada@{name}")["userName"] == f"ada@{name}"


def test_operator_verified_domain_is_marked(admin: AdminClient) -> None:
    """A domain verified by an operator (the tenant fixture's example.com) is marked as such."""
    assert "operator-verified" in admin.get("/admin/security").text


def test_another_workspaces_domain_is_404(admin: AdminClient, tenant: Tenant) -> None:
    """Removing or checking a domain only another workspace has is 404 and changes nothing."""
    other = make_tenant(tenant.server, domains=(f"o{uuid.uuid4().hex[:8]}.example",))
    with transaction(tenant.server.sessions) as session:
        foreign = session.scalar(
            select(EmailDomain.name).where(EmailDomain.workspace_id == other.workspace_id))
    assert admin.post(f"/admin/security/domains/{foreign}/remove").status_code == 404
    assert admin.post(f"/admin/security/domains/{foreign}/check").status_code == 404
    assert admin.post("/admin/security/domains/localhost/remove").status_code == 404
    with transaction(tenant.server.sessions) as session:
        assert session.scalar(select(EmailDomain).where(EmailDomain.name == foreign)) is not None


# --- Members and groups -----------------------------------------------------------------------


def test_members_table_and_search(admin: AdminClient, tenant: Tenant) -> None:
    """The table shows each member; search (name, email) and status go through the filter engine."""
    ada = tenant.create_user("ada@example.com", displayName="Ada Lovelace", externalId="ext-ada",
                             emails=[{"value": "ada.l@example.com", "primary": True}])
    tenant.create_user("bob@example.com", displayName="Bob Builder", active=False)
    page = admin.get("/admin/members").text
    assert "Ada Lovelace" in page and "ada.l@example.com" in page and ada["id"] in page and "ext-ada" in page
    assert "2 members" in page
    found = admin.get("/admin/members", params={"q": "LOVELACE"}).text
    assert "Ada Lovelace" in found and "Bob Builder" not in found
    by_email = admin.get("/admin/members", params={"q": "ada.l@"}).text
    assert "Ada Lovelace" in by_email
    inactive = admin.get("/admin/members", params={"status": "deactivated"}).text
    assert "Bob Builder" in inactive and "Ada Lovelace" not in inactive


def test_member_search_escapes_quotes_and_backslashes(admin: AdminClient, tenant: Tenant) -> None:
    """Search text with quotes and backslashes is a literal, not filter syntax."""
    tenant.create_user("quote@example.com", displayName='Say "hi" \\o/')
    found = admin.get("/admin/members", params={"q": '"hi" \\o'})
    assert found.status_code == 200 and "quote@example.com" in found.text
    injected = admin.get("/admin/members", params={"q": '" or userName pr or "'})
    assert injected.status_code == 200 and "0 members" in injected.text


def test_members_are_paged(admin: AdminClient, tenant: Tenant) -> None:
    """26 members: page 1 has 25 and a Next link, page 2 has the last one."""
    for n in range(26):
        tenant.create_user(f"p{n:02d}@example.com")
    first = admin.get("/admin/members").text
    assert first.count("<tr>") - 1 == 25 and 'rel="next"' in first
    second = admin.get("/admin/members", params={"page": "2"}).text
    assert "p25@example.com" in second and "p00@example.com" not in second


def test_member_detail_shows_document_owned_data_and_history(admin: AdminClient, tenant: Tenant) -> None:
    """The member page: SCIM document, chats/agents counts and its provisioning history."""
    member = tenant.create_user("grace@example.com", displayName="Grace Hopper")
    tenant.patch(f"/Users/{member['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Grace B. Hopper"}]})
    with transaction(tenant.server.sessions) as session:
        workspace = workspaces.find_workspace(session, tenant.workspace_id)
        owned.create_sample_data(session, workspace, member["id"], chats=3, agents=2)
    page = admin.get(f"/admin/members/{member['id']}").text
    assert "Grace B. Hopper" in page and "3 chats, 2 agents" in page
    assert f"&#34;id&#34;: &#34;{member['id']}&#34;" in page or f'"id": "{member["id"]}"' in page
    assert "POST /api/scim/v2/Users" in page and f"PATCH /api/scim/v2/Users/{member['id']}" in page


def test_another_workspaces_member_and_group_are_404(admin: AdminClient, tenant: Tenant) -> None:
    """Ids of another workspace's member or group answer 404, never their data."""
    other = make_tenant(tenant.server)
    member = other.create_user("secret@example.com", displayName="Other Secret")
    group = other.post("/Groups", json={"displayName": "Other Group"}).json()
    for path in (f"/admin/members/{member['id']}", f"/admin/groups/{group['id']}"):
        response = admin.get(path)
        assert response.status_code == 404 and "Other" not in response.text
    assert "Other Secret" not in admin.get("/admin/members", params={"q": "secret"}).text


def test_groups_with_member_counts_and_paged_members(admin: AdminClient, tenant: Tenant) -> None:
    """Groups list their member counts; a group page lists its members, paged."""
    users = [tenant.create_user(f"g{n:02d}@example.com") for n in range(27)]
    group = tenant.post("/Groups", json={"displayName": "Engineering",
                                         "members": [{"value": u["id"]} for u in users]}).json()
    tenant.post("/Groups", json={"displayName": "Empty"})
    listing = admin.get("/admin/groups").text
    assert "Engineering</a></td><td>27</td>" in listing and "Empty</a></td><td>0</td>" in listing
    first = admin.get(f"/admin/groups/{group['id']}").text
    assert "g00@example.com" in first and "g26@example.com" not in first and 'rel="next"' in first
    second = admin.get(f"/admin/groups/{group['id']}", params={"page": "2"}).text
    assert "g26@example.com" in second
    assert "Engineering" in admin.get(f"/admin/members/{users[0]['id']}").text


# --- Provisioning log -------------------------------------------------------------------------


def test_log_shows_failures_with_detail_newest_first(admin: AdminClient, tenant: Tenant) -> None:
    """A failing SCIM request is on the log with status, scimType and detail, above older events."""
    tenant.create_user("first@example.com")
    tenant.post("/Users", json={"userName": "x@not-verified.example"})
    page = admin.get("/admin/log").text
    assert "invalidValue" in page and "not-verified.example is not a verified domain" in page
    assert page.index("not-verified.example") < page.index(">201<")


def test_log_filters(admin: AdminClient, tenant: Tenant) -> None:
    """Failures only, resource, client (from the User-Agent) and time range narrow the log."""
    member = tenant.create_user("filter@example.com")
    tenant.get("/Users/no-such-id", headers={"User-Agent": "Okta SCIM Client 1.0.0"})
    tenant.get("/Groups")
    failures = admin.get("/admin/log", params={"failures": "1"}).text
    assert "1 event," in failures and "no-such-id" in failures
    okta = admin.get("/admin/log", params={"client": "okta"}).text
    assert "1 event," in okta and "Okta" in okta
    groups = admin.get("/admin/log", params={"resource": "Group"}).text
    assert "1 event," in groups and "GET /api/scim/v2/Groups" in groups
    future = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "0 events" in admin.get("/admin/log", params={"since": future}).text
    assert "3 events" in admin.get("/admin/log", params={"until": future}).text
    assert f'href="/admin/members/{member["id"]}"' in admin.get("/admin/log").text
    bad = admin.get("/admin/log", params={"since": "yesterday"})  # said next to the filter, not applied
    assert bad.status_code == 200 and "3 events" in bad.text and "is not a time" in bad.text


def test_log_never_shows_another_workspace(admin: AdminClient, tenant: Tenant) -> None:
    """Another workspace's events are not on this admin's log."""
    other = make_tenant(tenant.server)
    other.post("/Users", json={"userName": "leak@elsewhere.example"})
    assert "elsewhere.example" not in admin.get("/admin/log").text


def test_log_is_paged(admin: AdminClient, tenant: Tenant) -> None:
    """More than 50 events: a Next link, and page 2 holds the oldest."""
    for _ in range(51):
        tenant.get("/Users/none")
    tenant.create_user("last@example.com")
    first = admin.get("/admin/log").text
    assert "52 events" in first and 'rel="next"' in first
    assert "Page 2 of 2" in admin.get("/admin/log", params={"page": "2"}).text


def test_retention_form_and_prune(admin: AdminClient, tenant: Tenant) -> None:
    """Retention is set on the log page; ``scimgate audit prune`` deletes events older than it."""
    assert admin.post("/admin/log/retention", {"days": "7"}).status_code == 303
    assert admin.post("/admin/log/retention", {"days": "0"}).status_code == 400
    assert 'value="7"' in admin.get("/admin/log").text
    tenant.create_user("recent@example.com")
    with transaction(tenant.server.sessions) as session:
        session.add(AuditEvent(workspace_id=tenant.workspace_id, at=utcnow() - timedelta(days=8),
                               request_id="old", method="GET", path="/api/scim/v2/Users/old-event",
                               status=200, client="other", duration_ms=1.0))
    assert "old-event" in admin.get("/admin/log").text
    done = cli(tenant.server, "audit", "prune", "--workspace", tenant.workspace_name)
    assert done.exit_code == 0 and "Deleted 1 event(s)." in done.output, done.output
    page = admin.get("/admin/log").text
    assert "old-event" not in page and "1 event," in page


def test_prune_of_every_workspace_keeps_the_default_30_days(tenant: Tenant) -> None:
    """``scimgate audit prune`` without --workspace deletes events older than 30 days, keeps newer ones."""
    def event(days: int, path: str) -> AuditEvent:
        return AuditEvent(workspace_id=tenant.workspace_id, at=utcnow() - timedelta(days=days),
                          request_id=path, method="GET", path=path, status=200, client="other",
                          duration_ms=1.0)

    with transaction(tenant.server.sessions) as session:
        session.add_all([event(31, "/expired"), event(29, "/kept")])
    assert cli(tenant.server, "audit", "prune").exit_code == 0
    with transaction(tenant.server.sessions) as session:
        mine = select(AuditEvent.path).where(AuditEvent.workspace_id == tenant.workspace_id)
        paths = set(session.scalars(mine))
    assert paths == {"/kept"}
