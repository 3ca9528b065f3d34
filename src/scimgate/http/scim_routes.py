"""SCIM routes for Users and the discovery endpoints: parse, call one service, render.

Base URL: ``SCIMGATE_PUBLIC_URL`` + ``/api/scim/v2`` (RFC 7644 §3.2 endpoints under it).
Unknown query parameters (Entra's ``aadOptscim062020``) are ignored everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.deps import Body, Caller, State
from scimgate.http.execute import execute
from scimgate.http.responses import scim_response
from scimgate.scim import discovery
from scimgate.scim.errors import NotFoundException
from scimgate.scim.params import ListQuery, parse_list_query
from scimgate.scim.serialize import list_response
from scimgate.services import members, search
from scimgate.services.resources import Projection, Written

router = APIRouter(prefix=SCIM_PREFIX)

IfMatch = Annotated[str | None, Header(alias="If-Match")]


def list_query(request: Request, state: State, params: dict[str, Any] | None = None) -> ListQuery:
    """The ListQuery of a GET's query string or a SearchRequest body (RFC 7644 §3.4.3)."""
    source = params if params is not None else dict(request.query_params)
    return parse_list_query(
        source, default_count=state.settings.default_count, max_results=state.settings.max_results
    )


def written_response(written: Written, status: int = 200) -> Response:
    headers = {"ETag": written.etag}
    if status == 201:
        headers["Location"] = written.location or written.body["meta"]["location"]
    return scim_response(written.body, status, headers)


def _id_of(written: Written) -> str | None:
    return written.body.get("id")


@router.get("/Users")
def list_users(request: Request, caller: Caller, state: State) -> Response:
    query = list_query(request, state)
    body = execute(state, caller.audit, "User", 200,
                   lambda s: members.list_users(s, caller.workspace, query, caller.base_url))
    return scim_response(body)


@router.post("/Users/.search")
def search_users(request: Request, caller: Caller, state: State, body: Body) -> Response:
    query = list_query(request, state, body if isinstance(body, dict) else {})
    result = execute(state, caller.audit, "User", 200,
                     lambda s: members.list_users(s, caller.workspace, query, caller.base_url))
    return scim_response(result)


@router.post("/.search")
def search_root(request: Request, caller: Caller, state: State, body: Body) -> Response:
    """RFC 7644 §3.4.3: a search across every resource type from the server root."""
    query = list_query(request, state, body if isinstance(body, dict) else {})
    result = execute(state, caller.audit, "Root", 200,
                     lambda s: search.search_all(s, caller.workspace, query, caller.base_url))
    return scim_response(result)


@router.post("/Users")
def create_user(request: Request, caller: Caller, state: State, body: Body) -> Response:
    projection = Projection.of(list_query(request, state))
    written = execute(state, caller.audit, "User", 201,
                      lambda s: members.create_user(s, caller.workspace, body, caller.base_url, projection),
                      id_of=_id_of)
    return written_response(written, 201)


@router.get("/Users/{member_id}")
def get_user(member_id: str, request: Request, caller: Caller, state: State) -> Response:
    projection = Projection.of(list_query(request, state))
    written = execute(state, caller.audit, "User", 200,
                      lambda s: members.get_user(s, caller.workspace, member_id, caller.base_url, projection),
                      resource_id=member_id)
    return written_response(written)


@router.put("/Users/{member_id}")
def replace_user(member_id: str, request: Request, caller: Caller, state: State, body: Body,
                 if_match: IfMatch = None) -> Response:
    projection = Projection.of(list_query(request, state))
    written = execute(
        state, caller.audit, "User", 200,
        lambda s: members.replace_user(s, caller.workspace, member_id, body, caller.base_url, if_match, projection),
        resource_id=member_id,
    )
    return written_response(written)


@router.patch("/Users/{member_id}")
def patch_user(member_id: str, request: Request, caller: Caller, state: State, body: Body,
               if_match: IfMatch = None) -> Response:
    projection = Projection.of(list_query(request, state))
    written = execute(
        state, caller.audit, "User", 200,
        lambda s: members.patch_user(s, caller.workspace, member_id, body, caller.base_url, if_match, projection),
        resource_id=member_id,
    )
    return written_response(written)


@router.delete("/Users/{member_id}")
def delete_user(member_id: str, caller: Caller, state: State, if_match: IfMatch = None) -> Response:
    execute(state, caller.audit, "User", 204,
            lambda s: members.delete_user(s, caller.workspace, member_id, if_match), resource_id=member_id)
    return Response(status_code=204)


@router.get("/ServiceProviderConfig")
def service_provider_config(state: State) -> Response:
    return scim_response(discovery.service_provider_config(state.settings.scim_base_url, state.settings.max_results))


@router.get("/ResourceTypes")
def resource_types(state: State) -> Response:
    documents = discovery.resource_types(state.settings.scim_base_url)
    return scim_response(_discovery_list(documents))


@router.get("/ResourceTypes/{name}")
def resource_type(name: str, state: State) -> Response:
    for document in discovery.resource_types(state.settings.scim_base_url):
        if document["id"].lower() == name.lower():
            return scim_response(document)
    raise NotFoundException(detail=f"No resource type {name!r}.")


@router.get("/Schemas")
def schemas(state: State) -> Response:
    return scim_response(_discovery_list(discovery.schemas(state.settings.scim_base_url)))


@router.get("/Schemas/{urn}")
def schema(urn: str, state: State) -> Response:
    for document in discovery.schemas(state.settings.scim_base_url):
        if document["id"].lower() == urn.lower():
            return scim_response(document)
    raise NotFoundException(detail=f"No schema {urn!r}.")


def _discovery_list(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return list_response(documents, len(documents), 1)
