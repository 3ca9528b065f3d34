"""SCIM filter tree (scim2-models ``FilterNode``) -> SQLAlchemy boolean expression.

RFC 7644 §3.4.2.2. The grammar (with ``not`` > ``and`` > ``or`` precedence)::

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
    valuePath = attrPath "[" valFilter "]"
    attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
    logExp    = FILTER SP ("and" / "or") SP FILTER
    compValue = false / null / true / number / string

is parsed by scim2-models; this module walks the tree it builds (a ``FilterVisitor``). Rules:

- Every attribute path goes through ``mapping`` (the whitelist); an unknown or unmapped one is
  ``invalidFilter`` naming it (STYLE.md §2, fail closed).
- Every condition is TRUE or FALSE, never NULL, so ``not (...)`` is the complement.
- Strings compare per the schema's ``caseExact`` (lower-cased twin columns for the
  case-insensitive ones); booleans accept Entra's ``"True"``; dateTimes compare as instants.
- ``attr eq null`` holds when the attribute has no value, ``ne null`` when it has one
  (RFC 7643 §2.5: unassigned and null are the same state).
- A multi-valued attribute matches when any of its values does; ``ne`` holds when none equals.
- ``co``/``sw``/``ew`` match ``%``, ``_`` and ``\\`` literally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim2_models.path.expressions import (
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
from scim2_models.path.filter import ScimFilter
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from scimgate.scim.errors import InvalidFilterException, InvalidValueException
from scimgate.scim.literals import check_literals
from scimgate.scim.params import MAX_FILTER_BYTES
from scimgate.scim.resource import parse_boolean
from scimgate.scim.schema import Attribute, ResourceSchema
from scimgate.storage.mapping import Child, Column, DocumentArray, ResourceMapping
from scimgate.storage.planner import not_an_index

ORDERING = (CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le)
SUBSTRING = (CompareOperator.co, CompareOperator.sw, CompareOperator.ew)
STRING_TYPES = ("string", "reference", "binary")


def parse_filter(text: str) -> FilterNode:
    """Parse ``text`` with scim2-models (RFC 7644 §3.4.2.2).

    Raises InvalidFilterException for a filter over 4 KiB, nested too deep (scim2-models allows
    32 levels), or unparsable (the detail gives the column of the error).
    """
    if len(text.encode("utf-8")) > MAX_FILTER_BYTES:
        raise InvalidFilterException(detail=f"The filter is longer than {MAX_FILTER_BYTES} bytes.")
    try:
        node = ScimFilter(text).ast
    except InvalidFilterException as exc:
        raise InvalidFilterException(detail=f"The filter could not be parsed: {exc.detail}.") from exc
    except ValueError as exc:  # a literal scim2-models refuses while building the tree
        raise InvalidFilterException(detail=f"The filter could not be parsed: {exc}.") from exc
    check_literals(node, InvalidFilterException, "filter")
    return node


# ---- JSON arrays in the document: EXISTS over their elements, per dialect -------------------

Field = Callable[[str, str], ColumnElement[Any]]  # (sub-attribute name, SCIM type) -> element value


class _ArrayAny(ColumnElement[bool]):
    """EXISTS (an element of the JSON array at ``path`` of ``document`` meets ``condition``).

    ``condition`` receives a ``Field`` accessor that reads a key of the element; the SQL is
    json_each() on SQLite and jsonb_array_elements() on PostgreSQL.
    """

    inherit_cache = False
    type = Boolean()

    def __init__(self, document: Any, path: tuple[str, ...],
                 condition: Callable[[Field], ColumnElement[bool]]):
        self.document = document
        self.path = path
        self.condition = condition


def _sql_type(kind: str) -> Any:
    return {"boolean": Boolean(), "integer": Integer(), "decimal": Float()}.get(kind, String())


@compiles(_ArrayAny, "sqlite")
def _array_any_sqlite(element: _ArrayAny, compiler: SQLCompiler, **kw: Any) -> str:
    path = "$" + "".join(f'."{key}"' for key in element.path)
    rows = func.json_each(element.document, path).table_valued("value")

    def field(name: str, kind: str) -> ColumnElement[Any]:
        return func.json_extract(rows.c.value, f'$."{name}"', type_=_sql_type(kind))

    query = exists(select(literal(1)).select_from(rows).where(element.condition(field)))
    return compiler.process(query, **kw)


@compiles(_ArrayAny, "postgresql")
def _array_any_postgresql(element: _ArrayAny, compiler: SQLCompiler, **kw: Any) -> str:
    rows = func.jsonb_array_elements(element.document[element.path]).table_valued("value")

    def field(name: str, kind: str) -> ColumnElement[Any]:
        text = type_coerce(rows.c.value, JSONB)[name].astext
        return text if kind in STRING_TYPES else text.cast(_sql_type(kind))

    query = exists(select(literal(1)).select_from(rows).where(element.condition(field)))
    return compiler.process(query, **kw)


class _ArrayFirst(ColumnElement[Any]):
    """The sub-attribute ``name`` of the element a multi-valued attribute sorts by (RFC 7644
    §3.4.2.3): the element with ``primary`` true, else the first one; NULL for an empty or
    missing array. A scalar subquery over json_each() (SQLite) or jsonb_array_elements() WITH
    ORDINALITY (PostgreSQL). Cacheable: its SQL depends on the attributes listed in
    ``_traverse_internals`` only."""

    inherit_cache = True
    _traverse_internals = [("document", InternalTraversal.dp_clauseelement),
                           ("path", InternalTraversal.dp_string_list),
                           ("name", InternalTraversal.dp_string), ("lower", InternalTraversal.dp_boolean)]

    def __init__(self, document: Any, path: tuple[str, ...], name: str, lower: bool):
        self.document, self.path, self.name, self.lower = document, path, name, lower
        self.type = String()


@compiles(_ArrayFirst, "sqlite")
def _array_first_sqlite(element: _ArrayFirst, compiler: SQLCompiler, **kw: Any) -> str:
    path = "$" + "".join(f'."{key}"' for key in element.path)
    rows = func.json_each(element.document, path).table_valued("value", "key")
    value: ColumnElement[Any] = func.json_extract(rows.c.value, f'$."{element.name}"', type_=String())
    primary = func.coalesce(func.json_extract(rows.c.value, '$."primary"'), 0)
    query = (select(func.lower(value) if element.lower else value).select_from(rows)
             .order_by(primary.desc(), rows.c.key).limit(1).scalar_subquery())
    return compiler.process(query, **kw)


@compiles(_ArrayFirst, "postgresql")
def _array_first_postgresql(element: _ArrayFirst, compiler: SQLCompiler, **kw: Any) -> str:
    rows = func.jsonb_array_elements(element.document[element.path]).table_valued(
        "value", with_ordinality="ordinality")
    entry = type_coerce(rows.c.value, JSONB)
    value: ColumnElement[Any] = entry[element.name].astext
    primary = func.coalesce(entry["primary"].astext == "true", False)
    query = (select(func.lower(value) if element.lower else value).select_from(rows)
             .order_by(primary.desc(), rows.c.ordinality).limit(1).scalar_subquery())
    return compiler.process(query, **kw)


def filtered_order_key(expression: Any) -> ColumnElement[Any]:
    """An ORDER BY key for a filtered query: the filter's indexes choose the plan, not the order
    (storage.planner: without it SQLite walked the order's index and tested the filter on every
    row, and an ``externalId eq`` became a scan of the workspace)."""
    return not_an_index(expression)


# ---- Comparisons on one value --------------------------------------------------------------


@dataclass(frozen=True)
class Operand:
    """One value of the resource as SQL: ``raw`` is NULL when unassigned; ``lower`` is its
    lower-cased twin for case-insensitive strings (None: lower() it in SQL)."""

    raw: ColumnElement[Any]
    attribute: Attribute
    lower: ColumnElement[Any] | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _instant(value: Any, label: str) -> datetime:
    """A filter's dateTime value (RFC 7643 §2.3.5) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            try:  # an offset that moves the instant past year 1 or 9999 overflows
                return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
            except OverflowError:
                raise InvalidFilterException(
                    detail=f"'{label}': {value!r} with its offset is outside the years 1 to 9999.") from None
    raise InvalidFilterException(
        detail=f"'{label}' is a dateTime: compare it with an RFC 3339 string, not {value!r}.")


