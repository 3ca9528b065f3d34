"""The RFC 7644 §3.5.2 PATCH engine: RFC-form operations applied to a stored document.

Pure: no database, no HTTP. The input is the canonical stored document (as
``scimgate.scim.resource.normalise_document`` makes it) and the operations
``scimgate.scim.quirks.normalise_patch_request`` returns; the output is the new stored document,
the group-membership plan, and whether anything changed. Everything applies to a deep copy and
is validated after the last operation, so a failing request changes nothing (RFC 7644 §3.5.2:
"each operation ... MUST be applied ... if any fails, the whole request fails").

Paths are parsed by scim2-models (``scim2_models.Path``) into its typed tree::

    PATH = attrPath / valuePath [subAttr]           ; RFC 7644 §3.5.2, errata 7122
    attrPath  = [URI ":"] ATTRNAME *1subAttr
    valuePath = attrPath "[" valFilter "]"

and value filters are evaluated in memory against each element (``_matches``): strings compare
case-insensitively unless the sub-attribute is caseExact (RFC 7644 §3.4.2.2), booleans accept
``"True"``/``"false"`` strings (Entra's ``roles[primary eq "True"]``, docs/identity-providers.md §2.4 e).

Deliberate choices (also in ``docs/decisions.md``, section "PATCH engine"):

- add through a value path that matches nothing CREATES the element the filter describes
  (``and``-joined ``eq`` comparisons; validator "Add Attributes", case C06). replace does the
  same with ``replace_unmatched="create"`` (Entra relies on it, docs/identity-providers.md §2.4 e) and answers
  400 ``noTarget`` with ``replace_unmatched="noTarget"`` (RFC 7644 §3.5.2.3, case C05); the
  service picks per workspace. A filter that describes no element (``co``, ``or``, ``not``,
  ``pr``...) with no match is always ``noTarget``; remove with no match is a no-op.
- replace of a complex attribute merges the given sub-attributes (RFC 7644 §3.5.2.3, case C40);
  the enterprise ``manager`` is a reference and is replaced whole (a new ``value`` with a stale
  ``$ref`` would be wrong).
- Group ``members`` never enter the document: their operations become a ``MemberPlan``.
- ``password`` (writeOnly, never stored) and ``schemas`` (derived) are accepted and ignored.
- readOnly attributes: ``id`` equal to the resource id is ignored (Okta echoes it); anything else
  on ``id``, ``meta``, ``groups`` or a readOnly sub-attribute is 400 ``mutability``.
- an extension attribute named without its URN resolves when exactly one extension has it
  and the core schema does not.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from scim2_models import Path
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from scimgate.scim.errors import (
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    MutabilityException,
    NoTargetException,
    ScimError,
)
from scimgate.scim.literals import check_literals
from scimgate.scim.quirks import expand_pathless_value, remove_value_list_to_filters
from scimgate.scim.resource import (
    missing_required,
    normalise_document,
    normalise_value,
    parse_boolean,
    set_attribute,
)
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Attribute, ResourceSchema

__all__ = ["MemberPlan", "PatchResult", "apply_patch"]

_MEMBER_TYPES = {"user": "User", "group": "Group"}


@dataclass
class MemberPlan:
    """Group membership changes, applied by the storage layer as SQL set operations.

    The operations of the request are folded, in request order, into this normal form; the
    storage layer applies it as::

        if clear:  delete every member of the group
        delete the members whose id is in ``remove``
        insert the members of ``add`` that are not members yet

    ``add`` and ``remove`` never share an id, so the last two steps commute, and the final set
    is the one the operations give when applied one by one: an add after a clear or a remove
    lands in ``add`` (and leaves ``remove``), a remove after an add leaves ``add`` (and, when
    there was no clear, lands in ``remove``), a clear empties both. So "add X then remove X"
    leaves X absent, "remove X then add X" leaves X present, "replace members" is clear + add.

    ``add`` holds ``{"value": id, "type": "User" | "Group" | None, "display": str | None}``, one
    per id, in first-request order. The engine does not know the current members: adding an
    existing member or removing a non-member must be a no-op in storage (RFC 7644 §3.5.2.1),
    and unknown ids must be checked there (400 invalidValue or 404, case C09).
    """

    clear: bool = False
    add: list[dict[str, Any]] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    # While the operations are folded: ``add`` by id and ``remove`` as an ordered set, so that
    # each value costs O(1) and a request of N member values O(N) (a list scan per value made
    # 20,000 ids take seconds); ``_finish`` writes them back to ``add`` and ``remove``.
    _added: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _removed: dict[str, None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._added = {member["value"]: member for member in self.add}
        self._removed = dict.fromkeys(self.remove)

    @property
    def empty(self) -> bool:
        """True when the plan changes nothing whatever the current members are."""
        return not (self.clear or self.add or self.remove)

    def _clear(self) -> None:
        self.clear = True
        self._added.clear()
        self._removed.clear()

    def _add(self, member: dict[str, Any]) -> None:
        self._removed.pop(member["value"], None)
        existing = self._added.get(member["value"])
        if existing is None:
            self._added[member["value"]] = member
            return
        for key in ("type", "display"):
            if member[key] is not None:
                existing[key] = member[key]

    def _remove(self, member_id: str) -> None:
        self._added.pop(member_id, None)
        if not self.clear:
            self._removed[member_id] = None

    def _finish(self) -> None:
        self.add = list(self._added.values())
        self.remove = list(self._removed)


@dataclass
class PatchResult:
    """What a PATCH request does.

    ``document`` is the new stored document, canonical (``normalise_document(document) ==
    document``); ``members`` is the membership plan when the request had Group ``members``
    operations, else None; ``changed`` is False when the document is unchanged and the member
    plan is absent or empty, in which case the version must not bump (RFC 7644 §3.5.2.1). A
    non-empty plan counts as a change even when storage finds every add already present: the
    storage layer should decide the version bump from the rows it really changed (case C09).
    """

    document: dict[str, Any]
    members: MemberPlan | None
    changed: bool


@dataclass(frozen=True)
class _Target:
    """Where one operation writes: an attribute, or a whole extension object (``attribute`` None)."""

    text: str
    attribute: Attribute | None
    sub: Attribute | None = None
    filter: FilterNode | None = None
    extension: str | None = None


def apply_patch(
    document: dict[str, Any],
    operations: list[dict[str, Any]],
    resource: ResourceSchema,
    *,
    resource_id: str,
    replace_unmatched: Literal["create", "noTarget"] = "create",
) -> PatchResult:
    """Apply RFC-form operations to a deep copy of ``document`` and validate the result.

    ``operations`` are what ``quirks.normalise_patch_request`` returns (path-less values and
    remove-with-value are also accepted here, through the same quirk functions). The resource
    is validated after ALL operations (required attributes, at most one primary per
    multi-valued attribute, canonical form), so an intermediate state may be invalid.
    Raises SCIMException subclasses (invalidPath, invalidFilter, invalidValue, mutability,
    noTarget); never mutates ``document``.

    ``replace_unmatched`` says what a ``replace`` through a value filter matching nothing does:
    ``"create"`` (default, Entra compatibility: create the element the filter describes) or
    ``"noTarget"`` (the strict RFC 7644 §3.5.2.3 "SHALL" answer, 400 noTarget). An ``add`` with
    no match creates the element in both modes (RFC 7644 §3.5.2.1 does not forbid it; case C06).
    """
    engine = _Engine(copy.deepcopy(document), resource, resource_id, replace_unmatched)
    for operation in operations:
        for step in expand_pathless_value(dict(operation)):
            for rfc_step in remove_value_list_to_filters(step):
                engine.apply(rfc_step)
    result = engine.document
    _check_primaries(result, resource)
    _check_required_kept(result, resource)
    final = normalise_document(result, resource)
    members = engine.members
    if members is not None:
        members._finish()
    changed = final != document or (members is not None and not members.empty)
    return PatchResult(document=final, members=members, changed=changed)


ENTRA_SWITCH_HINT = ("Microsoft Entra ID expects such a replace to add the value: turn on \"Entra "
                     "compatibility\" in the admin pages' Security settings (or run scimgate workspace "
                     "entra-compat <workspace> on).")


class _Engine:
    """Applies one operation at a time to ``document`` (already a private copy)."""

    def __init__(
        self,
        document: dict[str, Any],
        resource: ResourceSchema,
        resource_id: str,
        replace_unmatched: str = "create",
    ):
        self.document = document
        self.resource = resource
        self.resource_id = resource_id
        self.replace_unmatched = replace_unmatched
        self.members: MemberPlan | None = None

    # -- dispatch -------------------------------------------------------------------------

    def apply(self, operation: dict[str, Any]) -> None:
        op = operation["op"]
        path = operation.get("path")
        if path is None:
            # Only a remove can still be path-less here (the quirks expand add/replace).
            raise NoTargetException(detail="A 'remove' operation needs a path (RFC 7644 §3.5.2.2).")
        has_value = "value" in operation
        value = operation.get("value")
        if op in ("add", "replace") and not has_value:
            raise InvalidValueException(detail=f"An '{op}' operation needs a 'value' (RFC 7644 §3.5.2).")
        if path.strip().lower() == "schemas":
            return  # derived from the document, never stored: accepted and ignored
        target = self._resolve(path)
        if target.attribute is None:
            self._extension(op, target, value)
            return
        attribute = target.attribute
        if attribute.mutability == "writeOnly":
            return  # password: never stored nor returned (RFC 7643 §7), accepted and ignored
        if attribute.schema == GROUP_SCHEMA and attribute.name == "members":
            self._members(op, target, value)
            return
        if self._read_only(op, target, value):
            return
        if op == "add" and value is None:
            return  # add of null adds nothing (RFC 7644 §3.5.2.1 defines no null add)
        if attribute.multi_valued:
            self._multi(op, target, value)
        elif attribute.is_complex:
            self._complex(op, target, value)
        else:
            self._simple(op, target, value)

    # -- path resolution ------------------------------------------------------------------

    def _resolve(self, text: str) -> _Target:
        """Parse ``text`` and bind it to the schema; unknown names are invalidPath (fail closed)."""
        try:
            node = Path(text).ast
        except InvalidPathException as exc:
            raise InvalidPathException(
                detail=f"'{text}' is not a valid attribute path: {exc.detail}"
            ) from exc
        if node is None:
            raise InvalidPathException(detail="The path is empty.")
        check_literals(node, InvalidPathException, "path")
        node = _as_value_path(node)
        if isinstance(node, ValuePath):
            attr_path, value_filter, sub_name = node.attr_path, node.val_filter, node.sub_attr
            if attr_path.sub_attr is not None:
                raise InvalidPathException(
                    detail=f"'{text}': a value filter applies to an attribute, not to a sub-attribute."
                )
        else:
            attr_path, value_filter, sub_name = node, None, node.sub_attr
        schema = self.resource.core
        if attr_path.uri is not None:
            whole = self.resource.canonical_urn(f"{attr_path.uri}:{attr_path.attr}")
            if whole is not None and whole != self.resource.core and value_filter is None and not sub_name:
                return _Target(text, None, extension=whole)
            known = self.resource.canonical_urn(attr_path.uri)
            if known is None:
                raise InvalidPathException(
                    detail=f"'{text}': '{attr_path.uri}' is not a schema of {self.resource.name} resources."
                )
            schema = known
        attribute = self._attribute(attr_path.attr, schema, explicit=attr_path.uri is not None)
        if attribute is None:
            raise InvalidPathException(
                detail=f"'{text}': '{attr_path.attr}' is not an attribute of {self.resource.name} resources."
            )
        sub = None
        if sub_name:
            sub = attribute.sub(sub_name) if attribute.is_complex else None
            if sub is None:
                raise InvalidPathException(
                    detail=f"'{text}': '{sub_name}' is not a sub-attribute of '{attribute.name}'."
                )
        return _Target(text, attribute, sub, value_filter)

    def _attribute(self, name: str, schema: str, *, explicit: bool) -> Attribute | None:
        attribute = self.resource.attribute(name, schema)
        if attribute is not None or explicit:
            return attribute
        found = [
            self.resource.attribute(name, urn)
            for urn in self.resource.extensions
            if self.resource.attribute(name, urn) is not None
        ]
        return found[0] if len(found) == 1 else None

    # -- readOnly / immutable -------------------------------------------------------------

    def _read_only(self, op: str, target: _Target, value: Any) -> bool:
        """True when the operation is an ignorable echo; raises mutability when it writes readOnly.

        RFC 7643 §7: readOnly attributes "SHALL NOT be modified"; RFC 7644 §3.5.2 and Table 9
        answer 400 ``mutability``. Okta echoes ``id`` inside path-less values (identity-providers.md §7), so
        a write of the current id is ignored.
        """
        attribute = target.attribute
        assert attribute is not None
        read_only = attribute.mutability == "readOnly" or (
            target.sub is not None and target.sub.mutability == "readOnly"
        )
        if not read_only:
            return False
        if (
            attribute.name == "id"
            and attribute.schema == self.resource.core
            and op != "remove"
            and target.sub is None
            and target.filter is None
            and value == self.resource_id
        ):
            return True
        raise MutabilityException(
            detail=f"'{target.text}' is read-only and cannot be changed (RFC 7643 §7, RFC 7644 §3.5.2)."
        )

    # -- containers -----------------------------------------------------------------------

    def _get(self, attribute: Attribute) -> Any:
        container = self.document
        if attribute.schema != self.resource.core:
            container = self.document.get(attribute.schema) or {}
        return container.get(attribute.name)

    def _put(self, attribute: Attribute, value: Any) -> None:
        if value in ({}, []):
            value = None
        set_attribute(self.document, attribute, value, self.resource)

    # -- whole extension ------------------------------------------------------------------

    def _extension(self, op: str, target: _Target, value: Any) -> None:
        """A schema URN as path: the extension object (RFC 7644 §3.10)."""
        urn = target.extension
        assert urn is not None
        if op == "remove":
            self.document.pop(urn, None)
            return
        if value is None:
            if op == "replace":
                self.document.pop(urn, None)
            return
        if not isinstance(value, dict):
            raise InvalidValueException(
                detail=f"The value for '{urn}' must be a JSON object of its attributes."
            )
        for key, item in value.items():
            if not isinstance(key, str) or key.lower() == "schemas":
                continue
            self.apply({"op": op, "path": f"{urn}:{key}", "value": item})

    # -- simple single-valued -------------------------------------------------------------

    def _simple(self, op: str, target: _Target, value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        if target.filter is not None:
            # Only a remove naming the current value, as Entra's remove-with-value reads
            # (quirks.remove_value_list_to_filters), can select a simple value: 'title[value eq "x"]'.
            if op != "remove":
                raise InvalidPathException(
                    detail=f"'{target.text}': '{attribute.name}' has no sub-attributes to filter on."
                )
            holder = Attribute(
                attribute.name,
                "complex",
                attribute.schema,
                sub_attributes={"value": replace(attribute, name="value")},
            )
            current = self._get(attribute)
            if current is not None and _matches(target.filter, {"value": current}, holder):
                self._put(attribute, None)
            return
        if op == "remove":
            self._put(attribute, None)
            return
        self._put(attribute, normalise_value(attribute, value, target.text))

    # -- complex single-valued (name, manager) -------------------------------------------

    def _complex(self, op: str, target: _Target, value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        current = self._get(attribute)
        if target.filter is not None:
            # A filter on a single complex value selects it or not (remove only).
            if op != "remove":
                raise InvalidPathException(
                    detail=f"'{target.text}': '{attribute.name}' is single-valued; "
                    "a value filter can only select it for removal."
                )
            if isinstance(current, dict) and _matches(target.filter, current, attribute):
                self._put(attribute, _without(current, target.sub) if target.sub else None)
            return
        if target.sub is not None:
            # The manager's id is its identity: writing or removing manager.value replaces the
            # whole reference (a kept $ref would point at the previous manager).
            identity = _is_reference(attribute) and target.sub.name == "value"
            if op == "remove":
                self._put(attribute, None if identity else _without(current or {}, target.sub))
                return
            element = _coerce_sub(attribute, target.sub, value, target.text)
            if element is None:
                # manager.value "" clears the manager (docs/identity-providers.md §2.4 g)
                self._put(
                    attribute, None if _is_reference(attribute) else _without(current or {}, target.sub)
                )
                return
            self._put(attribute, element if identity else {**(current or {}), **element})
            return
        if op == "remove":
            self._put(attribute, None)
            return
        if _is_reference(attribute):
            self._put(attribute, normalise_value(attribute, value, target.text))
            return
        if value is None:  # replace with null clears
            self._put(attribute, None)
            return
        self._put(attribute, _merge(attribute, current, value, target.text))

    # -- multi-valued ---------------------------------------------------------------------

    def _multi(self, op: str, target: _Target, value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        current: list[Any] = list(self._get(attribute) or [])
        if target.filter is None and target.sub is None:
            self._multi_whole(op, target, current, value)
            return
        if not attribute.is_complex:  # pragma: no cover - every multi-valued attribute we serve is complex
            raise InvalidPathException(detail=f"'{target.text}' selects into a list of simple values.")
        if target.filter is not None:
            selected = [i for i, element in enumerate(current) if _matches(target.filter, element, attribute)]
        else:
            selected = list(range(len(current)))  # 'emails.type': every element (RFC 7644 §3.5.2)
        written: list[dict[str, Any]] = []
        if op == "remove" or value is None:  # replace with null clears the target like a remove
            if target.sub is None:
                current = [element for i, element in enumerate(current) if i not in selected]
            else:
                for i in selected:
                    current[i] = _without(current[i], target.sub)
                current = [e for i, e in enumerate(current) if i not in selected or _meaningful(e)]
            self._put(attribute, current)
            return
        if not selected:
            if op == "replace" and target.filter is not None and self.replace_unmatched == "noTarget":
                raise NoTargetException(detail=f"'{target.text}' matches no value (RFC 7644 §3.5.2.3). "
                                        f"{ENTRA_SWITCH_HINT}")
            element = self._described_element(target) if target.filter is not None else {}
            current.append(element)
            selected = [len(current) - 1]
        for i in selected:
            if target.sub is not None:
                new = {**current[i], **(_coerce_sub(attribute, target.sub, value, target.text) or {})}
            else:
                new = _merge(attribute, current[i], value, target.text) or {}
            current[i] = new
            written.append(new)
        current = [element for element in current if element]
        _clear_other_primaries(current, written)
        self._put(attribute, current)

    def _multi_whole(self, op: str, target: _Target, current: list[Any], value: Any) -> None:
        attribute = target.attribute
        assert attribute is not None
        if op == "remove":
            self._put(attribute, None)
            return
        new = normalise_value(attribute, value, target.text) or []
        if op == "replace":
            self._put(attribute, new)
            return
        written = []
        present: dict[str, Any] = {}  # comparison key -> the stored element (linear, not pairwise)
        for element in current:
            present.setdefault(_hashable_key(attribute, element), element)
        for element in new:
            key = _hashable_key(attribute, element)
            if key in present:
                written.append(present[key])  # already there: no change (RFC 7644 §3.5.2.1)
            else:
                present[key] = element
                current.append(element)
                written.append(element)
        if attribute.is_complex:
            _clear_other_primaries(current, [e for e in written if e.get("primary") is True])
        self._put(attribute, current)

    def _described_element(self, target: _Target) -> dict[str, Any]:
        """The element a filter describes, for add/replace with no match (Entra, identity-providers.md §2.4
        e).

        Only ``eq`` comparisons of sub-attributes joined by ``and`` describe an element
        (``type eq "work"`` -> ``{"type": "work"}``, ``primary eq "True"`` -> ``{"primary": true}``);
        any other filter gives 400 noTarget as RFC 7644 §3.5.2.3 says.
        """
        attribute = target.attribute
        assert attribute is not None and target.filter is not None
        terms = (
            target.filter.terms
            if (isinstance(target.filter, LogicalExpr) and target.filter.op == LogicalOperator.and_)
            else (target.filter,)
        )
        element: dict[str, Any] = {}
        for term in terms:
            if not (
                isinstance(term, Comparison) and term.op == CompareOperator.eq and term.value is not None
            ):
                raise NoTargetException(
                    detail=f"'{target.text}' matches no value, and its filter does not "
                    "describe one to create (RFC 7644 §3.5.2.3)."
                )
            sub = _filter_sub(attribute, term.attr_path)
            part = _coerce_sub(attribute, sub, term.value, target.text)
            if part:
                element.update(part)
        return element

    # -- group members --------------------------------------------------------------------

    def _members(self, op: str, target: _Target, value: Any) -> None:
        """Group ``members`` operations -> MemberPlan (RFC 7644 §3.5.2, docs/identity-providers.md §3).

        Supported: add/replace/remove on ``members``; remove (and replace) through a filter made
        of ``value eq "<id>"`` comparisons joined by ``or``. Other member filters and member
        sub-attribute paths need the current member list, which the engine does not load:
        400 invalidFilter / invalidPath.
        """
        plan = self.members = self.members or MemberPlan()
        if target.sub is not None:
            raise InvalidPathException(
                detail=f"'{target.text}': member sub-attributes cannot be patched; "
                "add or remove the member instead."
            )
        if target.filter is not None:
            member_ids = _member_ids(target.filter, target.text)
            if op != "add":  # remove, or replace the selected members with the value's
                for member_id in member_ids:
                    plan._remove(member_id)
        elif _drops_every_member(op, target):
            plan._clear()
        if op == "remove":
            return
        for member in _members_of(value, target.text):
            plan._add(member)


def _drops_every_member(op: str, target: _Target) -> bool:
    """A ``remove`` or ``replace`` of Group ``members`` without a value filter: the plan clears
    the group (MemberPlan.clear)."""
    attribute = target.attribute
    return (attribute is not None and attribute.schema == GROUP_SCHEMA and attribute.name == "members"
            and target.filter is None and op in ("remove", "replace"))


def may_drop_every_member(operations: list[dict[str, Any]], resource: ResourceSchema) -> bool:
    """Whether RFC-form ``operations`` (``quirks.normalise_patch_request``) hold one that the
    engine reads as dropping every Group member (a ``remove`` or ``replace`` of ``members``, or
    of one of its sub-attributes, without a value filter), however large the group: the paths
    resolved and the operations expanded as :func:`apply_patch` does. A path the engine refuses
    drops nothing (the request fails first)."""
    engine = _Engine({}, resource, "")
    for operation in operations:
        for step in expand_pathless_value(dict(operation)):
            for rfc_step in remove_value_list_to_filters(step):
                path = rfc_step.get("path")
                if path is None:
                    continue  # a path-less remove is refused (noTarget)
                try:
                    target = engine._resolve(path)
                except ScimError:
                    continue
                if _drops_every_member(rfc_step["op"], target):
                    return True
    return False


# -- helpers --------------------------------------------------------------------------------


def _as_value_path(node: Any) -> Any:
    """``emails.type eq "work"`` (errata 7122 bare comparison) -> ``emails[type eq "work"]``."""
    if isinstance(node, Comparison | Present):
        inner_attr = AttrPath(attr=node.attr_path.sub_attr or "value")
        head = AttrPath(attr=node.attr_path.attr, uri=node.attr_path.uri)
        inner: FilterNode = (
            Present(attr_path=inner_attr)
            if isinstance(node, Present)
            else Comparison(attr_path=inner_attr, op=node.op, value=node.value)
        )
        return ValuePath(attr_path=head, val_filter=inner)
    return node


def _is_reference(attribute: Attribute) -> bool:
    return attribute.schema == ENTERPRISE_USER_SCHEMA and attribute.name == "manager"


def _without(element: dict[str, Any], sub: Attribute) -> dict[str, Any]:
    return {key: item for key, item in element.items() if key != sub.name}


def _hashable_key(attribute: Attribute, value: Any) -> str:
    """A key under which equal values of a multi-valued attribute coincide: strings compare
    case-insensitively unless the (sub-)attribute is caseExact (RFC 7643 §2.3.1, §2.4; RFC 7644
    §3.5.2.1 "already contains"). A string, so duplicates are found by hashing."""
    return json.dumps(_comparison_key(attribute, value), sort_keys=True, ensure_ascii=False)


def _comparison_key(attribute: Attribute, value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _comparison_key(attribute.sub(key) or attribute, item) for key, item in value.items()}
    if isinstance(value, str) and not attribute.case_exact:
        return value.casefold()
    return value


def _meaningful(element: dict[str, Any]) -> bool:
    """An element left with only ``type``/``primary`` (or nothing) says nothing and is dropped."""
    return any(key not in ("type", "primary") for key in element)


def _coerce_sub(attribute: Attribute, sub: Attribute, value: Any, label: str) -> dict[str, Any] | None:
    """``{sub: value}`` validated as a part of ``attribute``'s value; None when it holds nothing."""
    if value is None:
        return None
    suffix = "." + sub.name
    parent_label = label[: -len(suffix)] if label.lower().endswith(suffix.lower()) else label
    normalised = normalise_value(attribute, {sub.name: value}, parent_label)  # errors name parent.sub
    if isinstance(normalised, list):
        normalised = normalised[0] if normalised else None
    return normalised or None


