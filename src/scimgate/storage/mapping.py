"""SCIM attribute -> storage: the explicit map that filters and sorting compile through.

It is also the whitelist: an attribute path that is not mapped here cannot be filtered or
sorted on (STYLE.md §2, fail closed). Three kinds of target:

- ``Column``: an indexed column of the resource's table; string columns used for
  case-insensitive attributes have a lower-cased twin (``lower``) so comparisons hit an index.
- ``Child``: a multi-valued attribute stored as rows of a child table (``emails`` ->
  ``member_email``); filters become EXISTS subqueries.
- ``DocumentPath``: any other attribute, read from the stored JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import InstrumentedAttribute

from scimgate.storage.models import Member, MemberEmail, ScimGroup


@dataclass(frozen=True)
class Column:
    """A scalar attribute held in ``column`` (and in ``lower`` lower-cased, if case-insensitive)."""

    column: InstrumentedAttribute  # type: ignore[type-arg]
    lower: InstrumentedAttribute | None = None  # type: ignore[type-arg]


@dataclass(frozen=True)
class Child:
    """A multi-valued complex attribute stored as rows: sub-attribute name -> column."""

    table: type
    owner_key: InstrumentedAttribute  # type: ignore[type-arg]
    columns: dict[str, Column] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceMapping:
    """Everything the compiler needs for one resource type."""

    model: type
    id_column: InstrumentedAttribute  # type: ignore[type-arg]
    workspace_column: InstrumentedAttribute  # type: ignore[type-arg]
    document_column: InstrumentedAttribute  # type: ignore[type-arg]
    columns: dict[str, Column]  # "username", "name.familyname", "meta.created" -> Column
    children: dict[str, Child]  # "emails" -> Child


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
            columns={
                "value": Column(MemberEmail.value, MemberEmail.value_lower),
                "type": Column(MemberEmail.type),
                "primary": Column(MemberEmail.primary),
            },
        ),
    },
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
    children={},
)
