"""What Users and Groups share at the service level: list queries, versions and projection.

Compiling a ListQuery (filter, sortBy, paging) against a resource's mapping, checking
``If-Match`` (RFC 7644 §3.14) and applying ``attributes``/``excludedAttributes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from scimgate.scim.errors import InvalidFilterException, PreconditionFailedException
from scimgate.scim.params import ListQuery
from scimgate.scim.projection import project
from scimgate.scim.schema import ResourceSchema
from scimgate.scim.serialize import etag, parse_etag
from scimgate.storage.filter_sql import FilterCompiler, parse_filter
from scimgate.storage.mapping import ResourceMapping


@dataclass(frozen=True)
class Projection:
    """``attributes`` / ``excludedAttributes`` of a request (RFC 7644 §3.9)."""

    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @classmethod
    def of(cls, query: ListQuery) -> Projection:
        return cls(query.attributes, query.excluded_attributes)

    def apply(self, body: dict[str, Any], resource: ResourceSchema) -> dict[str, Any]:
        if not self.attributes and not self.excluded:
            return body
        return project(body, resource, self.attributes, self.excluded)


@dataclass(frozen=True)
class Written:
    """A written resource: its JSON (already projected) and its ETag."""

    body: dict[str, Any]
    etag: str


def compile_where(query: ListQuery, resource: ResourceSchema, mapping: ResourceMapping) -> ColumnElement[bool] | None:
    """The WHERE clause of ``query.filter`` (None when there is no filter)."""
    if query.filter is None:
        return None
    return FilterCompiler(resource, mapping).compile(parse_filter(query.filter))


def compile_order(query: ListQuery, resource: ResourceSchema, mapping: ResourceMapping) -> list[Any]:
    """ORDER BY for ``sortBy``/``sortOrder`` (RFC 7644 §3.4.2.3), ties broken by id for stable paging.

    Raises InvalidFilterException for an attribute that cannot be sorted on.
    """
    order: list[Any] = []
    if query.sort_by:
        schema, rest = resource.split_urn_path(query.sort_by)
        name, _, sub = rest.partition(".")
        attribute = resource.attribute(name, schema)
        key = None
        if attribute is not None:
            sub_attribute = attribute.sub(sub) if sub else None
            key = attribute.name.lower() + ("." + sub_attribute.name.lower() if sub_attribute else "")
        column = mapping.columns.get(key or "")
        if column is None:
            raise InvalidFilterException(detail=f"Sorting by {query.sort_by!r} is not supported.")
        target = column.lower if column.lower is not None else column.column
        ordered = target.desc() if query.descending else target.asc()
        order.append(ordered.nulls_last() if not query.descending else ordered.nulls_first())
    order.append(mapping.id_column.desc() if query.descending and query.sort_by else mapping.id_column.asc())
    return order


def check_if_match(if_match: str | None, version: int) -> None:
    """412 ``preconditionFailed`` unless ``If-Match`` is absent, ``*`` or names ``version``
    (RFC 7644 §3.14, RFC 7232 §3.1)."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {parse_etag(tag) for tag in if_match.split(",")}
    if str(version) not in wanted:
        raise PreconditionFailedException(
            detail=f"If-Match {if_match} does not match the current version {etag(version)}."
        )