def _element(attribute: Attribute, value: Any, label: str) -> dict[str, Any] | None:
    """One complex value (an element when ``attribute`` is multi-valued), validated."""
    if attribute.multi_valued:
        normalised = normalise_value(attribute, [value], label)
        if not normalised:
            return None
        if not isinstance(normalised[0], dict):  # pragma: no cover - complex attributes give dicts
            raise InvalidValueException(detail=f"'{label}' must be a JSON object.")
        return dict(normalised[0])
    result = normalise_value(attribute, value, label)
    return dict(result) if result else None


def _merge(attribute: Attribute, current: Any, value: Any, label: str) -> dict[str, Any] | None:
    """Sub-attributes of ``value`` written over ``current`` (RFC 7644 §3.5.2.1, §3.5.2.3, C40).

    A sub-attribute given as null is removed; the others are left as they were.
    """
    if attribute.multi_valued and isinstance(value, str):
        # a JSON-encoded element (roles, identity-providers.md §2.4 h)
        decoded = normalise_value(attribute, [value], label)
        value = decoded[0] if decoded else None
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"'{label}' must be a JSON object of sub-attributes.")
    merged = dict(current or {})
    for key in value:
        sub = attribute.sub(key) if isinstance(key, str) else None
        if sub is not None and value[key] is None:
            merged.pop(sub.name, None)
    merged.update(_element(attribute, value, label) or {})
    return merged or None


