"""The SCIM lane: the busiest SCIM routes answered straight from the edge middleware.

An identity provider's provisioning cycle is a stream of a few kinds of request: a lookup by
``filter userName eq``, a GET, POST, PUT or PATCH of one User or Group. Each of those route
functions (http.scim_routes, http.group_routes) takes only the ``Request`` and resolves its
caller itself, so FastAPI's routing, its exception and exit-stack middlewares and its handler
wrapper do nothing for them but cost CPU: a fifth of a GET by id (docs/decisions.md, "A lean
request path"). The edge calls them directly instead. Nothing else changes: the routes stay
registered with FastAPI (the OpenAPI description, and every other method and path, go through
it), the edge still normalises the path, limits the body, logs and counts the request, and a
SCIM error is answered by ``http.errors.scim_error_response``, the handler FastAPI would run.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from scimgate.config import SCIM_PREFIX
from scimgate.http import group_routes, scim_routes

Route = Callable[..., Awaitable[Response]]
"""A lane route function: ``(request)`` for a list, ``(resource id, request)`` for one resource."""

_ONE = re.compile(r"/(Users|Groups)/([^/]+)")
_LISTS: dict[tuple[str, str], Route] = {
    ("GET", "/Users"): scim_routes.list_users,
    ("POST", "/Users"): scim_routes.create_user,
    ("GET", "/Groups"): group_routes.list_groups,
    ("POST", "/Groups"): group_routes.create_group,
}
_ONES: dict[tuple[str, str], Route] = {
    ("GET", "Users"): scim_routes.get_user,
    ("PUT", "Users"): scim_routes.replace_user,
    ("PATCH", "Users"): scim_routes.patch_user,
    ("GET", "Groups"): group_routes.get_group,
    ("PUT", "Groups"): group_routes.replace_group,
    ("PATCH", "Groups"): group_routes.patch_group,
}


def lane_for(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    """(the route function that answers ``method`` on ``path``, the path arguments it takes
    before the request), or None when FastAPI routes the request: any other method or path, and
    ``/.search`` (POST only, its own routes). ``path`` is already normalised
    (http.middleware.normalise_scim_path)."""
    if not path.startswith(SCIM_PREFIX):
        return None
    rest = path[len(SCIM_PREFIX):]
    listed = _LISTS.get((method, rest))
    if listed is not None:
        return listed, ()
    match = _ONE.fullmatch(rest)
    if match is None or match[2] == ".search":
        return None
    route = _ONES.get((method, match[1]))
    return None if route is None else (route, (match[2],))
