"""The admin JSON API under ``/api/admin/v1``: a workspace's email domains and owned data.

Authentication: ``Authorization: Bearer <admin key>``, a per-workspace key of kind ``admin``
made by ``scimgate admin-key create WORKSPACE`` (SCIM tokens are not accepted here, nor admin
keys on the SCIM endpoints). Everything is scoped to the key's workspace: another workspace's
domain or member is 404, exactly like one that does not exist.

Errors are JSON ``{"error": {"status": 404, "code": "not_found", "detail": "..."}}``:
401 ``unauthorized``, 400 ``invalid``, 404 ``not_found``, 405 ``method_not_allowed``, 409
``conflict``, 413 ``too_large``, 500 ``internal`` (any other status: its reason phrase in
snake case); every failure under the prefix, also one refused at the edge (``http.surfaces``).

Endpoints:
- ``GET /domains``; ``POST /domains`` ``{"name": "Bücher.example"}`` -> 201;
  ``GET /domains/{name}``; ``DELETE /domains/{name}`` -> 204;
  ``POST /domains/{name}/verify`` -> 200 with ``verified`` true/false and an ``explanation``
  of what DNS returned (the operator override is CLI-only: it is support's path, not an admin's).
- ``GET /members/{id}/owned`` -> chats and agents the member owns;
  ``POST /members/{id}/sample-data`` ``{"chats": 2, "agents": 1}`` -> 201 with the new counts.
- ``GET /roles`` -> the role settings (``default_role``, ``source``, ``mappings`` of groups to
  roles); ``PUT /roles`` with the same shape saves them and answers the changes; 409
  ``last_admin`` when saving would leave no active admin; ``POST /roles/preview`` -> who would
  change, and whether saving would be refused (services.roles).
- ``GET /settings``, ``PUT /settings`` -> ``deletion_policy`` (keep/purge), ``removal_keep_days``,
  ``seat_limit`` (null: none); ``GET /seats`` -> member counts by state (services.seats).
- ``GET /members/removed`` -> Recently removed; ``POST /members/{id}/restore`` -> the member back
  under its SCIM id with its owned data and groups (409 when its userName was taken or the
  seat limit is reached); ``POST /members/{id}/transfer`` ``{"to": id}`` -> its chats and agents
  handed to another member, recorded in the provisioning log (services.leaving).
- ``PUT /sso/saml`` ``{"metadata_xml": "<EntityDescriptor ...>", "lookup": "userName"}`` ->
  200 with the connection (created or replaced; bad metadata 400 ``invalid`` with the reason);
  ``PUT /sso/oidc`` ``{"issuer": "https://...", "client_id": "...", "client_secret": "...",
  "lookup": "userName"}`` -> 200 with the connection, after the issuer's discovery document was
  read (refused 400 ``invalid`` with the reason; the secret is stored sealed and never answered);
  ``GET /sso`` -> the SAML or OIDC connection (SP entity ID and ACS URL, IdP, certificates, last test
  sign-in, ``required``); ``PUT /sso/required`` ``{"required": true}`` -> 200, or 409 ``conflict``
  naming the missing prerequisite (a verified domain, a successful test sign-in) or 404 without
  a connection.
- ``GET /audit?from=&to=&format=jsonl|csv``: the provisioning log, streamed (http.audit_api).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response

from scimgate.events import outbox
from scimgate.http.allow import allowed_methods, refuses
from scimgate.http.deps import State, authenticate_bearer, bearer_secret
from scimgate.http.surfaces import error_headers
from scimgate.scim.errors import ScimError
from scimgate.services import (
    domains,
    leaving,
    members,
    oidc,
    owned,
    roles,
    seats,
    sso,
    sso_setup,
    workspaces,
)
from scimgate.services.dns_verification import DnsCheck, ResolverConfig
from scimgate.services.domains import DomainClaimed, DomainExists, DomainNotFound
from scimgate.services.owned import OwnedCounts, UnknownMember
from scimgate.services.workspaces import WorkspaceError
from scimgate.sso.oidc import DiscoveryError, fetch_discovery
from scimgate.storage.db import transaction
from scimgate.storage.models import EmailDomain, ScimToken, Workspace

PREFIX = "/api/admin/v1"


class AdminApiError(Exception):
    """An admin API failure with its HTTP status and a stable ``code``."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = dict(headers or {})
        if status == 401:
            self.headers["WWW-Authenticate"] = 'Bearer realm="scimgate-admin"'

    def response(self) -> JSONResponse:
        headers = self.headers or None
        body = {"error": {"status": self.status, "code": self.code, "detail": self.detail}}
        return JSONResponse(body, self.status, headers=headers)