def _check_required_kept(document: dict[str, Any], resource: ResourceSchema) -> None:
    """400 ``mutability`` when the PATCH left a required attribute unassigned (removed, or
    replaced with null or an empty value): RFC 7644 §3.5.2.2 and §3.5.2.3 name ``mutability``
    for an attempt to remove or empty a required or read-only attribute. Checked after all
    operations, so a remove followed by a new value is accepted."""
    attribute = missing_required(document, resource)
    if attribute is not None:
        raise MutabilityException(
            detail=f"'{attribute.name}' is required: a PATCH cannot remove it or leave it empty "
            "(RFC 7644 §3.5.2.2, §3.5.2.3)."
        )


def _clear_other_primaries(elements: list[dict[str, Any]], written: list[dict[str, Any]]) -> None:
    """``primary: true`` written on one element clears it on the others (RFC 7643 §2.4)."""
    if not any(element.get("primary") is True for element in written):
        return
    keep = {id(element) for element in written if element.get("primary") is True}
    for i, element in enumerate(elements):
        if element.get("primary") is True and id(element) not in keep:
            elements[i] = {**element, "primary": False}


def _check_primaries(document: dict[str, Any], resource: ResourceSchema) -> None:
    """At most one element of a multi-valued attribute has primary true (RFC 7643 §2.4)."""
    for urn, attributes in resource.attributes.items():
        container = document if urn == resource.core else document.get(urn) or {}
        for attribute in attributes.values():
            value = container.get(attribute.name)
            if not (attribute.multi_valued and isinstance(value, list)):
                continue
            primaries = [e for e in value if isinstance(e, dict) and e.get("primary") is True]
            if len(primaries) > 1:
                raise InvalidValueException(
                    detail=f"At most one value of '{attribute.name}' may have primary true (RFC 7643 §2.4)."
                )


