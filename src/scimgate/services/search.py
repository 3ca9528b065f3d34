"""``POST /.search`` from the server root (RFC 7644 §3.4.3): one ListResponse across resource types.

Every resource type the workspace serves is queried with the same filter (an attribute a type
lacks counts as unassigned there, §3.4.2.1); the results are Users then Groups, each in its own
``sortBy`` order, and ``startIndex``/``count`` page over that concatenation. ``totalResults``
is the sum of each type's count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from scimgate.scim.errors import InvalidFilterException, InvalidValueException
from scimgate.scim.params import ListQuery
from scimgate.scim.projection import known_names
from scimgate.scim.schema import ResourceSchema, group_schema, user_schema
from scimgate.scim.serialize import list_response
from scimgate.services import groups, members
from scimgate.storage.filter_sql import FilterCompiler, parse_filter, sort_key
from scimgate.storage.mapping import GROUP_MAPPING, USER_MAPPING, ResourceMapping
from scimgate.storage.models import Workspace

Lister = Callable[[Session, Workspace, ListQuery, str], dict[str, Any]]


def _resource_types(workspace: Workspace) -> list[tuple[ResourceSchema, ResourceMapping, Lister]]:
    types: list[tuple[ResourceSchema, ResourceMapping, Lister]] = [
        (user_schema(), USER_MAPPING, members.list_users)
    ]
    if workspace.group_sync_active:
        types.append((group_schema(), GROUP_MAPPING, groups.list_groups))
    return types


def search_all(session: Session, workspace: Workspace, query: ListQuery, base_url: str) -> dict[str, Any]:
    """POST /.search: a ListResponse of the workspace's Users and Groups matching ``query``.

    Raises InvalidFilterException when the filter is unparsable or names an attribute no
    resource type has (for one type only, it is unassigned in the others); InvalidValueException
    likewise for ``sortBy``, ``attributes`` and ``excludedAttributes``.
    """
    types = _resource_types(workspace)
    if query.filter is not None:
        node = parse_filter(query.filter)
        unknown: set[str] | None = None
        for resource, mapping, _ in types:
            compiler = FilterCompiler(resource, mapping, unknown_is_absent=True)
            compiler.compile(node)
            unknown = compiler.unknown if unknown is None else unknown & compiler.unknown
        if unknown:
            raise InvalidFilterException(
                detail=f"Unknown attribute '{min(unknown)}' in the filter: no resource type has it.")
    for name in (*query.attributes, *query.excluded_attributes):
        if not any(known_names(resource, (name,)) for resource, _, _ in types):
            raise InvalidValueException(
                detail=f"No resource type has the attribute {name!r} (attributes/excludedAttributes)."
            )
    if query.sort_by and all(sort_key(resource, mapping, query.sort_by, unknown_is_absent=True) is None
                             for resource, mapping, _ in types):
        raise InvalidValueException(detail=f"sortBy {query.sort_by!r}: no resource type has this attribute.")
    across = replace(query, across_types=True)
    found: list[dict[str, Any]] = []
    total = 0
    skip = query.start_index - 1
    for _, _, lister in types:
        counted = lister(session, workspace, replace(across, count=0), base_url)["totalResults"]
        wanted = query.count - len(found)
        if wanted > 0 and skip < counted:
            page = lister(session, workspace, replace(across, start_index=skip + 1, count=wanted), base_url)
            found.extend(page["Resources"])
        skip = max(0, skip - counted)
        total += counted
    return list_response(found, total, query.start_index)
