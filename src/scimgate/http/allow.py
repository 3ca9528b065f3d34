"""What methods a URL answers: the ``Allow`` header a 405 must carry (RFC 9110 §15.5.6).

The app keeps the routers it includes on ``app.state.routers`` (see ``app.create_app``). For
each method the route that would serve a request is the first one matching its path and method,
in that order, as in routing; the method is allowed when that route really serves it. Routes
that exist only to refuse (a ``/.search`` path answering 405 to everything but POST, a catch-all
answering 404) are marked with :func:`refuses` and never count. Mounted static files answer GET
(and so HEAD) only.
HEAD is allowed wherever GET is (the edge middleware answers it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.routing import Match, Mount

METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
_REFUSERS: set[Callable[..., Any]] = set()
F = TypeVar("F", bound=Callable[..., Any])


def refuses(endpoint: F) -> F:
    """Mark a route endpoint that only refuses requests (405 or 404): its methods are not allowed."""
    _REFUSERS.add(endpoint)
    return endpoint


def allowed_methods(request: Request) -> tuple[str, ...]:
    """The methods some route serves at ``request``'s path, sorted (empty: no such resource)."""
    # a handler may see the scope of a mounted app, whose root_path includes the mount's path
    root = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    app_scope = {**request.scope, "root_path": root}
    mounts = [route for route in request.app.routes if isinstance(route, Mount)]
    if any(mount.matches(app_scope)[0] is Match.FULL for mount in mounts):
        return ("GET", "HEAD")  # a mount (the admin's static files) owns every path under it
    routes = [route for router in getattr(request.app.state, "routers", ()) for route in router.routes]
    allowed: set[str] = set()
    for method in METHODS:
        scope = {**app_scope, "method": method}
        for route in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                if getattr(route, "endpoint", None) not in _REFUSERS:
                    allowed.add(method)
                break
    if "GET" in allowed:
        allowed.add("HEAD")
    return tuple(sorted(allowed))
