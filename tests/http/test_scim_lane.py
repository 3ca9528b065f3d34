"""The SCIM lane (http.scim_lane) answers exactly the requests FastAPI would route to the same
route functions, and no other: the edge's shortcut must never change which code answers."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match

from scimgate.app import create_app
from scimgate.config import SCIM_PREFIX, Settings
from scimgate.http.scim_lane import lane_for

PATHS = [
    "/Users", "/Groups", "/Users/8d2c1c9e-2a7e-4a39-9f3c-1f0e4f0f3a11", "/Groups/g-1", "/Users/.search",
    "/Groups/.search", "/.search", "/Users/a/b", "/Schemas", "/Schemas/urn:x", "/ServiceProviderConfig",
    "/ResourceTypes/User", "/Me", "/Me/x", "/Bulk", "/Users/@odd", "/Unknown", "",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def fastapi_route(app: Any, method: str, path: str) -> tuple[Any, tuple[str, ...]] | None:
    """(endpoint, path arguments) of the route FastAPI picks for (method, path): the first
    route of the app's routers, in their routing order, that matches fully; None for a 404 or 405."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
             "headers": []}
    for router in app.state.routers:
        for route in router.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route.endpoint, tuple(child.get("path_params", {}).values())
    return None


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    database = tmp_path_factory.mktemp("lane") / "lane.db"
    return create_app(Settings(database_url=f"sqlite:///{database}", webhook_deliverer=False))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PATHS)
def test_the_lane_takes_only_what_fastapi_routes_to_the_same_function(app: Any, method: str,
                                                                     path: str) -> None:
    full = SCIM_PREFIX + path
    lane = lane_for(method, full)
    if lane is None:
        return  # FastAPI routes it, as it always did
    assert fastapi_route(app, method, full) == lane


def test_the_lane_holds_the_busy_provisioning_requests(app: Any) -> None:
    """The requests of a provisioning cycle take the lane (else the test above proves nothing)."""
    for method, path in (("GET", "/Users"), ("POST", "/Users"), ("GET", "/Users/u1"), ("PATCH", "/Users/u1"),
                         ("PUT", "/Users/u1"), ("GET", "/Groups/g1"), ("PATCH", "/Groups/g1")):
        assert lane_for(method, SCIM_PREFIX + path) is not None, (method, path)


def test_nothing_outside_the_scim_prefix_takes_the_lane() -> None:
    for path in ("/Users", "/admin/Users", "/healthz", "/api/scim/v1/Users"):
        assert lane_for("GET", path) is None
