"""Input documents -> the canonical stored document of a resource, validated against its schema.

The stored document is the resource as the client sent it, with:

- attribute names in the schema's spelling (RFC 7643 §2.1: names are case-insensitive);
- core attributes at the top level and extension attributes nested under their schema URN
  (RFC 7643 §3.3), whether they arrived nested or as flat ``urn:...:attr`` keys;
- readOnly attributes (``id``, ``meta``, ``groups``), ``schemas`` and writeOnly ``password``
  removed: the server owns them or never returns them (RFC 7643 §7, RFC 7644 §3.3, §3.5.1);
- unknown attributes and ``null`` values removed (docs/identity-providers.md §2.2: identity providers
  send both; RFC 7644 §3.3 lets the server ignore what it does not support);
- booleans sent as ``"True"``/``"false"`` strings turned into JSON booleans (Entra, identity-providers.md
§2.4 f);
- the enterprise ``manager`` accepted as a bare id, ``{"value": id}`` or a one-element list,
  and an empty value meaning "no manager" (docs/identity-providers.md §2.4 g).

Every string value keeps exactly the characters that were sent, so an identity provider that
diffs what it reads back against what it wants sees no change (docs/identity-providers.md §2.1).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scimgate.scim.errors import InvalidSyntaxException, InvalidValueException
from scimgate.scim.literals import check_text
from scimgate.scim.quirks import decode_role_element
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, Attribute, ResourceSchema

# Values of one multi-valued attribute kept in a stored document (emails, phoneNumbers, roles, ...).
# A Group's members are rows, not document values, and are not bounded by it.
MAX_VALUES = 500


def parse_boolean(value: Any, label: str) -> bool:
    """A JSON boolean, or the strings ``"true"``/``"false"`` in any case (Entra's legacy form).

    Raises InvalidValueException for anything else (RFC 7644 §3.12 ``invalidValue``).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValueException(
        detail=f"'{label}' must be a boolean (true or false), got {json.dumps(value)}."
    )


def _check_scalar(attribute: Attribute, value: Any, label: str) -> Any:
    kind = attribute.type
    if kind == "boolean":
        return parse_boolean(value, label)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueException(detail=f"'{label}' must be an integer, got {json.dumps(value)}.")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValueException(detail=f"'{label}' must be a number, got {json.dumps(value)}.")
        return value
    if not isinstance(value, str):
        raise InvalidValueException(detail=f"'{label}' must be a string, got {json.dumps(value)}.")
    check_text(value, InvalidValueException, f"value of '{label}'")
    if kind == "dateTime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidValueException(
                detail=f"'{label}' must be an RFC 3339 date-time, got {json.dumps(value)}."
            ) from exc
    return value


def _normalise_manager(value: Any) -> Any:
    """Entra sends manager as a bare id, ``{"value": id}`` or ``[{"value": id}]`` (identity-providers.md
    §2.4 g)."""
    if isinstance(value, list):
        if len(value) > 1:
            raise InvalidValueException(detail="'manager' takes one value, got a list of several.")
        value = value[0] if value else None
    if isinstance(value, str):
        value = {"value": value}
    if isinstance(value, dict) and value.get("value") in ("", None):
        return None
    return value


def _complex(attribute: Attribute, value: Any, label: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"'{label}' must be a complex value (a JSON object).")
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attribute.sub(key)
        if sub is None or sub_value is None or not sub.writable:
            continue
        out[sub.name] = _check_scalar(sub, sub_value, f"{label}.{sub.name}")
    return out or None


def _not_complex_elements(attribute: Attribute, label: str, value: Any) -> str:
    """The refusal of a multi-valued complex attribute whose value (or one of its elements) is
    not a JSON object: names the attribute and the shape it takes (RFC 7643 §2.4: each value of
    a multi-valued complex attribute is a complex value, its sub-attributes in a JSON object)."""
    subs = attribute.sub_attributes
    first = "value" if "value" in subs else next(iter(subs.values())).name
    sent = json.dumps(value)
    sent = sent if len(sent) <= 60 else sent[:57] + "..."
    return (f"'{label}' is a multi-valued complex attribute: it takes a JSON array of objects such as "
            f'[{{"{first}": ...}}], got {sent}.')


