"""What Users and Groups share at the service level: list queries, versions and projection.

Compiling a ListQuery (filter, sortBy, paging) against a resource's mapping, checking
``If-Match`` (RFC 7644 §3.14) and applying ``attributes``/``excludedAttributes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from scimgate.scim.errors import PreconditionFailedException
from scimgate.scim.params import ListQuery
from scimgate.scim.projection import known_names, project
from scimgate.scim.schema import ResourceSchema
from scimgate.scim.serialize import etag, parse_etag
from scimgate.storage.filter_sql import FilterCompiler, filtered_order_key, parse_filter, sort_key
from scimgate.storage.mapping import ResourceMapping


@dataclass(frozen=True)
class Projection:
    """``attributes`` / ``excludedAttributes`` of a request (RFC 7644 §3.9)."""

    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    across_types: bool = False

    @classmethod
    def of(cls, query: ListQuery) -> Projection:
        return cls(query.attributes, query.excluded_attributes, query.across_types)

    def for_type(self, resource: ResourceSchema) -> Projection:
        """The projection as ``resource`` applies it. In a search across resource types
        (RFC 7644 §3.4.3) a name only another type has is ignored; if none of the requested
        ``attributes`` is this type's, only the always-returned ones remain."""
        if not self.across_types:
            return self
        attributes = known_names(resource, self.attributes)
        if self.attributes and not attributes:
            attributes = ("id",)
        return Projection(attributes, known_names(resource, self.excluded))

    def apply(self, body: dict[str, Any], resource: ResourceSchema) -> dict[str, Any]:
        own = self.for_type(resource)
        if not own.attributes and not own.excluded:
            return body
        return project(body, resource, own.attributes, own.excluded)


@dataclass(frozen=True)
class Written:
    """A written resource: its JSON (already projected), its ETag and its URL (the ``Location``
    of a 201, kept apart because a projection may drop ``meta.location``)."""

    body: dict[str, Any]
    etag: str
    location: str | None = None


def compile_where(
    query: ListQuery, resource: ResourceSchema, mapping: ResourceMapping, *,
    unknown_is_absent: bool = False, workspace_id: str | None = None,
) -> ColumnElement[bool] | None:
    """The WHERE clause of ``query.filter`` (None when there is no filter), RFC 7644 §3.4.2.2.

    Raises InvalidFilterException for an unparsable filter or an unknown attribute; with
    ``unknown_is_absent`` or ``query.across_types`` (searches across resource types, §3.4.2.1) an
    attribute the resource type lacks counts as unassigned instead. Give ``workspace_id`` (the
    workspace the query is restricted to) so multi-valued conditions use the child indexes.
    """
    if query.filter is None:
        return None
    compiler = FilterCompiler(resource, mapping, unknown_is_absent=unknown_is_absent or query.across_types,
                              workspace_id=workspace_id)
    return compiler.compile(parse_filter(query.filter))


def compile_order(query: ListQuery, resource: ResourceSchema, mapping: ResourceMapping) -> list[Any]:
    """ORDER BY for ``sortBy``/``sortOrder`` (RFC 7644 §3.4.2.3): resources without a value sort
    last ascending (first descending, the exact reverse); ties are broken by id so that paging
    is stable. With a filter, the keys leave the choice of plan to the filter's indexes.

    Raises InvalidFilterException for an attribute that cannot be sorted on.
    """
    ident: Any = mapping.id_column
    if query.filter is not None:
        ident = filtered_order_key(ident)
    key = None
    if query.sort_by:
        key = sort_key(resource, mapping, query.sort_by, unknown_is_absent=query.across_types)
    if key is None:
        return [ident.asc()]
    if query.filter is not None:
        key = filtered_order_key(key)
    if query.descending:
        return [key.desc().nulls_first(), ident.desc()]
    return [key.asc().nulls_last(), ident.asc()]


def check_if_match(if_match: str | None, version: int | str) -> None:
    """412 ``preconditionFailed`` unless ``If-Match`` is absent, ``*`` or names ``version``
    (RFC 7644 §3.14, RFC 7232 §3.1)."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {parse_etag(tag) for tag in if_match.split(",")}
    if str(version) not in wanted:
        raise PreconditionFailedException(
            detail=f"If-Match {if_match} does not match the current version {etag(version)}."
        )
