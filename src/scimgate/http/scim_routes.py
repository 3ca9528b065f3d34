"""SCIM routes for Users and the discovery endpoints: parse, call one service, render.

Base URL: ``SCIMGATE_PUBLIC_URL`` + ``/api/scim/v2`` (RFC 7644 §3.2 endpoints under it).
Unknown query parameters (Entra's ``aadOptscim062020``) are ignored everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.allow import refuses
from scimgate.http.deps import AppState, Body, Caller, ScimCaller, State, direct_caller, json_body
from scimgate.http.execute import (
    execute,
    execute_lookup,
    execute_read,
    execute_rendered,
    execute_write,
    is_short_write,
)
from scimgate.http.responses import scim_response
from scimgate.scim import discovery
from scimgate.scim.errors import MethodNotAllowedException, NotImplementedException
from scimgate.scim.params import ListQuery, is_unique_user_lookup, parse_list_query
from scimgate.scim.serialize import list_response, parse_etag
from scimgate.services import members, search
from scimgate.services.resources import Projection, Written
from scimgate.storage.driver_reads import Reads

router = APIRouter(prefix=SCIM_PREFIX)

IfMatch = Annotated[str | None, Header(alias="If-Match")]


def list_query(request: Request, state: State, params: dict[str, Any] | None = None) -> ListQuery:
    """The ListQuery of a GET's query string or a SearchRequest body (RFC 7644 §3.4.3)."""
    source = params if params is not None else dict(request.query_params)
    return parse_list_query(
        source, default_count=state.settings.default_count, max_results=state.settings.max_results
    )


NO_PROJECTION = Projection()


def projection_of(request: Request, state: AppState) -> Projection:
    """The ``attributes`` / ``excludedAttributes`` of a request on one resource (RFC 7644 §3.9),
    its query string checked as a list's is; without a query string (an identity provider's
    every GET, PUT and PATCH) nothing is parsed."""
    if not request.scope["query_string"]:
        return NO_PROJECTION
    return Projection.of(list_query(request, state))


def not_modified(written: Written, if_none_match: str | None) -> bool:
    """True when ``If-None-Match`` names the resource's current version or is ``*``
    (RFC 7644 §3.14, RFC 7232 §3.2: a GET then answers 304 Not Modified)."""
    if if_none_match is None:
        return False
    tags = {parse_etag(tag) for tag in if_none_match.split(",")}
    return "*" in tags or parse_etag(written.etag) in tags


def written_response(written: Written, status: int = 200) -> Response:
    headers = {"ETag": written.etag}
    if status == 201:
        headers["Location"] = written.location or written.body["meta"]["location"]
    return scim_response(written.body, status, headers)


def read_response(written: Written, if_none_match: str | None) -> Response:
    """A GET of one resource: 304 with the ETag when ``If-None-Match`` names its current
    version (RFC 7644 §3.14, RFC 7232 §3.2), else 200 with the resource."""
    if not_modified(written, if_none_match):
        return Response(status_code=304, headers={"ETag": written.etag})
    return written_response(written)


def _id_of(written: Written) -> str | None:
    return written.body.get("id")


@router.get("/Users")
async def list_users(request: Request) -> Response:
    caller, state = await direct_caller(request)
    query = list_query(request, state)

    def listed(reads: Reads) -> dict[str, Any]:
        return members.list_users(reads, caller.workspace, query, caller.base_url)

    run = execute_lookup if is_unique_user_lookup(query) else execute_read  # a lookup: one statement
    return await run(state, caller.audit, "User", listed, scim_response)


@router.post("/Users/.search")
def search_users(request: Request, caller: Caller, state: State, body: Body) -> Response:
    query = list_query(request, state, body)
    return execute_rendered(
        state, caller.audit, "User",
        lambda s: members.list_users(s, caller.workspace, query, caller.base_url),
        scim_response,
    )


@router.post("/.search")
def search_root(request: Request, caller: Caller, state: State, body: Body) -> Response:
    """RFC 7644 §3.4.3: a search across every resource type from the server root."""
    query = list_query(request, state, body)
    return execute_rendered(
        state, caller.audit, "Root",
        lambda s: search.search_all(s, caller.workspace, query, caller.base_url),
        scim_response,
    )


