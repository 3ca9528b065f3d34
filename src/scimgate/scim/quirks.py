"""Identity-provider dialects of the PatchOp request, normalised to RFC 7644 §3.5.2 form.

Every identity provider writes PATCH a little differently (docs/identity-providers.md
``docs/identity-providers.md`` §2.4, §3, §4, §7). Each difference is handled here by
one small named function whose docstring says where the behaviour was seen; the PATCH engine
(``scimgate.scim.patch``) then only ever sees RFC-form operations::

    {"op": "add" | "replace" | "remove", "path"?: str, "value"?: Any}

``path`` is absent when the operation targets the resource itself, ``value`` is absent when the
request carried none (an explicit JSON ``null`` is kept as ``None``).

The functions here need no schema: anything that depends on attribute definitions (booleans
sent as strings, the manager's three shapes, capitalised attribute names) is resolved by the
engine through ``scimgate.scim.resource``, which calls ``decode_role_element`` below for the
elements of multi-valued complex attributes (Entra's JSON-encoded app roles).

Error choices (RFC 7644 §3.12, Table 9):

- the body is not an object, ``schemas`` is missing or not an array, ``Operations`` is missing
  or not an array, an operation is not an object, ``op`` is missing or not one of
  add/remove/replace, ``path`` is not a string: 400 ``invalidSyntax`` ("the request body
  message structure was invalid or did not conform to the request schema");
- ``Operations`` is an empty array: 400 ``invalidValue`` (RFC 7644 §3.5.2 "one or more"; the
  docs/identity-providers.md §2.5 and scimmy#59 report the Microsoft validator sending one);
- an add or replace without a ``value`` member: 400 ``invalidValue`` ("a required value was
  missing"), as is a remove whose ``value`` cannot be read as a list of values to remove.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scimgate.scim.errors import InvalidSyntaxException, InvalidValueException
from scimgate.scim.literals import check_text

OPS = ("add", "replace", "remove")

_ATTR_NAME = re.compile(r"\$?[A-Za-z][A-Za-z0-9$_-]*")

MAX_OPERATIONS = 200  # each operation walks its attribute's values: bounds one request's work

MAX_ENCODED_CHARS = 4096
"""Longest JSON-encoded element decoded (an app role description is a few hundred characters)."""
MAX_ENCODED_DEPTH = 4
"""Deepest nesting kept from a JSON-encoded element (an app role description is one flat object)."""


def normalise_patch_request(body: Any) -> list[dict[str, Any]]:
    """PatchOp body (any identity-provider dialect) -> list of RFC-form operations.

    Accepts the ``Operations`` key in any case (C39) and ``op`` in any case (C04); requires a
    ``schemas`` array but not the PatchOp URN in it (see ``check_schemas``); expands Entra's
    path-less value objects into one operation per attribute (C01, C14, docs/identity-providers.md §2.4 c) and
    Entra's ``remove`` with a value list into filtered removes (docs/identity-providers.md §3). Raises
    InvalidSyntaxException / InvalidValueException as described in the module docstring.
    """
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="The PATCH body must be a JSON object (RFC 7644 §3.5.2).")
    check_schemas(body)
    raw_operations = find_operations(body)
    operations: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_operations):
        operation = read_operation(raw, index)
        for expanded in expand_pathless_value(operation):
            operations.extend(remove_value_list_to_filters(expanded))
    return operations


def check_schemas(body: dict[str, Any]) -> None:
    """A PatchOp body has a ``schemas`` array (RFC 7644 §3.5.2); its content is not checked.

    Missing or not an array of strings -> 400 invalidSyntax: case C39 lists "schemas missing"
    among the bodies that must be refused, and no identity provider in docs/identity-providers.md omits
    it. An array that does not name ``urn:ietf:params:scim:api:messages:2.0:PatchOp`` is
    accepted: clients announce odd URNs (OneLogin sends SCIM 1.0 URNs, docs/identity-providers.md §9) and the
    ``Operations`` array says what the body is.
    """
    keys = [key for key in body if isinstance(key, str) and key.lower() == "schemas"]
    schemas = body[keys[0]] if len(keys) == 1 else None
    if not isinstance(schemas, list) or not all(isinstance(urn, str) for urn in schemas):
        raise InvalidSyntaxException(
            detail="The PATCH body needs a 'schemas' array naming "
            "urn:ietf:params:scim:api:messages:2.0:PatchOp (RFC 7644 §3.5.2)."
        )


def find_operations(body: dict[str, Any]) -> list[Any]:
    """The ``Operations`` array, whatever the case of its key.

    RFC 7644 §3.5.2 spells it ``Operations``; WSO2 users reported clients sending
    ``operations`` (case C39, wso2/product-is#19409), and RFC 7643 §2.1 makes attribute names
    case-insensitive. Missing or not an array -> invalidSyntax; empty -> invalidValue.
    """
    keys = [key for key in body if isinstance(key, str) and key.lower() == "operations"]
    if not keys:
        raise InvalidSyntaxException(detail="The PATCH body has no 'Operations' array (RFC 7644 §3.5.2).")
    if len(keys) > 1:
        raise InvalidSyntaxException(detail="The PATCH body has more than one 'Operations' member.")
    operations = body[keys[0]]
    if not isinstance(operations, list):
        raise InvalidSyntaxException(detail="'Operations' must be a JSON array (RFC 7644 §3.5.2).")
    if not operations:
        raise InvalidValueException(detail="'Operations' must hold one or more operations (RFC 7644 §3.5.2).")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidValueException(
            detail=f"A PATCH may hold at most {MAX_OPERATIONS} operations; send the rest in another request.")
    return operations


def read_operation(raw: Any, index: int) -> dict[str, Any]:
    """One operation object in RFC form: ``op`` lower-cased, ``path`` trimmed or absent.

    Entra without ``aadOptscim062020`` writes ``Add``/``Replace``/``Remove`` and Microsoft asks
    servers to match ``op`` case-insensitively (identity-providers.md §2.4, §4 row 5; case C04). Keys of the
    operation object are matched case-insensitively too (RFC 7643 §2.1). An empty or blank
    ``path`` is read as no path. Unknown members of the operation object are ignored.
    """
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSyntaxException(detail=f"{where} must be a JSON object (RFC 7644 §3.5.2).")
    members = {key.lower(): key for key in raw if isinstance(key, str)}
    op = raw.get(members.get("op", "op"))
    if not isinstance(op, str) or op.strip().lower() not in OPS:
        raise InvalidSyntaxException(
            detail=f"{where}.op must be 'add', 'remove' or 'replace', got {json.dumps(op)} (RFC 7644 §3.5.2)."
        )
    operation: dict[str, Any] = {"op": op.strip().lower()}
    if "path" in members:
        path = raw[members["path"]]
        if path is not None and not isinstance(path, str):
            raise InvalidSyntaxException(detail=f"{where}.path must be a string (RFC 7644 §3.5.2).")
        if path and path.strip():
            operation["path"] = path.strip()
    if "value" in members:
        operation["value"] = raw[members["value"]]
    if operation["op"] in ("add", "replace") and "value" not in operation:
        raise InvalidValueException(
            detail=f"{where}: an '{operation['op']}' operation needs a 'value' (RFC 7644 §3.5.2.1, §3.5.2.3)."
        )
    return operation


def expand_pathless_value(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """A path-less add/replace becomes one operation per key of its value object.

    RFC 7644 §3.5.2.1/§3.5.2.3: with no path the value holds the attributes to add or replace,
    which is the same as one operation per attribute with that attribute as path. Each key is
    used as the path, so the dialects below resolve like any path:

    - plain and capitalised names, ``{"active": false}`` (Okta deactivation, identity-providers.md §7, C14);
    - Entra ``aadOptscim062020`` flat keys ``"name.givenName"`` and
      ``"urn:...:enterprise:2.0:User:department"`` (docs/identity-providers.md §2.4 c, §4 row 3, C01);
    - the RFC form ``"urn:...:enterprise:2.0:User": {...}`` (a schema URN as path targets the
      extension object, RFC 7644 §3.10);
    - Okta's ``{"id": "<gid>", "displayName": ...}`` group rename (docs/identity-providers.md §7): the engine
      ignores ``id`` when it equals the resource's id.

    ``schemas`` is dropped (the stored document derives it). A value that is not an object is
    invalidValue. Operations with a path, and removes, pass through unchanged.
    """
    if operation["op"] == "remove" or "path" in operation:
        return [operation]
    value = operation.get("value")
    if not isinstance(value, dict):
        raise InvalidValueException(
            detail=f"A path-less '{operation['op']}' needs a JSON object of attributes as its value "
            "(RFC 7644 §3.5.2.1, §3.5.2.3)."
        )
    expanded = []
    for key, item in value.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        if not key.strip():
            raise InvalidValueException(detail="A path-less value object has an empty attribute name.")
        expanded.append({"op": operation["op"], "path": key.strip(), "value": item})
    return expanded


def remove_value_list_to_filters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Entra's ``Remove`` with a path and a ``value`` list -> one filtered remove per listed value.

    Entra without ``aadOptscim062020`` removes group members with
    ``{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`` (docs/identity-providers.md §3, §4 row 4;
    MS-COMPAT); JumpCloud does the same (docs/identity-providers.md §9). Read literally (RFC 7644 §3.5.2.2) it
    would empty the whole list, so it is read as "remove only these values", which is the RFC
    form ``members[value eq "<id>"]``.

    Each listed element is an object (its non-null scalar sub-attributes, joined by ``and``,
    select what to remove) or a bare scalar (its ``value``). For ``members`` only ``value``
    is used: it is the member's identity, ``display``/``$ref``/``type`` are descriptive.
    An empty list removes nothing. A remove whose path already has a filter keeps its path and
    loses the value: the path alone names the target (RFC 7644 §3.5.2.2).
    """
    if operation["op"] != "remove":
        return [operation]
    if operation.get("value") is None:
        return [{key: item for key, item in operation.items() if key != "value"}]
    path = operation.get("path")
    if path is None:
        return [{"op": "remove"}]  # the engine answers noTarget (RFC 7644 §3.5.2.2)
    if "[" in path:
        return [{"op": "remove", "path": path}]
    value = operation["value"]
    entries = value if isinstance(value, list) else [value]
    is_members = path.lower().rsplit(":", 1)[-1] == "members"
    out = []
    for entry in entries:
        if entry is None:
            continue
        if not isinstance(entry, dict):
            entry = {"value": entry}
        terms = []
        for key, item in entry.items():
            if item is None or (is_members and str(key).lower() != "value"):
                continue
            if not isinstance(key, str) or not _ATTR_NAME.fullmatch(key):
                raise InvalidValueException(
                    detail=f"'{key}' in the value of a remove is not an attribute name."
                )
            if isinstance(item, dict | list):
                raise InvalidValueException(
                    detail=f"'{key}' in the value of a remove must be a single value, not {json.dumps(item)}."
                )
            terms.append(f"{key} eq {json.dumps(item)}")
        if not terms:
            raise InvalidValueException(
                detail=f"Each value of a remove on '{path}' must name what to remove, "
                'e.g. {"value": "..."}.'
            )
        out.append({"op": "remove", "path": f"{path}[{' and '.join(terms)}]"})
    return out


def decode_json_text(text: str, label: str) -> Any:
    """A JSON-encoded element decoded under the request body's input rules, or ``text`` itself
    when it is not JSON.

    What the second parse yields passes the same rules as the body (``scim.literals``): no NUL,
    no lone surrogate, at most ``MAX_ENCODED_DEPTH`` levels, at most ``MAX_ENCODED_CHARS``
    characters of encoded text; otherwise 400 ``invalidValue`` naming ``label`` (RFC 7644 §3.12).
    """
    if len(text) > MAX_ENCODED_CHARS:
        raise InvalidValueException(
            detail=f"'{label}' holds a JSON-encoded value longer than {MAX_ENCODED_CHARS} characters.")
    try:
        decoded = json.loads(text)
    except RecursionError as exc:
        raise InvalidValueException(
            detail=f"'{label}' holds a JSON-encoded value nested too deeply.") from exc
    except ValueError:
        return text
    _check_decoded(decoded, label, 0)
    return decoded


def _check_decoded(value: Any, label: str, depth: int) -> None:
    if depth > MAX_ENCODED_DEPTH:
        raise InvalidValueException(
            detail=f"'{label}' holds a JSON-encoded value nested deeper than {MAX_ENCODED_DEPTH} levels.")
    if isinstance(value, str):
        check_text(value, InvalidValueException, f"JSON-encoded value of '{label}'")
    elif isinstance(value, list):
        for item in value:
            _check_decoded(item, label, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_decoded(key, label, depth + 1)
            _check_decoded(item, label, depth + 1)


def _member(element: dict[str, Any], name: str) -> str | None:
    """The key of ``element`` spelling ``name`` in any case (RFC 7643 §2.1), or None."""
    return next((key for key in element if isinstance(key, str) and key.lower() == name), None)


def decode_role_element(item: Any, attribute_name: str, label: str) -> Any:
    """One element of a multi-valued complex attribute in RFC form, from Entra's encoded shapes.

    Microsoft Entra ID sends app role assignments (attribute-mapping documentation, "Provisioning
    a role to a SCIM app"; expressions ``SingleAppRoleAssignment`` and
    ``AppRoleAssignmentsComplex``) in three shapes:

    - an object ``{"value": "Admin", "display": ..., "type": ..., "primary": ...}``: RFC form,
      returned unchanged;
    - the whole element as a JSON string ``"{\"id\":..., \"value\":\"Admin\",
      \"displayName\":\"Admin\"}"`` (PATCH ``add`` on ``roles``): decoded into an object;
    - an object whose ``value`` is that JSON string (``roles`` only): the role's own ``value``
      is stored, the outer element's ``display``/``type``/``primary`` are kept.

    Okta sends a ``roles`` attribute mapped from a string array as plain strings (``["editor"]``):
    each becomes ``{"value": "editor"}``. Other attributes take objects only.

    In both decoded shapes the role's ``displayName`` becomes ``display`` when the element has
    none, and the app role's ``id`` (no SCIM sub-attribute) is dropped. Decoding follows
    ``decode_json_text``'s input rules. A JSON-encoded ``value`` that is not an object with a
    string ``value`` is 400 ``invalidValue``.
    """
    if isinstance(item, str) and item.lstrip().startswith("{"):
        decoded = decode_json_text(item, label)
        return _app_role({}, decoded) if isinstance(decoded, dict) else item
    if isinstance(item, str) and attribute_name.lower() == "roles":
        return {"value": item}
    if not isinstance(item, dict) or attribute_name.lower() != "roles":
        return item
    key = _member(item, "value")
    inner = item.get(key) if key is not None else None
    if not isinstance(inner, str) or not inner.lstrip().startswith("{"):
        return item
    decoded = decode_json_text(inner, f"{label}.value")
    if decoded is inner:
        return item
    role_value = decoded.get(_member(decoded, "value") or "value") if isinstance(decoded, dict) else None
    if not isinstance(role_value, str):
        raise InvalidValueException(
            detail=f"'{label}.value' is a JSON-encoded app role without a string 'value'.")
    return _app_role({k: v for k, v in item.items() if k != key}, decoded)


def _app_role(outer: dict[str, Any], role: dict[str, Any]) -> dict[str, Any]:
    """``outer`` (the element's own members) completed from the decoded app role ``role``."""
    element = dict(outer)
    for name, item in role.items():
        if not isinstance(name, str) or _member(element, name.lower()) is not None:
            continue
        if name.lower() == "displayname":
            if _member(element, "display") is None and _member(role, "display") is None:
                element["display"] = item
        else:
            element[name] = item
    return element