def _as_api_error(exc: Exception) -> AdminApiError:
    if isinstance(exc, AdminApiError):
        return exc
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return AdminApiError(400, "invalid", f"The request is not valid: {problems}.")
    if isinstance(exc, DomainNotFound | UnknownMember | roles.UnknownMemberRole):
        return AdminApiError(404, "not_found", str(exc))
    if isinstance(exc, DomainExists | DomainClaimed):  # 409: another row holds it
        return AdminApiError(409, "conflict", str(exc))
    if isinstance(exc, roles.LastAdminRefused):  # 409: the workspace's state refuses it
        return AdminApiError(409, "last_admin", str(exc))
    if isinstance(exc, sso_setup.SsoPrerequisiteMissing):  # 409: the workspace is not ready for it
        return AdminApiError(409, "conflict", str(exc))
    return AdminApiError(400, "invalid", str(exc))


CODES = {400: "invalid", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 500: "internal"}


def failure_response(request: Request, exc: ScimError) -> Response:
    """The admin API's JSON error for a failure raised outside its routes' own errors (a refused
    URL or body, a routing error, an unexpected exception): ``http.surfaces`` renderer."""
    code = CODES.get(exc.status) or HTTPStatus(exc.status).phrase.lower().replace(" ", "_")
    return AdminApiError(exc.status, code, str(exc.detail), error_headers(exc)).response()


class AdminRoute(APIRoute):
    """Renders admin errors and workspace-rule errors (services' ``WorkspaceError``) as the
    JSON above, for this router only; anything else goes to the app's handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (AdminApiError, WorkspaceError, RequestValidationError) as exc:
                return _as_api_error(exc).response()

        return route


router = APIRouter(prefix=PREFIX, route_class=AdminRoute)


@dataclass
class AdminCaller:
    """An authenticated admin API request: the key and its workspace."""

    workspace: Workspace
    key: ScimToken

    @property
    def actor(self) -> str:
        """Who acted, for records: the key's display prefix."""
        return f"admin key {self.key.prefix}…"


def admin_caller(request: Request, state: State) -> AdminCaller:
    """401 unless the bearer token is a live admin key; its workspace scopes the request."""
    key, workspace = authenticate_bearer(state, bearer_secret(request), kind="admin") or (None, None)
    if key is None or workspace is None:
        raise AdminApiError(401, "unauthorized",
                            "A valid admin API key is required (Authorization: Bearer <key>); "
                            "make one with `scimgate admin-key create WORKSPACE`.")
    return AdminCaller(workspace, key)


Admin = Annotated[AdminCaller, Depends(admin_caller)]


class DomainIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)


class SampleDataIn(BaseModel):
    chats: int = Field(default=2, ge=0, le=100)
    agents: int = Field(default=1, ge=0, le=100)


def domain_json(domain: EmailDomain) -> dict[str, Any]:
    """A domain as the API shows it: name, status, how/when/by whom verified, the TXT record."""
    record = domains.verification_record(domain)
    return {
        "name": domain.name,
        "display_name": domains.display_domain(domain.name),
        "status": domains.status(domain),
        "verified_by": domain.verified_by,
        "verified_at": domain.verified_at.isoformat() if domain.verified_at else None,
        "verified_detail": domain.verified_detail,
        "created": domain.created.isoformat(),
        "verification": {"type": "TXT", "names": list(record.names), "value": record.value},
    }


def _check_json(check: DnsCheck | None) -> list[dict[str, Any]]:
    if check is None:
        return []
    return [{"name": r.name, "finding": r.finding.value, "values": list(r.values)} for r in check.results]


def _owned_json(member_id: str, counts: OwnedCounts) -> dict[str, Any]:
    return {"member_id": member_id, "chats": counts.chats, "agents": counts.agents}