@router.api_route("/Users/.search", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@refuses
def search_users_other_methods(request: Request) -> Response:
    """``/.search`` is POST only (RFC 7644 §3.4.3); without this route ``.search`` would be
    read as a user id and answer 404."""
    raise MethodNotAllowedException(detail=f"{request.method} is not supported on /Users/.search; use POST.")


@router.post("/Users")
async def create_user(request: Request) -> Response:
    caller, state = await direct_caller(request)
    body = await json_body(request)
    projection = projection_of(request, state)
    return await execute_write(
        state, caller.audit, "User",
        lambda s: members.create_user(s, caller.workspace, body, caller.base_url, projection),
        lambda written: written_response(written, 201), id_of=_id_of,
        short=is_short_write(await request.body(), body),
    )


@router.get("/Users/{member_id}")
async def get_user(member_id: str, request: Request) -> Response:
    caller, state = await direct_caller(request)
    projection = projection_of(request, state)
    if_none_match = request.headers.get("if-none-match")
    return await execute_lookup(
        state, caller.audit, "User",
        lambda s: members.get_user(s, caller.workspace, member_id, caller.base_url, projection),
        lambda written: read_response(written, if_none_match), resource_id=member_id,
    )


@router.put("/Users/{member_id}")
async def replace_user(member_id: str, request: Request) -> Response:
    caller, state = await direct_caller(request)
    body = await json_body(request)
    if_match = request.headers.get("if-match")
    projection = projection_of(request, state)
    return await execute_write(
        state, caller.audit, "User",
        lambda s: members.replace_user(s, caller.workspace, member_id, body, caller.base_url, if_match,
                                       projection),
        written_response, resource_id=member_id, short=is_short_write(await request.body(), body),
    )


@router.patch("/Users/{member_id}")
async def patch_user(member_id: str, request: Request) -> Response:
    caller, state = await direct_caller(request)
    body = await json_body(request)
    if_match = request.headers.get("if-match")
    projection = projection_of(request, state)
    return await execute_write(
        state, caller.audit, "User",
        lambda s: members.patch_user(s, caller.workspace, member_id, body, caller.base_url, if_match,
                                     projection),
        written_response, resource_id=member_id, short=is_short_write(await request.body(), body),
    )


@router.delete("/Users/{member_id}")
def delete_user(member_id: str, caller: Caller, state: State, if_match: IfMatch = None) -> Response:
    execute(state, caller.audit, "User", 204,
            lambda s: members.delete_user(s, caller.workspace, member_id, if_match, caller.base_url),
            resource_id=member_id)
    return Response(status_code=204)


@router.get("/ServiceProviderConfig")
def service_provider_config(request: Request, caller: Caller, state: State) -> Response:
    document = discovery.service_provider_config(caller.base_url, state.settings.max_results)
    return _discovery(request, caller, state, "ServiceProviderConfig", lambda: document)


@router.get("/ResourceTypes")
def resource_types(request: Request, caller: Caller, state: State) -> Response:
    return _discovery(request, caller, state, "ResourceType",
                      lambda: _discovery_list(discovery.resource_types(caller.base_url)))


@router.get("/ResourceTypes/{name}")
def resource_type(name: str, request: Request, caller: Caller, state: State) -> Response:
    return _discovery(request, caller, state, "ResourceType",
                      lambda: discovery.find_resource_type(caller.base_url, name), name)


@router.get("/Schemas")
def schemas(request: Request, caller: Caller, state: State) -> Response:
    return _discovery(request, caller, state, "Schema",
                      lambda: _discovery_list(discovery.schemas(caller.base_url)))


@router.get("/Schemas/{urn}")
def schema(urn: str, request: Request, caller: Caller, state: State) -> Response:
    return _discovery(request, caller, state, "Schema",
                      lambda: discovery.find_schema(caller.base_url, urn), urn)


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/Me", methods=ALL_METHODS, include_in_schema=False)
@router.api_route("/Me/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
def me(caller: Caller) -> Response:
    """RFC 7644 §3.11: a server without ``/Me`` SHOULD answer 501 (our tokens belong to a
    workspace's identity provider, not to a user, so there is no "me")."""
    raise NotImplementedException(
        detail="/Me is not supported: a SCIM token here acts for the workspace's identity provider, "
        "not for a user."
    )


@router.api_route("/Bulk", methods=ALL_METHODS, include_in_schema=False)
def bulk(caller: Caller) -> Response:
    """RFC 7644 §3.7: bulk operations are not offered (ServiceProviderConfig ``bulk.supported``
    is false), so ``/Bulk`` answers 501 rather than 404."""
    raise NotImplementedException(
        detail="Bulk operations are not supported (see ServiceProviderConfig bulk.supported); "
        "send each operation as its own request."
    )


def _discovery(request: Request, caller: ScimCaller, state: AppState, resource_type: str,
               document: Callable[[], dict[str, Any]], resource_id: str | None = None) -> Response:
    """A discovery answer, audited; a ``filter`` is refused (RFC 7644 §4, see
    ``discovery.refuse_filter``), every other query parameter ignored."""

    def answer(session: Session) -> dict[str, Any]:
        discovery.refuse_filter(request.query_params)
        return document()

    return scim_response(execute(state, caller.audit, resource_type, 200, answer, resource_id=resource_id))


def _discovery_list(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return list_response(documents, len(documents), 1)