def _typed_value(attribute: Attribute, op: CompareOperator, value: Any, label: str) -> Any:
    """The filter's value converted to the attribute's type; invalidFilter if it cannot be."""
    kind = attribute.type
    if kind in STRING_TYPES:
        if not isinstance(value, str):
            raise InvalidFilterException(
                detail=f"'{label}' is a string: compare it with a string, not {value!r}.")
        if kind == "binary" and op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(detail=f"'{label}' is binary: only eq, ne and pr apply.")
        return value
    if kind == "boolean":
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(
                detail=f"'{label}' is a boolean: only eq, ne and pr apply (RFC 7644 §3.4.2.2).")
        try:
            return parse_boolean(value, label)
        except Exception as exc:
            raise InvalidFilterException(
                detail=f"'{label}' is a boolean: compare it with true or false.") from exc
    if op in SUBSTRING:
        raise InvalidFilterException(detail=f"'{op.value}' applies to strings; '{label}' is a {kind}.")
    if kind == "dateTime":
        return _instant(value, label)
    if kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFilterException(
                detail=f"'{label}' is a number: compare it with a number, not {value!r}.")
        return value
    raise InvalidFilterException(detail=f"'{label}' cannot be compared.")


def compare(operand: Operand, op: CompareOperator, value: Any, label: str) -> ColumnElement[bool]:
    """``operand op value`` as a condition that is never NULL (RFC 7644 §3.4.2.2)."""
    raw = operand.raw
    if value is None:
        if op == CompareOperator.eq:
            return raw.is_(None)
        if op == CompareOperator.ne:
            return raw.is_not(None)
        raise InvalidFilterException(detail=f"'{op.value}' cannot compare '{label}' with null; use eq or ne.")
    typed = _typed_value(operand.attribute, op, value, label)
    target = raw
    if operand.attribute.type in STRING_TYPES and not operand.attribute.case_exact:
        target = operand.lower if operand.lower is not None else func.lower(raw)
        typed = typed.lower()
    if op == CompareOperator.ne:
        return or_(raw.is_(None), target != typed)
    if op in SUBSTRING:
        return and_(raw.is_not(None), _substring(target, op, typed, operand.attribute.case_exact))
    condition = {
        CompareOperator.eq: lambda: target == typed,
        CompareOperator.gt: lambda: target > typed,
        CompareOperator.ge: lambda: target >= typed,
        CompareOperator.lt: lambda: target < typed,
        CompareOperator.le: lambda: target <= typed,
    }[op]()
    return and_(raw.is_not(None), condition)


