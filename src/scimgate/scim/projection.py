"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9) applied to a SCIM document.

Names are case-insensitive and may be sub-attributes (``name.givenName``, ``emails.value``) or
URN-qualified (``urn:...:enterprise:2.0:User:department``, or the URN alone for the whole
extension). Attributes whose ``returned`` is ``always`` (``id``, ``schemas``,
``meta.resourceType``) survive any projection; ``never`` ones are never stored (RFC 7643 §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scimgate.scim.errors import InvalidValueException
from scimgate.scim.schema import ResourceSchema

Selector = tuple[str | None, str, str | None]  # (extension URN or None, attribute, sub-attribute)


def _selector(resource: ResourceSchema, name: str) -> Selector:
    urn = resource.canonical_urn(name)
    if urn is not None and urn != resource.core:
        return urn, "*", None
    schema, rest = resource.split_urn_path(name)
    attr_name, _, sub_name = rest.partition(".")
    if attr_name.lower() == "schemas":
        return None, "schemas", None
    attribute = resource.attribute(attr_name, schema)
    if attribute is None:
        raise InvalidValueException(detail=f"Unknown attribute {name!r} in attributes/excludedAttributes.")
    sub = attribute.sub(sub_name) if sub_name else None
    if sub_name and sub is None:
        raise InvalidValueException(detail=f"Unknown sub-attribute {name!r} in attributes/excludedAttributes.")
    return schema, attribute.name, sub.name if sub else None


def _container(body: dict[str, Any], urn: str | None) -> dict[str, Any] | None:
    if urn is None:
        return body
    value = body.get(urn)
    return value if isinstance(value, dict) else None


def _keep_sub(value: Any, sub: str) -> Any:
    if isinstance(value, list):
        kept = [{sub: item[sub]} for item in value if isinstance(item, dict) and sub in item]
        return kept or None
    if isinstance(value, dict) and sub in value:
        return {sub: value[sub]}
    return None


def project(
    body: dict[str, Any],
    resource: ResourceSchema,
    attributes: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """A copy of ``body`` reduced per ``attributes`` (if any) or ``excluded`` (RFC 7644 §3.9).

    Raises InvalidValueException for a name that is not an attribute of ``resource``.
    """
    if attributes:
        out: dict[str, Any] = {"schemas": body.get("schemas"), "id": body.get("id")}
        meta = body.get("meta")
        for name in attributes:
            urn, attr, sub = _selector(resource, name)
            source = _container(body, urn)
            if source is None:
                continue
            if attr == "*":
                out[urn] = source  # type: ignore[index]
                continue
            if attr not in source:
                continue
            value = source[attr] if sub is None else _keep_sub(source[attr], sub)
            if value is None:
                continue
            target = out if urn is None else out.setdefault(urn, {})
            existing = target.get(attr)
            if sub is not None and isinstance(existing, dict) and isinstance(value, dict):
                existing.update(value)
            else:
                target[attr] = value
        if "meta" not in out and isinstance(meta, dict):
            out["meta"] = {"resourceType": meta.get("resourceType")}
        return out
    out = dict(body)
    for name in excluded:
        urn, attr, sub = _selector(resource, name)
        if attr in ("id", "schemas") and urn is None:
            continue
        if attr == "*":
            out.pop(urn, None)  # type: ignore[arg-type]
            continue
        source = _container(out, urn)
        if source is None or attr not in source:
            continue
        if urn is not None:
            source = dict(source)
            out[urn] = source
        if sub is None:
            if attr == "meta":
                source["meta"] = {"resourceType": source["meta"].get("resourceType")}
            else:
                source.pop(attr)
        elif isinstance(source[attr], list):
            source[attr] = [{k: v for k, v in item.items() if k != sub} for item in source[attr]]
        elif isinstance(source[attr], dict):
            source[attr] = {k: v for k, v in source[attr].items() if k != sub}
        if urn is not None and not source:
            out.pop(urn)
    return out


def wants_attribute(resource: ResourceSchema, name: str, attributes: Sequence[str], excluded: Sequence[str]) -> bool:
    """Whether a projection keeps core attribute ``name`` (so computed attributes such as a
    Group's ``members`` need not be loaded at all when it does not)."""
    lowered = name.lower()
    if attributes:
        return any(_selector(resource, a)[1].lower() == lowered for a in attributes)
    return not any(_selector(resource, e)[1].lower() == lowered and _selector(resource, e)[2] is None
                   for e in excluded)
