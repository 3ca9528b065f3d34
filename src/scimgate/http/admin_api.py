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
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from scimgate.http.allow import allowed_methods, refuses
from scimgate.http.deps import State, authenticate_bearer, bearer_secret
from scimgate.http.surfaces import error_headers
from scimgate.scim.errors import ScimError
from scimgate.services import domains, owned
from scimgate.services.dns_verification import DnsCheck, ResolverConfig
from scimgate.services.domains import DomainClaimed, DomainExists, DomainNotFound
from scimgate.services.owned import OwnedCounts, UnknownMember
from scimgate.services.workspaces import WorkspaceError
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
    if isinstance(exc, DomainNotFound | UnknownMember):
        return AdminApiError(404, "not_found", str(exc))
    if isinstance(exc, DomainExists | DomainClaimed):  # 409: another row holds it
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