def _substring(target: ColumnElement[Any], op: CompareOperator, value: str,
               case_exact: bool) -> ColumnElement[bool]:
    """co/sw/ew: LIKE with ``%``, ``_`` and ``\\`` escaped (so PostgreSQL's trigram indexes apply).

    SQLite's LIKE ignores ASCII case, so for a caseExact attribute an exact check is added.
    """
    if value == "":
        return true()
    escaped = _escape_like(value)
    pattern = {CompareOperator.co: f"%{escaped}%", CompareOperator.sw: f"{escaped}%",
               CompareOperator.ew: f"%{escaped}"}[op]
    like = target.like(pattern, escape="\\")
    if not case_exact:
        return like
    size = len(value)
    exact = {
        CompareOperator.co: lambda: func.replace(target, value, "") != target,
        CompareOperator.sw: lambda: func.substr(target, 1, size) == value,
        CompareOperator.ew: lambda: and_(func.length(target) >= size,
                                         func.substr(target, func.length(target) - size + 1) == value),
    }[op]()
    return and_(like, exact)


def present(operand: Operand) -> ColumnElement[bool]:
    """``pr``: a value that is not null and, for strings, not empty (RFC 7644 §3.4.2.2)."""
    if operand.attribute.type in STRING_TYPES:
        return and_(operand.raw.is_not(None), operand.raw != "")
    return operand.raw.is_not(None)


