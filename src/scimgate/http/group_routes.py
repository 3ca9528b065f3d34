"""SCIM routes for Groups: parse, call one service, render (RFC 7644 §3.2 ``/Groups``).

Every route depends on ``GroupCaller``: the workspace's "Group sync active" switch off means
403 for every /Groups request while /Users keeps working. A group PATCH answers 204 unless the
request asks for the resource with ``attributes`` or ``excludedAttributes`` (then 200 with it),
so a membership change never reads the membership (docs/conformance.md, "Groups").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from scimgate.config import SCIM_PREFIX
from scimgate.http.allow import refuses
from scimgate.http.deps import AppState, Body, Caller, ScimCaller, State, direct_caller, json_body
from scimgate.http.execute import execute, execute_read, execute_rendered, execute_write, is_short_write
from scimgate.http.responses import scim_response
from scimgate.http.scim_routes import (
    IfMatch,
    list_query,
    projection_of,
    read_response,
    written_response,
)
from scimgate.scim.errors import ForbiddenException, MethodNotAllowedException
from scimgate.scim.limits import check_member_count
from scimgate.services import groups
from scimgate.services.resources import Projection, Written

router = APIRouter(prefix=SCIM_PREFIX)


async def group_caller(caller: Caller) -> ScimCaller:
    """The authenticated caller, if its workspace has group sync on; else 403 (async: no I/O,
    so no worker-thread hop)."""
    return _group_sync_on(caller)


def _group_sync_on(caller: ScimCaller) -> ScimCaller:
    if not caller.workspace.group_sync_active:
        raise ForbiddenException(
            detail="Group sync is off for this workspace: /Groups is disabled. An admin can switch on "
            "'Group sync active' in the workspace's security settings (scimgate workspace group-sync W on)."
        )
    return caller


async def direct_group_caller(request: Request) -> tuple[ScimCaller, AppState]:
    """``GroupCaller`` for a route that takes only the ``Request`` (http.deps.direct_caller)."""
    caller, state = await direct_caller(request)
    return _group_sync_on(caller), state


GroupCaller = Annotated[ScimCaller, Depends(group_caller)]


def _id_of(written: Written) -> str | None:
    return written.body.get("id")


@router.get("/Groups")
async def list_groups(request: Request) -> Response:
    caller, state = await direct_group_caller(request)
    query = list_query(request, state)
    return await execute_read(
        state, caller.audit, "Group",
        lambda s: groups.list_groups(s, caller.workspace, query, caller.base_url),
        scim_response,
    )


@router.post("/Groups/.search")
def search_groups(request: Request, caller: GroupCaller, state: State, body: Body) -> Response:
    query = list_query(request, state, body)
    return execute_rendered(
        state, caller.audit, "Group",
        lambda s: groups.list_groups(s, caller.workspace, query, caller.base_url),
        scim_response,
    )


@router.api_route("/Groups/.search", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@refuses
def search_groups_other_methods(request: Request) -> Response:
    """``/.search`` is POST only (RFC 7644 §3.4.3); without this route ``.search`` would be
    read as a group id and answer 404."""
    raise MethodNotAllowedException(detail=f"{request.method} is not supported on /Groups/.search; use POST.")


@router.post("/Groups")
async def create_group(request: Request) -> Response:
    caller, state = await direct_group_caller(request)
    body = await json_body(request)
    check_member_count(body, patch=False)
    projection = projection_of(request, state)
    return await execute_write(
        state, caller.audit, "Group",
        lambda s: groups.create_group(s, caller.workspace, body, caller.base_url, projection),
        lambda written: written_response(written, 201), id_of=_id_of,
    )


@router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request) -> Response:
    caller, state = await direct_group_caller(request)
    projection = projection_of(request, state)
    if_none_match = request.headers.get("if-none-match")
    return await execute_read(
        state, caller.audit, "Group",
        lambda s: groups.get_group(s, caller.workspace, group_id, caller.base_url, projection),
        lambda written: read_response(written, if_none_match), resource_id=group_id,
    )


@router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request) -> Response:
    caller, state = await direct_group_caller(request)
    body = await json_body(request)
    if_match = request.headers.get("if-match")
    check_member_count(body, patch=False)
    projection = projection_of(request, state)
    return await execute_write(
        state, caller.audit, "Group",
        lambda s: groups.replace_group(s, caller.workspace, group_id, body, caller.base_url, if_match,
                                       projection),
        written_response, resource_id=group_id,
    )


@router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request) -> Response:
    caller, state = await direct_group_caller(request)
    body = await json_body(request)
    if_match = request.headers.get("if-match")
    check_member_count(body, patch=True)
    query = list_query(request, state)
    projection = Projection.of(query) if query.attributes or query.excluded_attributes else None
    return await execute_write(
        state, caller.audit, "Group",
        lambda s: groups.patch_group(s, caller.workspace, group_id, body, caller.base_url, if_match,
                                     projection),
        # 204: no body, but the new ETag (RFC 7644 §3.14)
        lambda written: (Response(status_code=204, headers={"ETag": written}) if isinstance(written, str)
                         else written_response(written)),
        resource_id=group_id, short=is_short_write(await request.body(), body, group_patch=True),
    )


@router.delete("/Groups/{group_id}")
def delete_group(group_id: str, caller: GroupCaller, state: State, if_match: IfMatch = None) -> Response:
    execute(state, caller.audit, "Group", 204,
            lambda s: groups.delete_group(s, caller.workspace, group_id, if_match, caller.base_url),
            resource_id=group_id)
    return Response(status_code=204)
