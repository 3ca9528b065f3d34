"""The admin pages under ``/admin``: sign-in, security settings, members, groups, provisioning log.

Server-rendered Jinja2 (templates/) with htmx for partial updates (static/htmx.min.js, vendored);
every page and form works without JavaScript. Routes parse, call services, render. The admin's
workspace always comes from the signed session (admin.session), never from the URL: an id of
another workspace's member, group, domain or token answers 404. Every POST needs the session's
CSRF token (403 without it). Responses are ``Cache-Control: no-store`` (a new token is on one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from scimgate.admin import forms, new_token
from scimgate.admin.session import COOKIE, AdminSession, CsrfError, check_csrf, read_session, write_session
from scimgate.admin.sso_card import sso_card
from scimgate.events import outbox
from scimgate.http.allow import refuses
from scimgate.http.deps import AppState, State
from scimgate.http.surfaces import error_headers, register_surface
from scimgate.roles import ROLES, SOURCES
from scimgate.scim.errors import NotFoundException, ScimError
from scimgate.scim.params import ListQuery, parse_integer
from scimgate.services import (
    admins,
    audit_log,
    domains,
    groups,
    leaving,
    members,
    owned,
    roles,
    seats,
    sessions,
    tokens,
    workspaces,
)
from scimgate.services.dns_verification import ResolverConfig
from scimgate.services.resources import Projection
from scimgate.services.sign_in_guard import SignInGuard, SignInThrottled
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import transaction

HERE = Path(__file__).parent
PER_PAGE = 25
LOG_PER_PAGE = 50
NOTICES = {
    "sync": "The switch is saved.",
    "revoked": "The old token is revoked: only the new one works now.",
    "token-revoked": "The token is revoked: requests carrying it now get 401.",
    "domain-added": "Domain added. Publish its TXT record, then press “Check now”.",
    "domain-removed": "Domain removed.",
    "retention": "Retention saved.",
    "roles": "Role mapping saved; every member's role follows it now.",
    "restored": "Member restored with everything it owned.",
    "transferred": "Chats and agents handed over; the provisioning log records it.",
    "leaving": "Deletion policy saved.",
    "seats": "Seat limit saved.",
}

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/admin")


class LoginRequired(Exception):
    """No valid signed-in session: the browser is sent to the sign-in page."""


class PageError(Exception):
    """An error shown as an HTML page with ``status`` (404 for anything not in the workspace)."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(frozen=True)
class SignedIn:
    """The signed-in admin of a request: account id and email, and their workspace."""

    session: AdminSession
    admin_id: str
    email: str
    workspace_id: str
    workspace_name: str


def admin_session(request: Request, state: State) -> AdminSession:
    return read_session(request, state.settings.secret_key)


Session_ = Annotated[AdminSession, Depends(admin_session)]


def current_admin(session: AdminSession, state: AppState) -> SignedIn | None:
    """The admin whose live server-side session the cookie names, or None (no token; the
    session unknown, expired or revoked; its account or workspace gone)."""
    if not session.token:
        return None
    with transaction(state.sessions) as db:
        info = sessions.resolve_session(db, session.token)
        if info is None or info.subject_kind != admins.SUBJECT_KIND:
            return None
        found = admins.get_admin(db, info.subject_id, info.workspace_id)
        if found is None:
            return None
        account, workspace = found
        return SignedIn(session, account.id, account.email, workspace.id, workspace.name)


def signed_in(session: Session_, state: State) -> SignedIn:
    """The signed-in admin; LoginRequired when there is none (see :func:`current_admin`)."""
    admin = current_admin(session, state)
    if admin is None:
        raise LoginRequired
    return admin


Admin = Annotated[SignedIn, Depends(signed_in)]


async def csrf_checked(request: Request, session: Session_) -> None:
    await check_csrf(request, session)


Csrf = Annotated[None, Depends(csrf_checked)]


