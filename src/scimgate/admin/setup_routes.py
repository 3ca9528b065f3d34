"""The guided setup per identity provider (``/admin/setup``): the steps in order, the values
to paste with Copy buttons, the token step, and a live checklist (services.setup_checklist)
that htmx reloads every ``POLL_SECONDS`` until every step is ticked.

Choosing Microsoft Entra ID turns on the workspace's Entra compatibility (PATCH replace through
a filter that matches nothing creates the value, docs/identity-providers.md §2.4), without
which Entra's ordinary updates are answered 400 noTarget.

An admin can make a setup link (services.setup_links) for an IT colleague without an account:
``/admin/setup-link/{secret}`` shows the same guide and checklist and lets its holder make a
SCIM token, nothing else (no navigation, no switch, no other page), until it expires or is
revoked; after that it is the 404 page. New secrets (token, link) are shown once, handed over
the post/redirect/get in a signed short-lived cookie (admin.new_token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from scimgate.admin import new_token
from scimgate.admin.routes import (
    Admin,
    Csrf,
    PageError,
    Session_,
    flush_journal,
    page,
    render,
    see_other,
)
from scimgate.admin.session import AdminSession
from scimgate.http.deps import AppState, State
from scimgate.services import audit_sentence, setup_checklist, setup_links, tokens, workspaces
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import snapshot, transaction
from scimgate.storage.models import SetupLink, Workspace

router = APIRouter(prefix="/admin")
POLL_SECONDS = 5
SETUP_PATH = "/admin/setup"
LINK_PATH = "/admin/setup-link"
LINK_COOKIE = "scimgate_new_setup_link"
EXPIRED = "This setup link has expired or was revoked. Ask your workspace admin for a new one."


def _idp(idp: str) -> str:
    if idp not in setup_checklist.IDPS:
        raise PageError(404, "Not found",
                        "Choose Microsoft Entra ID, Okta, Google Workspace or another client.")
    return idp


def _guide(state: AppState, workspace_id: str, idp: str, actions: str) -> dict[str, Any]:
    """The guide's and the checklist's context for ``idp`` in the workspace."""
    flush_journal(state)
    base_url = state.settings.scim_base_url
    with snapshot(state.readers) as db:
        workspace = workspaces.find_workspace(db, workspace_id)
        steps = setup_checklist.checklist(db, workspace)
        live_tokens = sum(1 for t in tokens.list_tokens(db, workspace) if t.revoked_at is None)
        links = setup_links.live_links(db, workspace)
        compatible, name = workspace.entra_replace_creates, workspace.name
    return {"idp": idp, "title": setup_checklist.IDPS[idp], "steps": steps,
            "expected_client": setup_checklist.CLIENT_OF.get(idp), "client_name": audit_sentence.client_name,
            "complete": all(s.done for s in steps), "poll": POLL_SECONDS, "entra_compatible": compatible,
            "live_tokens": live_tokens, "actions": actions, "base_url": base_url,
            "tenant_url": base_url + "?aadOptscim062020", "workspace_name": name,
            "local_only": not base_url.startswith("https://"), "links": links, "idps": setup_checklist.IDPS,
            "max_hours": setup_links.MAX_HOURS, "default_hours": setup_links.DEFAULT_HOURS, "via_link": False}


def _mint(state: AppState, workspace_id: str) -> new_token.NewToken:
    with transaction(state.sessions) as db:
        issued = tokens.issue_token(db, workspaces.find_workspace(db, workspace_id))
        return new_token.NewToken(issued.record.id, issued.record.prefix, issued.secret)


# --- The admin's guide ------------------------------------------------------------------------


@router.get("/setup")
def choose(request: Request, admin: Admin) -> Response:
    """Which identity provider will provision this workspace?"""
    return page(request, admin, "setup_choose.html", idps=setup_checklist.IDPS)


@router.post("/setup")
def chosen(admin: Admin, state: State, _csrf: Csrf, idp: Annotated[str, Form()] = "") -> Response:
    """Go to ``idp``'s guide; for Entra, turn on Entra compatibility first."""
    _idp(idp)
    if idp == "entra":
        with transaction(state.sessions) as db:
            workspaces.set_entra_replace_creates(db, workspaces.find_workspace(db, admin.workspace_id), True)
    return see_other(f"{SETUP_PATH}/{idp}")


@router.post("/setup/links/{row_id}/revoke")
def revoke_link(admin: Admin, state: State, _csrf: Csrf, row_id: str,
                idp: Annotated[str, Form()] = "other") -> Response:
    """Revoke a live setup link at once (the 404 page for one not of this workspace)."""
    try:
        with transaction(state.sessions) as db:
            setup_links.revoke(db, workspaces.find_workspace(db, admin.workspace_id), row_id)
    except setup_links.SetupLinkNotFound as exc:
        raise PageError(404, "Not found", str(exc)) from exc
    return see_other(f"{SETUP_PATH}/{_idp(idp)}#links")