def normalise_value(attribute: Attribute, value: Any, label: str | None = None) -> Any:
    """Validate and normalise one attribute value; None means "absent".

    Raises InvalidValueException when the value has the wrong shape or type for ``attribute``.
    """
    label = label or attribute.name
    if value is None:
        return None
    if attribute.schema == ENTERPRISE_USER_SCHEMA and attribute.name == "manager":
        value = _normalise_manager(value)
        if value is None:
            return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        out = []
        seen: set[str] = set()  # serialised elements: duplicates found by hashing, not pairwise
        for item in items:
            if attribute.is_complex:
                item = decode_role_element(item, attribute.name, label)
                if item is not None and not isinstance(item, dict):
                    raise InvalidValueException(detail=_not_complex_elements(attribute, label, value))
                element = None if item is None else _complex(attribute, item, label)
            else:
                element = None if item is None else _check_scalar(attribute, item, label)
            key = json.dumps(element, sort_keys=True)
            if element is not None and key not in seen:
                seen.add(key)
                out.append(element)
        if len(out) > MAX_VALUES and attribute.name != "members":
            raise InvalidValueException(
                detail=f"'{label}' may hold at most {MAX_VALUES} values (got {len(out)})."
            )
        if attribute.is_complex and sum(1 for e in out if e.get("primary") is True) > 1:
            raise InvalidValueException(
                detail=f"At most one value of '{label}' may have primary true (RFC 7643 §2.4)."
            )
        return out or None
    if attribute.is_complex:
        return _complex(attribute, value, label)
    return _check_scalar(attribute, value, label)


def set_attribute(document: dict[str, Any], attribute: Attribute, value: Any,
                  resource: ResourceSchema) -> None:
    """Write an already-normalised value into ``document`` at the attribute's place (None deletes)."""
    target = document
    if attribute.schema != resource.core:
        target = document.setdefault(attribute.schema, {})
    if value is None:
        target.pop(attribute.name, None)
    else:
        target[attribute.name] = value
    if attribute.schema != resource.core and not target:
        document.pop(attribute.schema, None)


CORE_SCHEMA_PREFIX = "urn:ietf:params:scim:schemas:core:2.0:"


def check_schemas(body: dict[str, Any], resource: ResourceSchema) -> None:
    """The body's ``schemas`` (RFC 7643 §3), when sent, is a JSON array of URNs (else 400
    ``invalidSyntax``) and does not name another resource type's core schema instead of this
    one's, e.g. the Group schema in a POST to /Users (else 400 ``invalidValue``). A body without
    ``schemas`` is accepted: the endpoint says what it is."""
    found = [value for key, value in body.items() if isinstance(key, str) and key.lower() == "schemas"]
    schemas = found[0] if found else None
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(urn, str) for urn in schemas):
        raise InvalidSyntaxException(detail="'schemas' must be a JSON array of schema URNs (RFC 7643 §3).")
    named = {urn.lower() for urn in schemas}
    others = sorted(urn for urn in schemas if urn.lower().startswith(CORE_SCHEMA_PREFIX)
                    and urn.lower() != resource.core.lower())
    if others and resource.core.lower() not in named:
        raise InvalidValueException(
            detail=f"'schemas' names {others[0]}, not {resource.core}: this endpoint takes a {resource.name}."
        )


def normalise_document(body: dict[str, Any], resource: ResourceSchema) -> dict[str, Any]:
    """The canonical stored document for a POST or PUT body (see the module docstring).

    Raises InvalidValueException for a wrong type or a missing required attribute
    (RFC 7644 §3.3, §3.12).
    """
    if not isinstance(body, dict):
        raise InvalidValueException(detail="The request body must be a JSON object.")
    check_schemas(body, resource)
    document: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        urn = resource.canonical_urn(key)
        if urn is not None and urn != resource.core:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InvalidValueException(detail=f"'{key}' must be a JSON object of extension attributes.")
            for sub_key, sub_value in value.items():
                attribute = resource.attribute(sub_key, urn)
                if attribute is not None and attribute.writable:
                    set_attribute(document, attribute, normalise_value(attribute, sub_value), resource)
            continue
        schema_urn, name = resource.split_urn_path(key)
        attribute = resource.attribute(name, schema_urn)
        if attribute is None or not attribute.writable or attribute.mutability == "writeOnly":
            continue
        set_attribute(document, attribute, normalise_value(attribute, value), resource)
    check_required(document, resource)
    return document


def missing_required(document: dict[str, Any], resource: ResourceSchema) -> Attribute | None:
    """The first required writable core attribute that is missing or blank in ``document``, or None."""
    for attribute in resource.attributes[resource.core].values():
        if attribute.required and attribute.writable:
            value = document.get(attribute.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                return attribute
    return None


def check_required(document: dict[str, Any], resource: ResourceSchema) -> None:
    """Raise InvalidValueException if a required core attribute is missing or blank: a POST or
    PUT body without it (RFC 7643 §2.2; RFC 7644 §3.12 Table 9 "a required value was missing")."""
    attribute = missing_required(document, resource)
    if attribute is not None:
        raise InvalidValueException(
            detail=f"'{attribute.name}' is required and must not be empty (RFC 7643 §4)."
        )