@contextmanager
def in_workspace(what: str) -> Iterator[None]:
    """Turn "not in this workspace" from a service into the 404 page."""
    try:
        yield
    except (NotFoundException, domains.DomainNotFound, domains.InvalidDomain, owned.UnknownMember) as exc:
        raise PageError(404, "Not found", f"No {what} with this name or id in your workspace.") from exc


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           session: AdminSession | None = None) -> Response:
    """Render template ``name``; the CSRF token and the admin come from ``context``/``session``.
    When ``session`` is given its cookie is (re)written."""
    state = request.app.state.scimgate
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if session is not None:
        write_session(response, request, state.settings.secret_key, session)
    return response


def page(request: Request, admin: SignedIn, name: str, http_status: int = 200, **context: Any) -> Response:
    """Render a signed-in page (layout with navigation and the sign-out form)."""
    notice = NOTICES.get(request.query_params.get("done", ""))
    base = {"admin": admin, "csrf": admin.session.csrf, "notice": notice}
    return render(request, name, {**base, **context}, http_status)


def see_other(url: str) -> Response:
    """POST/redirect/GET."""
    return RedirectResponse(url, status_code=303)


CUTS_OFF = {
    "user": ("Turn off SCIM user sync?",
             "Every SCIM request from your identity provider is then answered 403: no member is created, "
             "updated or deactivated until you turn it on again."),
    "group": ("Turn off group sync?",
              "Every /Groups request is then answered 403: group memberships stop following your identity "
              "provider. Members keep syncing."),
}


def confirmation(request: Request, admin: SignedIn, *, action: str, title: str, consequence: str,
                 button: str, fields: dict[str, str] | None = None) -> Response:
    """The page asking to confirm a destructive POST: says what it cuts off, re-posts ``fields``
    with ``confirm=yes`` to ``action``, or goes back to the security page."""
    return page(request, admin, "confirm.html", action=action, title=title, consequence=consequence,
                button=button, fields=fields or {})


# --- Sign-in ----------------------------------------------------------------------------------


@router.get("")
def home() -> Response:
    return see_other("/admin/security")


@router.get("/login")
def login_form(request: Request, session: Session_, state: State) -> Response:
    """The sign-in form (a signed-in admin goes straight to the security page)."""
    if current_admin(session, state) is not None:
        return see_other("/admin/security")
    return render(request, "login.html", {"csrf": session.csrf, "error": None, "workspace": "", "email": ""},
                  session=session)