@router.get("/setup/{idp}")
def guide(request: Request, admin: Admin, state: State, idp: str) -> Response:
    """The steps for ``idp``, its values with Copy buttons, the token step, the checklist and
    the setup links."""
    key = state.settings.secret_key
    context = _guide(state, admin.workspace_id, _idp(idp), f"{SETUP_PATH}/{idp}")
    context["new_token"] = new_token.take(request, key, admin.workspace_id)
    context["new_link"] = new_token.take(request, key, admin.workspace_id, LINK_COOKIE)
    response = page(request, admin, "setup.html", **context)
    new_token.forget(request, response, SETUP_PATH)
    new_token.forget(request, response, SETUP_PATH, LINK_COOKIE)
    return response


@router.get("/setup/{idp}/checklist")
def checklist(request: Request, admin: Admin, state: State, idp: str) -> Response:
    """The checklist alone, for htmx's polling."""
    return render(request, "_setup_checklist.html", _guide(state, admin.workspace_id, _idp(idp),
                                                            f"{SETUP_PATH}/{idp}"))


@router.post("/setup/{idp}/token")
def setup_token(request: Request, admin: Admin, state: State, _csrf: Csrf, idp: str) -> Response:
    """Make a SCIM token for the setup; the guide it redirects to shows it once."""
    _idp(idp)
    response = see_other(f"{SETUP_PATH}/{idp}#token")
    new_token.hand_over(response, request, state.settings.secret_key, admin.workspace_id,
                        _mint(state, admin.workspace_id), SETUP_PATH)
    return response


@router.post("/setup/{idp}/links")
def make_link(request: Request, admin: Admin, state: State, _csrf: Csrf, idp: str,
              hours: Annotated[str, Form()] = "") -> Response:
    """Make a setup link to ``idp``'s guide lasting ``hours``; the guide shows it once."""
    _idp(idp)
    try:
        with transaction(state.sessions) as db:
            issued = setup_links.create_link(db, workspaces.find_workspace(db, admin.workspace_id), idp,
                                             admin.email, int(hours.strip() or setup_links.DEFAULT_HOURS))
            url = f"{state.settings.public_url.rstrip('/')}{LINK_PATH}/{issued.secret}"
            shown = new_token.NewToken(issued.record.id, issued.record.prefix, url)
    except (ValueError, WorkspaceError) as exc:
        raise PageError(400, "Bad request",
                        f"A setup link lasts from 1 to {setup_links.MAX_HOURS} hours.") from exc
    response = see_other(f"{SETUP_PATH}/{idp}#links")
    new_token.hand_over(response, request, state.settings.secret_key, admin.workspace_id, shown, SETUP_PATH,
                        LINK_COOKIE)
    return response


# --- The colleague's view through a setup link ------------------------------------------------


def _link(state: AppState, secret: str) -> tuple[SetupLink, Workspace]:
    with snapshot(state.readers) as db:
        found = setup_links.resolve(db, secret)
    if found is None:
        raise PageError(404, "Setup link not valid", EXPIRED)
    return found


def _link_page(request: Request, state: AppState, session: AdminSession, secret: str, name: str,
               found: tuple[SetupLink, Workspace], **extra: Any) -> Response:
    link, workspace = found
    context = _guide(state, workspace.id, link.idp, f"{LINK_PATH}/{secret}")
    context.update(via_link=True, link_expires=link.expires_at, admin=None, csrf=session.csrf, notice=None,
                   **extra)
    return render(request, name, context, session=session)


@router.get("/setup-link/{secret}")
def link_guide(request: Request, session: Session_, state: State, secret: str) -> Response:
    """The guide a setup link opens (its identity provider's only), with the token step."""
    found = _link(state, secret)
    handed = new_token.take(request, state.settings.secret_key, found[1].id)
    response = _link_page(request, state, session, secret, "setup.html", found, new_token=handed,
                          new_link=None)
    new_token.forget(request, response, LINK_PATH)
    return response


@router.get("/setup-link/{secret}/checklist")
def link_checklist(request: Request, session: Session_, state: State, secret: str) -> Response:
    return _link_page(request, state, session, secret, "_setup_checklist.html", _link(state, secret))


@router.post("/setup-link/{secret}/token")
def link_token(request: Request, state: State, _csrf: Csrf, secret: str) -> Response:
    """Make a SCIM token through a live setup link; its guide shows the token once."""
    _, workspace = _link(state, secret)
    response = see_other(f"{LINK_PATH}/{secret}#token")
    new_token.hand_over(response, request, state.settings.secret_key, workspace.id,
                        _mint(state, workspace.id), LINK_PATH)
    return response
