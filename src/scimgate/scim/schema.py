"""The SCIM resource schemas scimgate serves, as a lookup table of attribute definitions.

The definitions come from scim2-models' RFC 7643 models (``User``, ``EnterpriseUser``,
``Group``), plus the common attributes of RFC 7643 §3.1 (``id``, ``externalId``, ``meta``)
which those models keep outside their schema. Everything that needs to know an attribute's
type, case sensitivity, mutability or ``returned`` setting (input validation, PATCH, filters,
projection, the ``/Schemas`` endpoint) reads it from here.

Attribute names are case-insensitive (RFC 7643 §2.1): every lookup folds case and returns
the canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from scim2_models import EnterpriseUser, Group, User

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition (RFC 7643 §7).

    ``schema`` is the URN of the schema the attribute belongs to; ``sub_attributes`` maps the
    lower-cased sub-attribute name to its definition.
    """

    name: str
    type: str
    schema: str
    multi_valued: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    required: bool = False
    uniqueness: str = "none"
    sub_attributes: dict[str, Attribute] = field(default_factory=dict)

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    @property
    def writable(self) -> bool:
        return self.mutability in ("readWrite", "writeOnly")

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name`` (any case), or None."""
        return self.sub_attributes.get(name.lower())


@dataclass(frozen=True)
class ResourceSchema:
    """A resource type: its core schema, its extensions and all their attributes (RFC 7643 §6)."""

    name: str
    endpoint: str
    core: str
    extensions: tuple[str, ...]
    attributes: dict[str, dict[str, Attribute]]  # schema URN -> lower-cased name -> definition

    @property
    def schema_urns(self) -> tuple[str, ...]:
        return (self.core, *self.extensions)

    def attribute(self, name: str, schema: str | None = None) -> Attribute | None:
        """The attribute ``name`` (any case) of ``schema`` (default: the core schema), or None."""
        urn = self.canonical_urn(schema) if schema else self.core
        if urn is None:
            return None
        return self.attributes[urn].get(name.lower())

    def canonical_urn(self, urn: str) -> str | None:
        """The schema URN spelled as this resource type spells it, or None if it is not ours."""
        for known in self.schema_urns:
            if known.lower() == urn.lower():
                return known
        return None

    def split_urn_path(self, path: str) -> tuple[str | None, str]:
        """Split ``urn:...:User:manager.value`` into (schema URN, ``manager.value``).

        A path without a URN prefix belongs to the core schema: (None, path). A URN naming
        the core schema is removed too (``urn:...:core:2.0:User:userName`` -> (None, ``userName``)).
        Per RFC 7644 §3.10 the attribute name follows the schema URN after a colon.
        """
        lowered = path.lower()
        for urn in self.schema_urns:
            prefix = urn.lower() + ":"
            if lowered.startswith(prefix):
                rest = path[len(prefix):]
                return (None if urn == self.core else urn), rest
        return None, path


def _from_model(data: dict[str, Any], schema: str) -> Attribute:
    subs = {
        sub["name"].lower(): _from_model(sub, schema) for sub in data.get("subAttributes", []) or []
    }
    return Attribute(
        name=data["name"],
        type=data["type"],
        schema=schema,
        multi_valued=bool(data.get("multiValued", False)),
        case_exact=bool(data.get("caseExact", False)),
        mutability=data.get("mutability", "readWrite"),
        returned=data.get("returned", "default"),
        required=bool(data.get("required", False)),
        uniqueness=data.get("uniqueness", "none"),
        sub_attributes=subs,
    )


def _common_attributes(schema: str) -> dict[str, Attribute]:
    """RFC 7643 §3.1: id (readOnly, always, caseExact), externalId (caseExact), meta (readOnly)."""
    meta_subs = {
        name.lower(): Attribute(name, kind, schema, case_exact=exact, mutability="readOnly")
        for name, kind, exact in (
            ("resourceType", "string", True),
            ("created", "dateTime", False),
            ("lastModified", "dateTime", False),
            ("location", "reference", True),
            ("version", "string", True),
        )
    }
    return {
        "id": Attribute("id", "string", schema, case_exact=True, mutability="readOnly",
                        returned="always", uniqueness="server"),
        "externalid": Attribute("externalId", "string", schema, case_exact=True),
        "meta": Attribute("meta", "complex", schema, mutability="readOnly", sub_attributes=meta_subs),
    }


def _attributes_of(model: Any, schema: str, *, common: bool) -> dict[str, Attribute]:
    dumped = model.to_schema().model_dump(mode="json", exclude_none=True)
    attributes = _common_attributes(schema) if common else {}
    for data in dumped["attributes"]:
        attributes[data["name"].lower()] = _from_model(data, schema)
    if schema == USER_SCHEMA:
        # RFC 7643 §4.1.1: userName is required and unique; scim2-models leaves it optional.
        attributes["username"] = Attribute(
            "userName", "string", schema, required=True, uniqueness="server"
        )
    if schema == GROUP_SCHEMA:
        # The server refuses a second group of one displayName, any case (409 uniqueness:
        # Microsoft's SCIM Validator, "Create a duplicate Group"), so /Schemas says "server"
        # (RFC 7643 §2.4, §7: uniqueness describes what the service provider enforces).
        attributes["displayname"] = Attribute("displayName", "string", schema, required=True,
                                              uniqueness="server")
    return attributes


@cache
def user_schema() -> ResourceSchema:
    """The User resource type with the enterprise extension (RFC 7643 §4.1, §4.3)."""
    return ResourceSchema(
        name="User",
        endpoint="/Users",
        core=USER_SCHEMA,
        extensions=(ENTERPRISE_USER_SCHEMA,),
        attributes={
            USER_SCHEMA: _attributes_of(User, USER_SCHEMA, common=True),
            ENTERPRISE_USER_SCHEMA: _attributes_of(EnterpriseUser, ENTERPRISE_USER_SCHEMA, common=False),
        },
    )


@cache
def group_schema() -> ResourceSchema:
    """The Group resource type (RFC 7643 §4.2)."""
    return ResourceSchema(
        name="Group",
        endpoint="/Groups",
        core=GROUP_SCHEMA,
        extensions=(),
        attributes={GROUP_SCHEMA: _attributes_of(Group, GROUP_SCHEMA, common=True)},
    )


def resource_schemas() -> tuple[ResourceSchema, ...]:
    """Every resource type scimgate serves, in the order of ``/ResourceTypes``."""
    return (user_schema(), group_schema())