@router.post("/login")
async def login(request: Request, session: Session_, state: State, _csrf: Csrf,
                workspace: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "") -> Response:
    """Sign in; one message for every failure (no enumeration). Attempts over the account's or
    the address's budget get 429 with Retry-After before any password work
    (services.sign_in_guard), and the attempt runs on the guard's low-priority threads. On success
    the session is rotated: the cookie's earlier session (if any) is revoked, a new one and a new
    CSRF token made."""
    guard: SignInGuard = state.extras["sign_in_guard"]
    address = request.client.host if request.client else ""

    def attempt() -> str | None:
        guard.admit(workspace, email, address)
        return admins.sign_in(state.readers, state.sessions, workspace, email, password,
                              run_hashes=guard.run_hashes, previous_token=session.token)

    try:
        token = await guard.attempt(attempt)
    except SignInThrottled as exc:
        error = (f"Too many sign-in attempts for this account or from this network. "
                 f"Wait {exc.retry_after} seconds and try again.")
        response = render(request, "login.html", {"csrf": session.csrf, "error": error,
                                                  "workspace": workspace, "email": email}, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if token is None:
        error = ("Sign-in failed: the workspace, email or password is not right, or the account is "
                 "locked for a while after repeated failures. Check them and try again later.")
        return render(request, "login.html", {"csrf": session.csrf, "error": error, "workspace": workspace,
                                              "email": email}, status=401)
    response = see_other("/admin/security")
    fresh = AdminSession(token=token)
    write_session(response, request, state.settings.secret_key, fresh)
    return response


@router.post("/logout")
def logout(admin: Admin, state: State, _csrf: Csrf) -> Response:
    """Sign out: the server-side session is revoked (a copy of the cookie opens nothing after)."""
    with transaction(state.sessions) as db:
        sessions.revoke_session(db, admin.session.token or "")
    response = see_other("/admin/login")
    response.delete_cookie(COOKIE, path="/admin")
    return response


# --- Security settings ------------------------------------------------------------------------


def security_page(request: Request, admin: SignedIn, state: State, status: int = 200,
                  **extra: Any) -> Response:
    """The Security settings page (with its Single sign-on card, admin.sso_card); ``extra`` adds
    to the template's context (the one-time token, check results, errors next to fields)."""
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        live = [t for t in tokens.list_tokens(db, workspace) if t.revoked_at is None]
        domain_rows = [
            {"domain": d, "shown": domains.display_domain(d.name), "status": domains.status(d),
             "record": domains.verification_record(d)}
            for d in domains.list_domains(db, workspace)
        ]
        card = sso_card(db, workspace, state.settings.public_url)
    base_url = state.settings.scim_base_url
    return page(request, admin, "security.html", status, workspace=workspace, tokens=live,
                domains=domain_rows, sso=card, base_url=base_url, tenant_url=base_url + "?aadOptscim062020",
                local_only=not base_url.startswith("https://"),
                **{"new_token": None, "checks": {}, "error": None, "domain_input": "", **extra})


@router.get("/security")
def security(request: Request, admin: Admin, state: State) -> Response:
    """SCIM Base URL, tokens (with the one just minted, once), sync switches and allowed domains."""
    handed = new_token.take(request, state.settings.secret_key, admin.workspace_id)
    response = security_page(request, admin, state, new_token=handed)
    new_token.forget(request, response)
    return response


@router.post("/security/tokens")
def generate_token(request: Request, admin: Admin, state: State, _csrf: Csrf) -> Response:
    """Make a new SCIM token; the security page it redirects to shows it once (new_token).
    Older tokens live on until the admin revokes them."""
    with transaction(state.sessions) as db:
        issued = tokens.issue_token(db, workspaces.find_workspace(db, admin.workspace_id))
        minted = new_token.NewToken(issued.record.id, issued.record.prefix, issued.secret)
    response = see_other("/admin/security#token")
    new_token.hand_over(response, request, state.settings.secret_key, admin.workspace_id, minted)
    return response


@router.post("/security/tokens/{token_id}/revoke")
def revoke_token(request: Request, admin: Admin, state: State, _csrf: Csrf, token_id: str,
                 confirm: Annotated[str, Form()] = "") -> Response:
    """Revoke one live token (404 for a token not of this workspace). Without ``confirm=yes`` the
    answer is a page asking to confirm, which says when it is the last live token."""
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        live = [t for t in tokens.list_tokens(db, workspace) if t.revoked_at is None]
        target = next((t for t in live if t.id == token_id), None)
        if target is None:
            raise PageError(404, "Not found", "No live token with this id in your workspace.")
        if confirm != "yes":
            last = len(live) == 1
            return confirmation(request, admin, action=f"/admin/security/tokens/{token_id}/revoke",
                                title=f"Revoke the token {target.prefix}…?",
                                consequence=("It is your last live token: every identity provider using it "
                                             "gets 401 and provisioning stops until you generate a new "
                                             "one." if last else
                                             "Identity providers still sending it get 401 from now on."),
                                button="Revoke the token")
        tokens.revoke_token(db, workspace, token_id)
    return see_other("/admin/security?done=token-revoked#token")


@router.post("/security/tokens/keep")
def keep_token(admin: Admin, state: State, _csrf: Csrf, token_id: Annotated[str, Form()] = "") -> Response:
    """Confirm a rotation: revoke every other live token (404 for a token not of this workspace)."""
    with transaction(state.sessions) as db:
        try:
            admins.keep_only_token(db, workspaces.find_workspace(db, admin.workspace_id), token_id)
        except admins.AdminError as exc:
            raise PageError(404, "Not found", str(exc)) from exc
    return see_other("/admin/security?done=revoked")


@router.post("/security/sync")
def set_sync(request: Request, admin: Admin, state: State, _csrf: Csrf, switch: Annotated[str, Form()] = "",
             active: Annotated[str, Form()] = "", confirm: Annotated[str, Form()] = "") -> Response:
    """Turn "SCIM user sync active" (``switch=user``), "Group sync active" (``group``) or the
    Entra compatibility mode of PATCH replace (``entra``) on or off. Turning off a switch that
    cuts provisioning off (CUTS_OFF) needs ``confirm=yes``; without it the answer asks."""
    setters = {"user": workspaces.set_scim_sync, "group": workspaces.set_group_sync,
               "entra": workspaces.set_entra_replace_creates}
    if switch not in setters or active not in ("on", "off"):
        raise PageError(400, "Bad request", "Choose a switch (user, group or entra) and on or off.")
    if switch in CUTS_OFF and active == "off" and confirm != "yes":
        return confirmation(request, admin, action="/admin/security/sync", title=CUTS_OFF[switch][0],
                            consequence=CUTS_OFF[switch][1], button="Turn it off",
                            fields={"switch": switch, "active": "off"})
    with transaction(state.sessions) as db:
        outbox.act_as(db, "admin", admin.admin_id)  # workspace.sync_changed names the admin
        setters[switch](db, workspaces.find_workspace(db, admin.workspace_id), active == "on")
    return see_other("/admin/security?done=sync#sync")


@router.post("/security/domains")
def add_domain(request: Request, admin: Admin, state: State, _csrf: Csrf,
               name: Annotated[str, Form()] = "") -> Response:
    """Add an allowed domain (pending); the page then shows its TXT record. A pasted address
    (``https://www.example.org/``) counts as its host (forms.domain_from_input); a refusal is
    shown next to the field, with what was typed kept in it."""
    try:
        with transaction(state.sessions) as db:
            domains.add_domain(db, workspaces.find_workspace(db, admin.workspace_id),
                               forms.domain_from_input(name))
    except domains.DomainError as exc:
        return security_page(request, admin, state, status=400, domain_error=str(exc), domain_input=name)
    return see_other("/admin/security?done=domain-added#domains")


@router.post("/security/domains/{name}/remove")
def remove_domain(request: Request, admin: Admin, state: State, _csrf: Csrf, name: str,
                  confirm: Annotated[str, Form()] = "") -> Response:
    """Remove an allowed domain; without ``confirm=yes`` a page asks first and says what it costs
    (a verified domain re-added starts over as pending, its new members refused meanwhile)."""
    with in_workspace("domain"), transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        if confirm != "yes":
            found = domains.get_domain(db, workspace, name)
            shown = domains.display_domain(found.name)
            verified = domains.status(found) == "verified"
            return confirmation(
                request, admin, action=f"/admin/security/domains/{found.name}/remove",
                title=f"Remove {shown}?", button=f"Remove {shown}",
                consequence=(f"Members already in {shown} keep their accounts, but identity providers can no "
                             f"longer create members or change emails into {shown}. "
                             + ("Adding it again starts over as pending: provisioning into it is refused "
                                "until its TXT record is checked again." if verified else "")))
        domains.remove_domain(db, workspace, name)
    return see_other("/admin/security?done=domain-removed#domains")


@router.post("/security/domains/{name}/check")
def check_domain(request: Request, admin: Admin, state: State, _csrf: Csrf, name: str) -> Response:
    """Run the DNS verification now and show its explanation beside the domain."""
    with in_workspace("domain"):
        result = domains.verify_by_dns(state.sessions, admin.workspace_id, name,
                                       ResolverConfig.from_settings(state.settings), actor=admin.email)
    return security_page(request, admin, state, checks={result.domain.name: result.explanation()})


# --- Members and groups -----------------------------------------------------------------------


@router.get("/members")
def member_list(request: Request, admin: Admin, state: State, q: str = "", status: str = "") -> Response:
    """Members, searched by the SCIM filter engine (name, userName, email; status), paged; a status
    that is not one of the choices is said next to its filter and not applied."""
    number = forms.page_number(request.query_params.get("page"))
    query = ListQuery(filter=forms.member_search_filter(q, status), start_index=(number - 1) * PER_PAGE + 1,
                      count=PER_PAGE, sort_by="userName")
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        result = members.list_users(db, workspace, query, state.settings.scim_base_url)
        ids = [m["id"] for m in result["Resources"]]
        member_roles = roles.roles_of(db, workspace, ids)
        member_states = seats.states_of(db, workspace, ids)
        seat_counts = seats.counts(db, workspace)
    status_problem = "" if status in ("", *forms.STATUSES) else (
        f"{status[:40]!r} is not a status: choose {' or '.join(forms.STATUSES)}. Not applied.")
    return page(request, admin, "members.html", members=result["Resources"], total=result["totalResults"],
                page_number=number, pages=max(1, -(-result["totalResults"] // PER_PAGE)), q=q,
                status=status if not status_problem else "", status_problem=status_problem,
                roles=member_roles, states=member_states, seats=seat_counts, managed=roles.MANAGED_BY_IDP)


@router.post("/members/seats")
def set_seat_limit(admin: Admin, state: State, _csrf: Csrf, limit: Annotated[str, Form()] = "") -> Response:
    """Set the seat limit (empty: no limit); creates and reactivations beyond it are refused."""
    try:
        with transaction(state.sessions) as db:
            seats.set_seat_limit(db, workspaces.find_workspace(db, admin.workspace_id),
                                 parse_integer(limit.strip()) if limit.strip() else None)
    except (ValueError, WorkspaceError) as exc:
        raise PageError(400, "Bad request", f"The seat limit must be empty or a whole number from 1 to "
                        f"{seats.MAX_SEAT_LIMIT}.") from exc
    return see_other("/admin/members?done=seats")


def flush_journal(state: AppState) -> None:
    """Write this process's pending audit rows of reads (services.audit_journal) before a page
    shows the provisioning log, so the log an admin reads holds every request this worker answered."""
    if state.journal is not None:
        state.journal.flush()


@router.get("/members/{member_id}")
def member_detail(request: Request, admin: Admin, state: State, member_id: str) -> Response:
    """One member: SCIM document, what it owns, its provisioning history."""
    flush_journal(state)
    with in_workspace("member"), transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        document = members.get_user(db, workspace, member_id, state.settings.scim_base_url).body
        counts = owned.member_owned_counts(db, workspace, member_id)
        role = roles.member_role(db, workspace, member_id)
        member_state = seats.states_of(db, workspace, [member_id]).get(member_id, "pending")
        history = audit_log.list_events(db, workspace, audit_log.LogFilter(resource_id=member_id),
                                        per_page=LOG_PER_PAGE)
        names = audit_log.resource_names(db, workspace.id, history.events)
    return page(request, admin, "member.html", member=document, counts=counts, history=history, names=names,
                role=role, state_of_member=member_state)


# --- Roles ------------------------------------------------------------------------------------


def _roles_page(request: Request, admin: SignedIn, state: State, status: int = 200,
                chosen: roles.RoleSettings | None = None, **extra: Any) -> Response:
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        saved, _ = roles.read_settings(db, workspace)
        listed, more = roles.mapping_choices(db, workspace)
    shown = chosen or saved
    return page(request, admin, "roles.html", status, settings=shown, groups=listed, more=more, roles=ROLES,
                sources=SOURCES, managed=roles.MANAGED_BY_IDP, **{"preview": None, "error": None, **extra})


def _chosen(form: Any) -> roles.RoleSettings:
    mappings = {key[len("role:"):]: str(value) for key, value in form.multi_items()
                if key.startswith("role:") and value}
    return roles.check_settings(str(form.get("default_role", "")), str(form.get("source", "")), mappings)


@router.get("/roles")
def roles_page(request: Request, admin: Admin, state: State) -> Response:
    """The mapping of SCIM groups to workspace roles, the default role and the winning source."""
    return _roles_page(request, admin, state)


@router.post("/roles")
async def save_roles(request: Request, admin: Admin, state: State, _csrf: Csrf) -> Response:
    """``action=preview``: the page again with who would change; ``action=save``: save (409 page
    with the reason when it would leave no active admin)."""
    form = await request.form()
    try:
        chosen = _chosen(form)
    except WorkspaceError as exc:
        return _roles_page(request, admin, state, 400, error=str(exc))
    if form.get("action") != "save":
        found = await run_in_threadpool(_preview, state, admin, chosen)
        return _roles_page(request, admin, state, chosen=chosen, preview=found)
    try:
        await run_in_threadpool(_save_roles, state, admin, chosen)
    except roles.LastAdminRefused as exc:
        return _roles_page(request, admin, state, 409, chosen=chosen, error=str(exc))
    except WorkspaceError as exc:
        return _roles_page(request, admin, state, 400, chosen=chosen, error=str(exc))
    return see_other("/admin/roles?done=roles")


def _preview(state: AppState, admin: SignedIn, chosen: roles.RoleSettings) -> dict[str, Any]:
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        found = roles.preview(db, workspace, chosen)
        names = leaving.user_names(db, workspace, [c.member_id for c in found.changes])
    return {"total": found.total, "refused": found.refused,
            "changes": [{"id": c.member_id, "name": names.get(c.member_id, c.member_id), "old": c.old,
                         "new": c.new} for c in found.changes]}


def _save_roles(state: AppState, admin: SignedIn, chosen: roles.RoleSettings) -> None:
    with transaction(state.sessions) as db:
        roles.save_settings(db, workspaces.find_workspace(db, admin.workspace_id), chosen)


# --- Recently removed ---------------------------------------------------------------------------


@router.get("/removed")
def removed_page(request: Request, admin: Admin, state: State) -> Response:
    """Members removed by SCIM DELETE under the keep policy: restore, or hand over what they own."""
    number = forms.page_number(request.query_params.get("page"))
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        total, rows = leaving.list_removed(db, workspace, (number - 1) * PER_PAGE, PER_PAGE)
    return page(request, admin, "removed.html", removed=rows, total=total, page_number=number,
                pages=max(1, -(-total // PER_PAGE)), workspace=workspace,
                error=request.query_params.get("error"))


@router.post("/removed/{member_id}/restore")
def restore_removed(admin: Admin, state: State, _csrf: Csrf, member_id: str) -> Response:
    """Restore under the same SCIM id with what it owned and its groups (PRG)."""
    try:
        with in_workspace("removed member"), transaction(state.sessions) as db:
            workspace = workspaces.find_workspace(db, admin.workspace_id)
            outbox.act_as(db, "admin", admin.admin_id)
            members.restore_removed(db, workspace, member_id, f"{admin.email} (admin)",
                                    state.settings.scim_base_url)
    except ScimError as exc:
        raise PageError(409, "Cannot restore", str(exc.detail)) from exc
    return see_other(f"/admin/members/{member_id}?done=restored")


@router.post("/removed/{member_id}/transfer")
def transfer_removed(admin: Admin, state: State, _csrf: Csrf, member_id: str,
                     to: Annotated[str, Form(max_length=600)] = "") -> Response:
    """Hand the member's chats and agents to another member, named by userName or SCIM id."""
    with in_workspace("member"), transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        outbox.act_as(db, "admin", admin.admin_id)
        leaving.transfer(db, workspace, member_id, leaving.find_recipient(db, workspace, to),
                         f"{admin.email} (admin)")
    return see_other("/admin/removed?done=transferred")


@router.post("/removed/policy")
def set_deletion_policy(admin: Admin, state: State, _csrf: Csrf, policy: Annotated[str, Form()] = "",
                        days: Annotated[str, Form()] = "") -> Response:
    """The deletion policy (keep N days, or purge) of SCIM DELETE."""
    try:
        with transaction(state.sessions) as db:
            leaving.set_policy(db, workspaces.find_workspace(db, admin.workspace_id), policy,
                               parse_integer(days.strip()))
    except (ValueError, WorkspaceError) as exc:
        raise PageError(400, "Bad request", "Choose keep or purge, and keep from 1 to "
                        f"{leaving.MAX_KEEP_DAYS} days.") from exc
    return see_other("/admin/removed?done=leaving")


@router.get("/groups")
def group_list(request: Request, admin: Admin, state: State) -> Response:
    """Groups with their member counts (direct User members), paged."""
    number = forms.page_number(request.query_params.get("page"))
    query = ListQuery(start_index=(number - 1) * PER_PAGE + 1, count=PER_PAGE, sort_by="displayName",
                      excluded_attributes=("members",))
    base_url = state.settings.scim_base_url
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        result = groups.list_groups(db, workspace, query, base_url)
        rows = [
            {"group": g, "count": members.list_users(
                db, workspace, ListQuery(filter=forms.group_members_filter(g["id"]), count=0), base_url
            )["totalResults"]}
            for g in result["Resources"]
        ]
    return page(request, admin, "groups.html", groups=rows, total=result["totalResults"], page_number=number,
                pages=max(1, -(-result["totalResults"] // PER_PAGE)))


@router.get("/groups/{group_id}")
def group_detail(request: Request, admin: Admin, state: State, group_id: str) -> Response:
    """One group and its User members, paged (served by the members filter engine)."""
    number = forms.page_number(request.query_params.get("page"))
    base_url = state.settings.scim_base_url
    query = ListQuery(filter=forms.group_members_filter(group_id), start_index=(number - 1) * PER_PAGE + 1,
                      count=PER_PAGE, sort_by="userName")
    with in_workspace("group"), transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        group = groups.get_group(db, workspace, group_id, base_url, Projection(excluded=("members",))).body
        result = members.list_users(db, workspace, query, base_url)
        member_states = seats.states_of(db, workspace, [m["id"] for m in result["Resources"]])
    return page(request, admin, "group.html", group=group, members=result["Resources"], states=member_states,
                total=result["totalResults"], page_number=number,
                pages=max(1, -(-result["totalResults"] // PER_PAGE)))


# --- Provisioning log -------------------------------------------------------------------------


TIME_EXAMPLE = "2026-11-29T08:30"
LOG_ALIASES = {"from": "since", "to": "until"}
"""The admin API's names (``GET /api/admin/v1/audit?from=&to=``) of the page's ``since``/``until``,
so a URL copied from one works on the other."""


@dataclass(frozen=True)
class LogFilters:
    """The provisioning log page's filters read from its query string: ``wanted`` (only the values
    that make sense), ``shown`` (every value as typed, for the form), ``applied`` (the query string
    of ``wanted`` for the pager and the downloads) and ``problems`` (filter name -> a sentence
    saying what was wrong and that the filter is not applied)."""

    wanted: audit_log.LogFilter
    shown: dict[str, str]
    applied: dict[str, str]
    problems: dict[str, str]


def _log_time(name: str, value: str, problems: dict[str, str]) -> datetime | None:
    try:
        return forms.utc_datetime(value)
    except ValueError:
        problems[name] = f"{value[:40]!r} is not a time: use one like {TIME_EXAMPLE} (UTC). Not applied."
        return None


def log_filter(params: Mapping[str, str]) -> LogFilters:
    """The provisioning log's filters from the page's query string (``failures``, ``resource``,
    ``client``, ``since``/``from``, ``until``/``to``). A value that is not one of the choices, a
    garbage time, or a ``since`` not before ``until`` is not applied and gets a problem sentence
    (shown next to its filter) instead of being dropped silently."""
    raw = {name: params.get(name, "") for name in ("failures", "resource", "client", "since", "until")}
    for alias, name in LOG_ALIASES.items():
        if not raw[name] and params.get(alias):
            raw[name] = params[alias]
    problems: dict[str, str] = {}
    if raw["failures"] not in ("", "0", "1"):
        problems["failures"] = (f"{raw['failures'][:40]!r} is not a choice: use 1 (failures only). "
                                "Not applied.")
    if raw["resource"] and raw["resource"] not in audit_log.RESOURCES:
        problems["resource"] = (f"{raw['resource'][:40]!r} is not a resource: choose "
                                f"{' or '.join(audit_log.RESOURCES)}. Not applied.")
    if raw["client"] and raw["client"] not in audit_log.CLIENTS:
        problems["client"] = (f"{raw['client'][:40]!r} is not a client: choose "
                              f"{', '.join(audit_log.CLIENTS)}. Not applied.")
    since, until = _log_time("since", raw["since"], problems), _log_time("until", raw["until"], problems)
    if since is not None and until is not None and since >= until:
        problems["until"] = "'To' must be later than 'From': swap them. Neither time is applied."
        since = until = None
    times = {"since": since, "until": until}
    applied = {name: value for name, value in raw.items() if value and name not in problems
               and (name not in times or times[name] is not None)}
    wanted = audit_log.LogFilter(
        failures_only=applied.get("failures") == "1", resource_type=applied.get("resource"),
        client=applied.get("client"), since=since, until=until)
    return LogFilters(wanted, raw, applied, problems)


@router.get("/log")
def log(request: Request, admin: Admin, state: State) -> Response:
    """The provisioning log, newest first, with its filters (log_filter: a bad value is said next
    to its filter); and the retention setting."""
    filters = log_filter(request.query_params)
    wanted = filters.wanted
    number = forms.page_number(request.query_params.get("page"))
    flush_journal(state)
    with transaction(state.sessions) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        events = audit_log.list_events(db, workspace, wanted, number, LOG_PER_PAGE)
        names = audit_log.resource_names(db, workspace.id, events.events)
        retention = workspace.audit_retention_days
    return page(request, admin, "log.html", log=events, names=names, filters=filters.shown,
                params=filters.applied, problems=filters.problems, retention=retention,
                clients=audit_log.CLIENTS, resources=audit_log.RESOURCES)


@router.post("/log/retention")
def set_retention(admin: Admin, state: State, _csrf: Csrf, days: Annotated[str, Form()] = "") -> Response:
    """Keep the workspace's provisioning log ``days`` days (``scimgate audit prune`` deletes older events)."""
    try:
        with transaction(state.sessions) as db:
            audit_log.set_retention(db, workspaces.find_workspace(db, admin.workspace_id),
                                    parse_integer(days.strip()))
    except (ValueError, WorkspaceError) as exc:
        raise PageError(400, "Bad request", f"Retention must be a whole number of days "
                        f"from 1 to {audit_log.MAX_RETENTION_DAYS}.") from exc
    return see_other("/admin/log?done=retention")


@router.get("/{rest:path}")
@refuses
def unknown_page(rest: str) -> Response:
    """``/admin/`` goes to the security page; any other path is the HTML 404 page (not SCIM JSON)."""
    if not rest:
        return see_other("/admin/security")
    raise PageError(404, "Not found", "There is no admin page at this address.")


# --- Wiring -----------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the admin pages, their static files and their error pages to ``app``. The pages of
    their own modules come before this module's catch-all ``/admin/{rest}``."""
    from scimgate.admin import health_routes, log_routes, setup_routes  # they import this module

    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static")
    log_routes.install(templates)
    own = [log_routes.router, health_routes.router, setup_routes.router]
    for module_router in own:
        app.include_router(module_router)
    app.include_router(router)
    app.state.routers = [*own, *getattr(app.state, "routers", [])]  # http.allow: the routing order

    @app.get("/", include_in_schema=False)
    def _root() -> Response:
        """The bare address sends people to the admin pages (the sign-in page when signed out)."""
        return see_other("/admin")

    @app.get("/favicon.ico", include_in_schema=False)
    def _favicon() -> Response:
        """The icon browsers ask for at the root (SVG, also linked from every admin page)."""
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/admin/login"})
        return see_other("/admin/login")

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        return _error_page(request, PageError(403, "Forbidden", "The form was missing its security token "
                                              "(CSRF) or it has expired. Reload the page and try again."))

    @app.exception_handler(PageError)
    async def _page(request: Request, exc: PageError) -> Response:
        return _error_page(request, exc)

    register_surface(app, router.prefix, _failure_page)


def _error_page(request: Request, exc: PageError) -> Response:
    return render(request, "error.html", {"error": exc, "admin": None, "csrf": ""}, exc.status)


def _failure_page(request: Request, exc: ScimError) -> Response:
    """Any failure under /admin that is no PageError (a refused URL, a bad search, a 405, a 500)
    as the HTML error page with its status and the headers that status needs (``Allow``)."""
    try:
        title = HTTPStatus(exc.status).phrase
    except ValueError:
        title = "Error"
    response = _error_page(request, PageError(exc.status, title, str(exc.detail)))
    response.headers.update(error_headers(exc))
    return response