def _member_ids(node: FilterNode, text: str) -> list[str]:
    """Member ids named by ``value eq "<id>"`` terms joined by ``or``."""
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        return [member_id for term in node.terms for member_id in _member_ids(term, text)]
    if (
        isinstance(node, Comparison)
        and node.op == CompareOperator.eq
        and node.attr_path.uri is None
        and node.attr_path.sub_attr is None
        and node.attr_path.attr.lower() == "value"
        and isinstance(node.value, str)
    ):
        return [node.value]
    raise InvalidFilterException(
        detail=f"'{text}': member filters must be 'value eq \"<id>\"' (optionally joined by 'or')."
    )


def _members_of(value: Any, label: str) -> list[dict[str, Any]]:
    """Members listed in a value: objects with ``value`` or bare ids (REFCODE garbage tolerance)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    members = []
    for item in items:
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, dict):
            raise InvalidValueException(detail=f"Each value of '{label}' must be an object with a 'value'.")
        keys = {key.lower(): key for key in item if isinstance(key, str)}
        member_id = item.get(keys.get("value", "value"))
        if not isinstance(member_id, str) or not member_id.strip():
            raise InvalidValueException(
                detail=f"Each value of '{label}' needs a 'value' holding a member id."
            )
        kind = item.get(keys.get("type", "type"))
        if kind is not None:
            if not isinstance(kind, str) or kind.lower() not in _MEMBER_TYPES:
                raise InvalidValueException(
                    detail=f"'{label}.type' must be 'User' or 'Group', got {json.dumps(kind)}."
                )
            kind = _MEMBER_TYPES[kind.lower()]
        display = item.get(keys.get("display", "display"))
        if display is not None and not isinstance(display, str):
            raise InvalidValueException(detail=f"'{label}.display' must be a string.")
        members.append({"value": member_id, "type": kind, "display": display})
    return members


# -- in-memory filter evaluation ------------------------------------------------------------


def _filter_sub(attribute: Attribute, attr_path: AttrPath) -> Attribute:
    sub = attribute.sub(attr_path.attr) if attr_path.uri is None and attr_path.sub_attr is None else None
    if sub is None:
        raise InvalidFilterException(detail=f"'{attr_path}' is not a sub-attribute of '{attribute.name}'.")
    return sub


def _matches(node: FilterNode, element: dict[str, Any], attribute: Attribute) -> bool:
    """Whether one element of ``attribute`` satisfies the filter (RFC 7644 §3.4.2.2)."""
    if isinstance(node, LogicalExpr):
        results = (_matches(term, element, attribute) for term in node.terms)
        return all(results) if node.op == LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not _matches(node.expr, element, attribute)
    if isinstance(node, Present):
        sub = _filter_sub(attribute, node.attr_path)
        return element.get(sub.name) not in (None, "", [], {})
    if isinstance(node, Comparison):
        sub = _filter_sub(attribute, node.attr_path)
        return _compare(sub, node.op, element.get(sub.name), node.value)
    raise InvalidFilterException(detail="Value filters cannot be nested (RFC 7644 §3.4.2.2).")


def _compare(sub: Attribute, op: CompareOperator, actual: Any, expected: Any) -> bool:
    """One comparison; absent values are never equal, ``ne`` is the negation of ``eq``."""
    if op == CompareOperator.ne:
        return not _compare(sub, CompareOperator.eq, actual, expected)
    if expected is None:
        if op == CompareOperator.eq:
            return actual is None
        raise InvalidFilterException(detail=f"'{op.value} null' is not a valid comparison.")
    if actual is None:
        return False
    if sub.type == "boolean":
        if op != CompareOperator.eq:
            raise InvalidFilterException(detail=f"'{sub.name}' is a boolean: only eq and ne apply.")
        try:
            wanted = parse_boolean(expected, sub.name)
        except InvalidValueException as exc:
            raise InvalidFilterException(detail=exc.detail) from exc
        return actual is wanted
    if sub.type in ("integer", "decimal"):
        if isinstance(expected, bool) or not isinstance(expected, int | float):
            raise InvalidFilterException(detail=f"'{sub.name}' is a number: compare it with a number.")
        return _ordered(op, actual, expected)
    if not isinstance(expected, str):
        raise InvalidFilterException(detail=f"'{sub.name}' is a string: compare it with a quoted string.")
    if not isinstance(actual, str):
        return False
    if sub.type == "dateTime" and op not in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        try:
            return _ordered(op, _instant(actual), _instant(expected))
        except (ValueError, OverflowError) as exc:  # overflow: an offset past year 1 or 9999
            raise InvalidFilterException(detail=f"'{expected}' is not an RFC 3339 date-time.") from exc
    if not sub.case_exact:
        actual, expected = actual.casefold(), expected.casefold()
    if op == CompareOperator.co:
        return expected in actual
    if op == CompareOperator.sw:
        return actual.startswith(expected)
    if op == CompareOperator.ew:
        return actual.endswith(expected)
    return _ordered(op, actual, expected)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ordered(op: CompareOperator, actual: Any, expected: Any) -> bool:
    if op == CompareOperator.eq:
        return bool(actual == expected)
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        raise InvalidFilterException(detail=f"'{op.value}' applies to strings only.")
    try:
        if op == CompareOperator.gt:
            return bool(actual > expected)
        if op == CompareOperator.ge:
            return bool(actual >= expected)
        if op == CompareOperator.lt:
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False
