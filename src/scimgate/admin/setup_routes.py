"""The guided setup per identity provider (``/admin/setup``): the steps in order, the values
to paste with Copy buttons, the token step, and a live checklist (services.setup_checklist)
that htmx reloads every ``POLL_SECONDS`` until every step is ticked.

Choosing Microsoft Entra ID turns on the workspace's Entra compatibility (PATCH replace through
a filter that matches nothing creates the value, docs/identity-providers.md §2.4), without
which Entra's ordinary updates are answered 400 noTarget.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from scimgate.admin import new_token
from scimgate.admin.routes import Admin, Csrf, PageError, SignedIn, flush_journal, page, render, see_other
from scimgate.http.deps import AppState, State
from scimgate.services import setup_checklist, tokens, workspaces
from scimgate.storage.db import snapshot, transaction

router = APIRouter(prefix="/admin")
POLL_SECONDS = 5
SETUP_PATH = "/admin/setup"


def _idp(idp: str) -> str:
    if idp not in setup_checklist.IDPS:
        raise PageError(404, "Not found",
                        "Choose Microsoft Entra ID, Okta, Google Workspace or another client.")
    return idp


def _checklist(state: AppState, admin: SignedIn, idp: str) -> dict[str, Any]:
    flush_journal(state)
    with snapshot(state.readers) as db:
        workspace = workspaces.find_workspace(db, admin.workspace_id)
        steps = setup_checklist.checklist(db, workspace, idp)
        compatible = workspace.entra_replace_creates
        live_tokens = sum(1 for t in tokens.list_tokens(db, workspace) if t.revoked_at is None)
    return {"idp": idp, "steps": steps, "complete": all(s.done for s in steps), "poll": POLL_SECONDS,
            "entra_compatible": compatible, "live_tokens": live_tokens}


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


@router.get("/setup/{idp}")
def guide(request: Request, admin: Admin, state: State, idp: str) -> Response:
    """The steps for ``idp``, its values with Copy buttons, the token step and the checklist."""
    base_url = state.settings.scim_base_url
    handed = new_token.take(request, state.settings.secret_key, admin.workspace_id)
    response = page(request, admin, "setup.html", title=setup_checklist.IDPS[_idp(idp)], base_url=base_url,
                    tenant_url=base_url + "?aadOptscim062020", local_only=not base_url.startswith("https://"),
                    new_token=handed, **_checklist(state, admin, idp))
    new_token.forget(request, response, SETUP_PATH)
    return response


@router.get("/setup/{idp}/checklist")
def checklist(request: Request, admin: Admin, state: State, idp: str) -> Response:
    """The checklist alone, for htmx's polling."""
    return render(request, "_setup_checklist.html", _checklist(state, admin, _idp(idp)))


@router.post("/setup/{idp}/token")
def setup_token(request: Request, admin: Admin, state: State, _csrf: Csrf, idp: str) -> Response:
    """Make a SCIM token for the setup; the guide it redirects to shows it once (admin.new_token)."""
    _idp(idp)
    with transaction(state.sessions) as db:
        issued = tokens.issue_token(db, workspaces.find_workspace(db, admin.workspace_id))
        minted = new_token.NewToken(issued.record.id, issued.record.prefix, issued.secret)
    response = see_other(f"{SETUP_PATH}/{idp}#token")
    new_token.hand_over(response, request, state.settings.secret_key, admin.workspace_id, minted, SETUP_PATH)
    return response