@router.get("/domains")
def list_domains(admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        found = domains.list_domains(session, admin.workspace)
        return JSONResponse({"domains": [domain_json(d) for d in found]})


@router.post("/domains")
def add_domain(payload: DomainIn, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        domain = domains.add_domain(session, admin.workspace, payload.name)
    return JSONResponse(domain_json(domain), 201)


@router.get("/domains/{name}")
def get_domain(name: str, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        return JSONResponse(domain_json(domains.get_domain(session, admin.workspace, name)))


@router.delete("/domains/{name}")
def remove_domain(name: str, admin: Admin, state: State) -> Response:
    with transaction(state.sessions) as session:
        domains.remove_domain(session, admin.workspace, name)
    return Response(status_code=204)


@router.post("/domains/{name}/verify")
def verify_domain(name: str, admin: Admin, state: State) -> JSONResponse:
    resolver = ResolverConfig.from_settings(state.settings)
    outcome = domains.verify_by_dns(state.sessions, admin.workspace.id, name, resolver, admin.actor)
    return JSONResponse({
        "verified": outcome.verified,
        "explanation": outcome.explanation(),
        "checks": _check_json(outcome.check),
        "domain": domain_json(outcome.domain),
    })


@router.get("/members/{member_id}/owned")
def member_owned(member_id: str, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        counts = owned.member_owned_counts(session, admin.workspace, member_id)
    return JSONResponse(_owned_json(member_id, counts))


@router.post("/members/{member_id}/sample-data")
def member_sample_data(member_id: str, admin: Admin, state: State,
                       payload: SampleDataIn | None = None) -> JSONResponse:
    wanted = payload or SampleDataIn()
    with transaction(state.sessions) as session:
        counts = owned.create_sample_data(session, admin.workspace, member_id, wanted.chats, wanted.agents)
    return JSONResponse(_owned_json(member_id, counts), 201)


STRICT = ConfigDict(extra="forbid", strict=True)
"""Bodies of the admin API's settings: an unknown field (a typo) or a value of the wrong JSON
type is a 400, never a silent default or coercion (``true`` is not a seat limit)."""


class MappingIn(BaseModel):
    model_config = STRICT
    group_id: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=16)


class RolesIn(BaseModel):
    model_config = STRICT
    default_role: str = Field(default="member", max_length=16)
    source: str = Field(default="groups", max_length=16)
    mappings: list[MappingIn] = Field(default_factory=list, max_length=1000)

    def settings(self) -> roles.RoleSettings:
        return roles.check_settings(self.default_role, self.source,
                                    {m.group_id: m.role for m in self.mappings})


def _roles_json(session: Any, workspace: Workspace) -> dict[str, Any]:
    settings, mapped = roles.read_settings(session, workspace)
    return {"default_role": settings.default_role, "source": settings.source,
            "mappings": [{"group_id": g, "display_name": d, "role": r} for g, d, r in mapped]}


def _change_json(change: roles.RoleChange) -> dict[str, Any]:
    return {"member_id": change.member_id, "from": change.old, "to": change.new, "active": change.active}


@router.get("/roles")
def get_roles(admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        return JSONResponse(_roles_json(session, workspaces.find_workspace(session, admin.workspace.id)))


@router.put("/roles")
def put_roles(payload: RolesIn, admin: Admin, state: State) -> JSONResponse:
    """Save the mapping; every member's role is recomputed in the same transaction."""
    settings = payload.settings()
    with transaction(state.sessions) as session:
        workspace = workspaces.find_workspace(session, admin.workspace.id)
        changes = roles.save_settings(session, workspace, settings)
        body = _roles_json(session, workspace)
    listed = [_change_json(c) for c in changes[:200]]
    return JSONResponse({**body, "changed": len(changes), "changes": listed})


@router.post("/roles/preview")
def preview_roles(payload: RolesIn, admin: Admin, state: State) -> JSONResponse:
    """Who would change role if the payload were saved (nothing is saved)."""
    settings = payload.settings()
    with transaction(state.sessions) as session:
        found = roles.preview(session, workspaces.find_workspace(session, admin.workspace.id), settings)
    return JSONResponse({"total": found.total, "changes": [_change_json(c) for c in found.changes],
                         "refused": found.refused})


class SettingsIn(BaseModel):
    model_config = STRICT
    deletion_policy: str = Field(default="keep", max_length=8)
    removal_keep_days: int = Field(default=30)
    seat_limit: int | None = None


def _settings_json(workspace: Workspace) -> dict[str, Any]:
    return {"deletion_policy": workspace.deletion_policy, "removal_keep_days": workspace.removal_keep_days,
            "seat_limit": workspace.seat_limit}


@router.get("/settings")
def get_settings(admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        return JSONResponse(_settings_json(workspaces.find_workspace(session, admin.workspace.id)))


@router.put("/settings")
def put_settings(payload: SettingsIn, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        workspace = workspaces.find_workspace(session, admin.workspace.id)
        leaving.set_policy(session, workspace, payload.deletion_policy, payload.removal_keep_days)
        seats.set_seat_limit(session, workspace, payload.seat_limit)
        return JSONResponse(_settings_json(workspace))


@router.get("/seats")
def get_seats(admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        found = seats.counts(session, workspaces.find_workspace(session, admin.workspace.id))
    return JSONResponse({"pending": found.pending, "active": found.active, "deactivated": found.deactivated,
                         "removed": found.removed, "seats": found.seats, "limit": found.limit})


@router.get("/members/removed")
def removed_members(admin: Admin, state: State, offset: int = 0, limit: int = 25) -> JSONResponse:
    if not 0 <= offset <= 10_000_000 or not 1 <= limit <= 200:
        raise AdminApiError(400, "invalid", "offset must be 0 or more and limit from 1 to 200.")
    with transaction(state.sessions) as session:
        workspace = workspaces.find_workspace(session, admin.workspace.id)
        total, rows = leaving.list_removed(session, workspace, offset, limit)
        items = [{"member_id": r.member.id, "userName": r.member.user_name,
                  "externalId": r.member.external_id,
                  "removed_at": r.member.removed_at.isoformat() if r.member.removed_at else None,
                  "purge_after": r.purge_after.isoformat(), "chats": r.chats, "agents": r.agents,
                  "groups": len(r.member.removed_groups or [])} for r in rows]
    return JSONResponse({"total": total, "removed": items})


@router.post("/members/{member_id}/restore")
def restore_member(member_id: str, admin: Admin, state: State) -> JSONResponse:
    """Restore from Recently removed (same SCIM id, owned data, groups still existing)."""
    try:
        with transaction(state.sessions) as session:
            workspace = workspaces.find_workspace(session, admin.workspace.id)
            outbox.act_as(session, "admin", admin.key.prefix)
            member, rejoined = members.restore_removed(session, workspace, member_id, admin.actor,
                                                       state.settings.scim_base_url)
            role = member.role
    except ScimError as exc:  # userName taken meanwhile, seat limit reached
        raise AdminApiError(409, "conflict", str(exc.detail)) from exc
    return JSONResponse({"member_id": member_id, "groups": rejoined, "role": role})


class TransferIn(BaseModel):
    model_config = STRICT
    to: str = Field(min_length=1, max_length=600, description=(
        "The member to hand them to: a live member of this workspace, named by its SCIM id or its "
        "userName (any case). 404 not_found when neither matches."))


@router.post("/members/{member_id}/transfer")
def transfer_owned(member_id: str, payload: TransferIn, admin: Admin, state: State) -> JSONResponse:
    """Hand the member's chats and agents to member ``to`` (its SCIM id or userName, as the admin
    page accepts); recorded in the provisioning log and emitted as ``member.data_transferred``."""
    with transaction(state.sessions) as session:
        outbox.act_as(session, "admin", admin.key.prefix)
        workspace = workspaces.find_workspace(session, admin.workspace.id)
        done = leaving.transfer(session, workspace, member_id,
                                leaving.find_recipient(session, workspace, payload.to), admin.actor)
    return JSONResponse({"from": done.from_id, "to": done.to_id, "chats": done.chats, "agents": done.agents})


@router.get("/members/{member_id}")
def member_role(member_id: str, admin: Admin, state: State) -> JSONResponse:
    """A live member's role and where it comes from (404 for one in Recently removed)."""
    with transaction(state.sessions) as session:
        workspace = workspaces.find_workspace(session, admin.workspace.id)
        found = roles.member_role(session, workspace, member_id)
    return JSONResponse(found)
class RequiredIn(BaseModel):
    model_config = STRICT
    required: bool


class SamlIn(BaseModel):
    model_config = STRICT
    metadata_xml: str = Field(min_length=1, max_length=1024 * 1024)
    lookup: str = "userName"


class OidcIn(BaseModel):
    model_config = STRICT
    issuer: str = Field(min_length=1, max_length=2048)
    client_id: str = Field(min_length=1, max_length=1024)
    client_secret: str = Field(min_length=1, max_length=4096)
    lookup: str = "userName"


def _sso_json(session: Session, admin: AdminCaller, public_url: str) -> dict[str, Any]:
    connection = sso.get_connection(session, admin.workspace.id)
    if connection is None:
        raise AdminApiError(404, "not_found", "This workspace has no SSO connection.")
    sp = sso.service_provider(public_url, connection)
    oidc_json = None if connection.kind != "oidc" else {
        "issuer": connection.idp_entity_id, "client_id": connection.oidc_client_id,
        "redirect_uri": oidc.redirect_uri(public_url, connection.workspace_id)}
    return {
        "oidc": oidc_json,
        "kind": connection.kind,
        "sp": {"entity_id": sp.entity_id, "acs_url": sp.acs_url, "metadata_url": sp.entity_id},
        "idp": {"entity_id": connection.idp_entity_id, "sso_url": connection.idp_sso_url},
        "lookup": connection.lookup,
        "certificates": [{"fingerprint_sha256": c.fingerprint, "subject": c.subject,
                          "not_after": c.not_after.isoformat()}
                         for c in (sso_setup.certificates(connection) if connection.kind == "saml" else ())],
        "tested_at": connection.tested_at.isoformat() if connection.tested_at else None,
        "required": connection.required,
    }


@router.get("/sso")
def get_sso(admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        return JSONResponse(_sso_json(session, admin, state.settings.public_url))


@router.put("/sso/saml")
def put_sso_saml(payload: SamlIn, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        sso.configure_saml(session, admin.workspace, payload.metadata_xml, payload.lookup)
        return JSONResponse(_sso_json(session, admin, state.settings.public_url))


@router.put("/sso/oidc")
def put_sso_oidc(payload: OidcIn, admin: Admin, state: State) -> JSONResponse:
    settings = state.settings
    try:
        provider = fetch_discovery(payload.issuer.strip(), settings.oidc_allow_loopback_http)
    except DiscoveryError as exc:
        raise AdminApiError(400, "invalid", str(exc)) from exc
    with transaction(state.sessions) as session:
        oidc.configure_oidc(session, admin.workspace, provider, payload.client_id, payload.client_secret,
                            settings.secret_key, lookup=payload.lookup)
        return JSONResponse(_sso_json(session, admin, settings.public_url))


@router.put("/sso/required")
def put_sso_required(payload: RequiredIn, admin: Admin, state: State) -> JSONResponse:
    with transaction(state.sessions) as session:
        _sso_json(session, admin, state.settings.public_url)  # 404 without a connection
        sso_setup.set_required(session, admin.workspace, payload.required)
        return JSONResponse(_sso_json(session, admin, state.settings.public_url))


@router.api_route("", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@refuses
def bare_prefix(request: Request) -> Response:
    """``/api/admin/v1`` itself: its JSON 404 here, not the framework's 307 to ``/api/admin/v1/``."""
    return unknown_endpoint("", request)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@refuses
def unknown_endpoint(rest: str, request: Request) -> Response:
    """404, or 405 with ``Allow`` when the path exists but not for this method (RFC 9110 §15.5.6)."""
    allow = allowed_methods(request)
    if allow:
        answers = ", ".join(allow)
        raise AdminApiError(405, "method_not_allowed",
                            f"{request.method} is not supported on {PREFIX}/{rest}; it answers {answers}.",
                            headers={"Allow": answers})
    raise AdminApiError(404, "not_found", f"No admin API endpoint at {PREFIX}/{rest}.")
