"""SCIM attribute -> storage: the explicit map that filters and sorting compile through.

It is also the whitelist: an attribute path that is not mapped here cannot be filtered or
sorted on (STYLE.md §2, fail closed). Keys are lower-cased attribute paths: ``username``,
``name.familyname``, ``meta.created``, and for extension attributes the schema URN followed
by ``:`` and the path (``urn:...:enterprise:2.0:user:manager.value``). Four kinds of target:

- ``Column``: an indexed column of the resource's table; string columns of case-insensitive
  attributes have a lower-cased twin (``lower``) so comparisons hit an index.
- ``Child``: a multi-valued attribute stored as rows of a child table (``emails`` ->
  ``member_email``, ``members`` -> ``group_member``); filters become EXISTS subqueries.
- ``DocumentValue``: a singular attribute read from the stored JSON document.
- ``DocumentArray``: a multi-valued complex attribute held as a JSON array in the document;
  filters become EXISTS over the array's elements (json_each / jsonb_array_elements).

A multi-valued attribute may have both a ``Child`` (used when every sub-attribute a filter names
has a column) and a ``DocumentArray`` (used otherwise, e.g. ``emails[display eq "x"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from scimgate.storage.models import GroupMember, Member, MemberEmail, ScimGroup

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class Column:
    """A scalar attribute held in ``column`` (and in ``lower`` lower-cased, if case-insensitive)."""

    column: InstrumentedAttribute[Any]
    lower: InstrumentedAttribute[Any] | None = None


@dataclass(frozen=True)
class Child:
    """A multi-valued complex attribute stored as rows: sub-attribute name -> column.

    ``owner_key`` joins a row to its resource's id and ``workspace_key`` to its workspace;
    ``where`` holds extra conditions every row must meet (a User's ``groups`` are only the
    ``group_member`` rows of type User).
    """

    table: type
    owner_key: InstrumentedAttribute[Any]
    workspace_key: InstrumentedAttribute[Any]
    columns: dict[str, Column] = field(default_factory=dict)
    where: tuple[Any, ...] = ()


@dataclass(frozen=True)
class DocumentValue:
    """A singular attribute at ``path`` (keys from the document root) in the JSON document."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class DocumentArray:
    """A multi-valued complex attribute: a JSON array of objects at ``path`` in the document."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class ResourceMapping:
    """Everything the compiler needs for one resource type."""

    model: type
    id_column: InstrumentedAttribute[Any]
    workspace_column: InstrumentedAttribute[Any]
    document_column: InstrumentedAttribute[Any]
    columns: dict[str, Column]
    children: dict[str, Child]
    documents: dict[str, DocumentValue] = field(default_factory=dict)
    arrays: dict[str, DocumentArray] = field(default_factory=dict)


def _document_values(*paths: tuple[str, ...]) -> dict[str, DocumentValue]:
    """``("name", "formatted")`` -> ``{"name.formatted": DocumentValue(...)}``; an extension
    path starts with its schema URN."""
    out = {}
    for path in paths:
        key = path[0] + ":" + ".".join(path[1:]) if path[0].startswith("urn:") else ".".join(path)
        out[key.lower()] = DocumentValue(path)
    return out


# RFC 7643 §4.1 singular User attributes (and complex ones, for ``pr``), §4.3 enterprise extension.
_USER_DOCUMENT = _document_values(
    ("userName",), ("externalId",), ("displayName",), ("nickName",), ("profileUrl",), ("title",),
    ("userType",), ("preferredLanguage",), ("locale",), ("timezone",), ("active",),
    ("name",), ("name", "formatted"), ("name", "familyName"), ("name", "givenName"),
    ("name", "middleName"), ("name", "honorificPrefix"), ("name", "honorificSuffix"),
    (ENTERPRISE, "employeeNumber"), (ENTERPRISE, "costCenter"), (ENTERPRISE, "organization"),
    (ENTERPRISE, "division"), (ENTERPRISE, "department"), (ENTERPRISE, "manager"),
    (ENTERPRISE, "manager", "value"), (ENTERPRISE, "manager", "$ref"), (ENTERPRISE, "manager", "displayName"),
)

_USER_ARRAYS = {
    name.lower(): DocumentArray((name,))
    for name in ("emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles",
                 "x509Certificates")
}

USER_MAPPING = ResourceMapping(
    model=Member,
    id_column=Member.id,
    workspace_column=Member.workspace_id,
    document_column=Member.document,
    columns={
        "id": Column(Member.id),
        "username": Column(Member.user_name, Member.user_name_lower),
        "externalid": Column(Member.external_id),
        "displayname": Column(Member.display_name, Member.display_name_lower),
        "name.givenname": Column(Member.given_name),
        "name.familyname": Column(Member.family_name),
        "active": Column(Member.active),
        "meta.created": Column(Member.created),
        "meta.lastmodified": Column(Member.last_modified),
    },
    children={
        "emails": Child(
            table=MemberEmail,
            owner_key=MemberEmail.member_id,
            workspace_key=MemberEmail.workspace_id,
            columns={
                "value": Column(MemberEmail.value, MemberEmail.value_lower),
                "type": Column(MemberEmail.type),
                # No "primary": the column stores an absent primary as false, and a filter must
                # tell them apart (``emails[primary eq false]`` does not match an email without
                # it, RFC 7644 §3.4.2.2), so filters on it read the document's array.
            },
        ),
        "groups": Child(
            table=GroupMember,
            owner_key=GroupMember.member_id,
            workspace_key=GroupMember.workspace_id,
            columns={"value": Column(GroupMember.group_id)},
            where=(GroupMember.member_type == "User",),
        ),
    },
    documents=_USER_DOCUMENT,
    arrays=_USER_ARRAYS,
)

GROUP_MAPPING = ResourceMapping(
    model=ScimGroup,
    id_column=ScimGroup.id,
    workspace_column=ScimGroup.workspace_id,
    document_column=ScimGroup.document,
    columns={
        "id": Column(ScimGroup.id),
        "displayname": Column(ScimGroup.display_name, ScimGroup.display_name_lower),
        "externalid": Column(ScimGroup.external_id),
        "meta.created": Column(ScimGroup.created),
        "meta.lastmodified": Column(ScimGroup.last_modified),
    },
    children={
        "members": Child(
            table=GroupMember,
            owner_key=GroupMember.group_id,
            workspace_key=GroupMember.workspace_id,
            columns={"value": Column(GroupMember.member_id), "type": Column(GroupMember.member_type)},
        ),
    },
    documents=_document_values(("displayName",), ("externalId",)),
)
