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
        raise InvalidValueException(
            detail=f"Unknown attribute {name!r} in attributes/excludedAttributes.")
    sub = attribute.sub(sub_name) if sub_name else None
    if sub_name and sub is None:
        raise InvalidValueException(
            detail=f"Unknown sub-attribute {name!r} in attributes/excludedAttributes.")
    return schema, attribute.name, sub.name if sub else None


def known_names(resource: ResourceSchema, names: Sequence[str]) -> tuple[str, ...]:
    """Those of ``names`` that are attributes of ``resource`` (searches across resource types
    ignore, for one type, the names only another type has: RFC 7644 §3.4.3)."""
    known = []
    for name in names:
        try:
            _selector(resource, name)
        except InvalidValueException:
            continue
        known.append(name)
    return tuple(known)


def _container(body: dict[str, Any], urn: str | None) -> dict[str, Any] | None:
    if urn is None:
        return body
    value = body.get(urn)
    return value if isinstance(value, dict) else None


def _only_subs(value: Any, subs: set[str]) -> Any:
    """A complex value (or each element of a multi-valued one) cut down to ``subs``; None if
    nothing is left."""
    if isinstance(value, list):
        kept = [cut for item in value if isinstance(item, dict) and (cut := _only_subs(item, subs))]
        return kept or None
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key in subs} or None
    return None


def _without_subs(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        return [_without_subs(item, subs) for item in value]
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key not in subs}
    return value


def _always(body: dict[str, Any]) -> dict[str, Any]:
    """What every projection keeps: ``schemas``, ``id``, ``meta.resourceType`` (RFC 7643 §7)."""
    out: dict[str, Any] = {"schemas": body.get("schemas"), "id": body.get("id")}
    meta = body.get("meta")
    if isinstance(meta, dict) and "resourceType" in meta:
        out["meta"] = {"resourceType": meta["resourceType"]}
    return out


def _selected(resource: ResourceSchema,
              names: Sequence[str]) -> dict[tuple[str | None, str], set[str] | None]:
    """(extension URN or None, attribute) -> the sub-attributes named, or None for all of it."""
    selected: dict[tuple[str | None, str], set[str] | None] = {}
    for name in names:
        urn, attr, sub = _selector(resource, name)
        key = (urn, attr)
        if sub is None or (key in selected and selected[key] is None):
            selected[key] = None
        else:
            selected.setdefault(key, set()).add(sub)  # type: ignore[union-attr]
    return selected


def _request_only(resource: ResourceSchema) -> list[tuple[str | None, str]]:
    """Attributes whose ``returned`` is ``request``: only returned when named (RFC 7643 §7)."""
    return [(None if urn == resource.core else urn, attribute.name)
            for urn, attributes in resource.attributes.items()
            for attribute in attributes.values() if attribute.returned == "request"]


def project(
    body: dict[str, Any],
    resource: ResourceSchema,
    attributes: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """A copy of ``body`` reduced per ``attributes`` (if any) or ``excluded`` (RFC 7644 §3.9).

    ``attributes`` keeps the named attributes (sub-attributes of complex and multi-valued ones
    merged) plus the always-returned ones; ``excluded`` removes the named ones except those, and
    ``returned: request`` attributes appear only when named in ``attributes``.
    Raises InvalidValueException for a name that is not an attribute of ``resource``.
    """
    if attributes:
        out = _always(body)
        for (urn, attr), subs in _selected(resource, attributes).items():
            source = _container(body, urn)
            if attr == "*":
                if source is not None:
                    out[urn] = source  # type: ignore[index]
                continue
            if source is None or attr not in source or attr == "schemas":
                continue
            value = source[attr] if subs is None else _only_subs(source[attr], subs)
            if attr == "meta" and isinstance(value, dict):
                value = {**out.get("meta", {}), **value}
            if value is not None:
                (out if urn is None else out.setdefault(urn, {}))[attr] = value
        return out
    out = dict(body)
    removals = _selected(resource, excluded)
    for key in _request_only(resource):
        removals.setdefault(key, None)
    kept = _always(body)
    for (urn, attr), subs in removals.items():
        if urn is None and attr in ("id", "schemas"):
            continue
        if attr == "*":
            out.pop(urn, None)  # type: ignore[arg-type]
            continue
        source = _container(out, urn)
        if source is None or attr not in source:
            continue
        source = dict(source)
        if subs is None:
            source.pop(attr)
        else:
            source[attr] = _without_subs(source[attr], subs)
        if urn is None and attr == "meta" and "meta" in kept:
            source["meta"] = {**source.get("meta", {}), **kept["meta"]}
        if urn is None:
            out = source
        elif source:
            out[urn] = source
        else:
            out.pop(urn)
    return out


def wants_attribute(resource: ResourceSchema, name: str, attributes: Sequence[str],
                    excluded: Sequence[str]) -> bool:
    """Whether a projection keeps core attribute ``name`` (so computed attributes such as a
    Group's ``members`` need not be loaded at all when it does not)."""
    lowered = name.lower()
    if attributes:
        return any(_selector(resource, a)[1].lower() == lowered for a in attributes)
    return not any(_selector(resource, e)[1].lower() == lowered and _selector(resource, e)[2] is None
                   for e in excluded)