# ---- The visitor -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    """An attribute path resolved against the schema: the attribute, its sub-attribute (if
    named) and the mapping key of the attribute (``emails``, ``urn:...:user:manager``)."""

    attribute: Attribute
    sub: Attribute | None
    key: str
    label: str

    @property
    def leaf_key(self) -> str:
        return self.key + ("." + self.sub.name.lower() if self.sub else "")


def _needs_value(node: FilterNode) -> bool:
    """Whether ``node`` (over one element's sub-attributes) is FALSE for an element without a
    ``value``, so a child table holding only elements with a value answers it exactly."""
    if isinstance(node, Comparison):
        return (node.attr_path.attr.lower() == "value" and node.op != CompareOperator.ne
                and node.value is not None)
    if isinstance(node, Present):
        return node.attr_path.attr.lower() == "value"
    if isinstance(node, LogicalExpr):
        results = [_needs_value(term) for term in node.terms]
        return any(results) if node.op == LogicalOperator.and_ else all(results)
    return False


def _sub_names(node: FilterNode) -> set[str]:
    if isinstance(node, Comparison | Present):
        return {node.attr_path.attr.lower()}
    if isinstance(node, LogicalExpr):
        return set().union(*(_sub_names(term) for term in node.terms))
    if isinstance(node, Not):
        return _sub_names(node.expr)
    return set()


class FilterCompiler(FilterVisitor[ColumnElement[bool]]):
    """Compiles one resource type's filters; ``compile(node)`` returns a boolean expression.

    With ``unknown_is_absent`` (a search across resource types, RFC 7644 §3.4.2.1) an attribute
    this resource type does not have is treated as having no value instead of raising; its path
    is added to ``unknown``. With ``workspace_id``, conditions on child tables become
    ``id IN (SELECT owner FROM child WHERE workspace_id = :ws AND ...)``, which the child's
    (workspace_id, value) indexes answer without visiting every resource of the workspace;
    without it they are correlated EXISTS subqueries.
    """

    def __init__(self, resource: ResourceSchema, mapping: ResourceMapping, *,
                 unknown_is_absent: bool = False, workspace_id: str | None = None):
        self.resource = resource
        self.mapping = mapping
        self.workspace_id = workspace_id
        self.unknown_is_absent = unknown_is_absent
        self.unknown: set[str] = set()

    def compile(self, node: FilterNode) -> ColumnElement[bool]:
        return self.visit(node)

    # -- logic

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        parts = [self.visit(term) for term in node.terms]
        return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    # -- attribute expressions

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        resolved = self._resolve(node.attr_path)
        if resolved is None:
            return self._absent(node)
        attribute, sub = resolved.attribute, resolved.sub
        if attribute.multi_valued:
            if sub is None:
                sub = attribute.sub("value") if attribute.is_complex else None
                if sub is None:
                    raise InvalidFilterException(
                        detail=f"'{resolved.label}' is complex: name a sub-attribute to compare.")
            op = CompareOperator.eq if node.op == CompareOperator.ne else node.op
            inner = Comparison(AttrPath(sub.name), op, node.value)
            if resolved.sub is not None:  # the element compiler names the sub-attribute itself
                resolved = _Resolved(attribute, None, resolved.key, resolved.label.rsplit(".", 1)[0])
            matched = self._any_element(resolved, inner)
            if node.value is None:  # "eq null": no element, or one without that sub-attribute
                matched = or_(not_(self._has_element(resolved)), matched)
            return not_(matched) if node.op == CompareOperator.ne else matched
        if attribute.is_complex and sub is None:
            # a singular complex attribute with a "value" (the enterprise manager) compares its
            # value, as multi-valued ones do: Entra checks "manager eq <id>" (docs/identity-providers.md §2.3)
            sub = attribute.sub("value")
            if sub is None:
                raise InvalidFilterException(
                    detail=f"'{resolved.label}' is complex: name a sub-attribute to compare.")
            resolved = _Resolved(attribute, sub, resolved.key, f"{resolved.label}.{sub.name}")
        return compare(self._operand(resolved), node.op, node.value, resolved.label)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        """``pr``: a non-empty value; for a complex attribute, a non-empty sub-attribute
        (RFC 7644 §3.4.2.2); for a multi-valued one, such an element."""
        resolved = self._resolve(node.attr_path)
        if resolved is None:
            return false()
        attribute, sub = resolved.attribute, resolved.sub
        if attribute.multi_valued:
            return self._any_element(resolved, None if sub is None else Present(AttrPath(sub.name)))
        if attribute.is_complex and sub is None:
            subs = [_Resolved(attribute, each, resolved.key, f"{resolved.label}.{each.name}")
                    for each in attribute.sub_attributes.values()]
            mapped = [each for each in subs if self._mapped(each)]
            return or_(*[present(self._operand(each)) for each in mapped]) if mapped else false()
        return present(self._operand(resolved))

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        resolved = self._resolve(node.attr_path)
        if resolved is None:
            return false()
        if not resolved.attribute.multi_valued or not resolved.attribute.is_complex:
            raise InvalidFilterException(
                detail=f"'{resolved.label}[...]' needs a multi-valued complex attribute (RFC 7644 §3.4.2.2).")
        return self._any_element(resolved, node.val_filter)

    # -- resolution

    def _resolve(self, path: AttrPath) -> _Resolved | None:
        label = str(path)
        schema = None
        if path.uri is not None:
            schema = self.resource.canonical_urn(path.uri)
            if schema is None:
                return self._unknown(label, "schema")
        attribute = self.resource.attribute(path.attr, schema)
        if attribute is None and schema is None:  # an extension attribute named without its URN
            found = [a for urn in self.resource.extensions if (a := self.resource.attribute(path.attr, urn))]
            attribute = found[0] if len(found) == 1 else None
        if attribute is None:
            return self._unknown(label, "attribute")
        sub = None
        if path.sub_attr is not None:
            sub = attribute.sub(path.sub_attr)
            if sub is None:
                return self._unknown(label, "sub-attribute")
        if attribute.returned == "never":
            raise InvalidFilterException(detail=f"'{label}' cannot be filtered on.")
        key = attribute.name.lower()
        if attribute.schema != self.resource.core:
            key = attribute.schema.lower() + ":" + key
        return _Resolved(attribute, sub, key, label)

    def _unknown(self, label: str, what: str) -> _Resolved | None:
        """None (the attribute is unassigned) with ``unknown_is_absent``; else invalidFilter."""
        if self.unknown_is_absent:
            self.unknown.add(label.lower())
            return None
        raise InvalidFilterException(
            detail=f"Unknown {what} '{label}' in the filter: {self.resource.name} has no such attribute.")

    def _absent(self, node: Comparison) -> ColumnElement[bool]:
        """A comparison on an attribute with no value (RFC 7644 §3.4.2.1, searches across types)."""
        if node.op == CompareOperator.eq:
            return true() if node.value is None else false()
        if node.op == CompareOperator.ne:
            return false() if node.value is None else true()
        return false()

    def _mapped(self, resolved: _Resolved) -> bool:
        return resolved.leaf_key in self.mapping.columns or resolved.leaf_key in self.mapping.documents

    def _operand(self, resolved: _Resolved) -> Operand:
        leaf = resolved.sub or resolved.attribute
        if resolved.leaf_key == "meta.resourcetype":  # the same for every row of the table
            return Operand(literal(self.resource.name, String()), leaf)
        column = self.mapping.columns.get(resolved.leaf_key)
        if column is not None:
            return Operand(column.column.expression, leaf, column.lower.expression if column.lower else None)
        document = self.mapping.documents.get(resolved.leaf_key)
        if document is None:
            raise InvalidFilterException(detail=f"Filtering on '{resolved.label}' is not supported.")
        value = self.mapping.document_column[document.path]
        if leaf.is_complex:
            return Operand(value.as_string(), leaf)
        accessor = {"boolean": value.as_boolean, "integer": value.as_integer, "decimal": value.as_float}
        return Operand(accessor.get(leaf.type, value.as_string)(), leaf)

    # -- multi-valued attributes

    def sort_value_of_elements(self, resolved: _Resolved, sort_by: str) -> ColumnElement[Any]:
        """What a multi-valued attribute sorts by (RFC 7644 §3.4.2.3: the primary element's
        value, else the first element's): its ``value`` or the named sub-attribute, lower-cased
        when case-insensitive. Raises InvalidValueException when its elements are not stored
        as a JSON array (a Group's ``members``) or have no such sub-attribute."""
        attribute = resolved.attribute
        sub = resolved.sub or (attribute.sub("value") if attribute.is_complex else None)
        array = self.mapping.arrays.get(resolved.key)
        if sub is None or array is None or sub.is_complex:
            name = self.resource.name
            raise InvalidValueException(
                detail=f"sortBy {sort_by!r} is not an attribute of {name} that can be sorted on.")
        lower = sub.type in STRING_TYPES and not sub.case_exact
        return _ArrayFirst(self.mapping.document_column, array.path, sub.name, lower)

    def _has_element(self, resolved: _Resolved) -> ColumnElement[bool]:
        """EXISTS (any element of the multi-valued attribute, empty or not)."""
        array = self.mapping.arrays.get(resolved.key)
        if array is not None:
            return self._array_exists(array, resolved, None)
        return self._child_exists(self.mapping.children[resolved.key], resolved, None)

    def _any_element(self, resolved: _Resolved, inner: FilterNode | None) -> ColumnElement[bool]:
        """EXISTS (an element of the multi-valued attribute satisfying ``inner``); ``inner``
        None: a non-empty element (one with a non-empty sub-attribute)."""
        child = self.mapping.children.get(resolved.key)
        array = self.mapping.arrays.get(resolved.key)
        if inner is None:
            if array is None and child is not None:  # child rows always carry a value
                return self._child_exists(child, resolved, None)
            subs = [Present(AttrPath(sub.name)) for sub in resolved.attribute.sub_attributes.values()]
            inner = LogicalExpr(op=LogicalOperator.or_, terms=tuple(subs))
        names = _sub_names(inner)
        if child is not None and names <= set(child.columns) and (array is None or _needs_value(inner)):
            return self._child_exists(child, resolved, inner)
        if array is not None:
            return self._array_exists(array, resolved, inner)
        missing = ", ".join(sorted(names - set(child.columns))) if child else ""
        raise InvalidFilterException(
            detail=f"Filtering on '{resolved.label}' by {missing or 'this'} is not supported.")

    def _child_exists(self, child: Child, resolved: _Resolved,
                      inner: FilterNode | None) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = list(child.where)
        if inner is not None:
            def operand(sub: Attribute) -> Operand:
                column: Column = child.columns[sub.name.lower()]
                return Operand(column.column.expression, sub,
                               column.lower.expression if column.lower else None)

            conditions.append(_ElementCompiler(resolved, operand).visit(inner))
        if self.workspace_id is not None:
            owners = select(child.owner_key).where(child.workspace_key == self.workspace_id, *conditions)
            return self.mapping.id_column.in_(owners)
        return exists(select(child.owner_key).where(child.owner_key == self.mapping.id_column, *conditions))

    def _array_exists(self, array: DocumentArray, resolved: _Resolved,
                      inner: FilterNode | None) -> ColumnElement[bool]:
        document = self.mapping.document_column

        def condition(field: Field) -> ColumnElement[bool]:
            if inner is None:
                return true()
            return _ElementCompiler(resolved, lambda sub: Operand(field(sub.name, sub.type), sub)).visit(
                inner)

        if inner is not None:  # resolve the sub-attributes now, so errors surface at compile time
            _ElementCompiler(resolved, lambda sub: Operand(literal(None, _sql_type(sub.type)), sub)).visit(
                inner)
        return _ArrayAny(document, array.path, condition)


class _ElementCompiler(FilterVisitor[ColumnElement[bool]]):
    """Compiles the filter inside ``attr[...]`` over one element's sub-attributes."""

    def __init__(self, resolved: _Resolved, operand: Callable[[Attribute], Operand]):
        self.resolved = resolved
        self.operand = operand

    def _sub(self, path: AttrPath) -> Attribute:
        sub = self.resolved.attribute.sub(path.attr)
        if path.uri is not None or path.sub_attr is not None or sub is None:
            raise InvalidFilterException(
                detail=f"Unknown sub-attribute '{path}' of '{self.resolved.label}' in filter.")
        return sub

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        parts = [self.visit(term) for term in node.terms]
        return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        sub = self._sub(node.attr_path)
        return compare(self.operand(sub), node.op, node.value, f"{self.resolved.label}.{sub.name}")

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        return present(self.operand(self._sub(node.attr_path)))

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="A value filter cannot contain another one (RFC 7644 §3.4.2.2).")


def sort_key(resource: ResourceSchema, mapping: ResourceMapping, sort_by: str, *,
             unknown_is_absent: bool = False) -> ColumnElement[Any] | None:
    """The SQL expression ``sortBy`` orders by (RFC 7644 §3.4.2.3): a mapped singular attribute,
    case-insensitive strings lower-cased; a multi-valued one sorts by its primary (else first)
    element's value. Raises InvalidValueException naming ``sortBy`` when it is no attribute
    path, unknown (None with ``unknown_is_absent``), complex without a sub-attribute or unmapped: the
    request's sortBy value is wrong, and it may have no filter at all (RFC 7644 §3.12, Table 9)."""
    try:  # an attrPath is parsed by the filter grammar, as the left side of "pr"
        node = parse_filter(f"{sort_by} pr")
    except InvalidFilterException as exc:
        raise InvalidValueException(detail=f"sortBy {sort_by!r} is not an attribute path.") from exc
    if not isinstance(node, Present):
        raise InvalidValueException(detail=f"sortBy {sort_by!r} is not an attribute path.")
    compiler = FilterCompiler(resource, mapping, unknown_is_absent=unknown_is_absent)
    try:
        resolved = compiler._resolve(node.attr_path)
    except InvalidFilterException as exc:  # its detail speaks of "the filter"
        raise InvalidValueException(
            detail=f"sortBy {sort_by!r} is not an attribute of {resource.name} that can be sorted on."
        ) from exc
    if resolved is None:
        return None
    if resolved.attribute.multi_valued:
        return compiler.sort_value_of_elements(resolved, sort_by)
    if resolved.attribute.is_complex and resolved.sub is None:
        raise InvalidValueException(detail=f"sortBy {sort_by!r} is complex: name a sub-attribute to sort on.")
    try:
        operand = compiler._operand(resolved)
    except InvalidFilterException as exc:  # "Filtering on ... is not supported": no filter was sent
        raise InvalidValueException(
            detail=f"sortBy {sort_by!r}: sorting on this attribute is not supported.") from exc
    leaf = operand.attribute
    if leaf.type in STRING_TYPES and not leaf.case_exact:
        return operand.lower if operand.lower is not None else func.lower(operand.raw)
    return operand.raw


__all__ = ["FilterCompiler", "Operand", "compare", "filtered_order_key", "parse_filter", "present",
           "sort_key"]
