"""SCIM filter tree (scim2-models ``FilterNode``) -> SQLAlchemy boolean expression.

RFC 7644 §3.4.2.2. Every attribute path goes through ``mapping`` (the whitelist); an unmapped
attribute is ``invalidFilter``. Case-insensitive attributes compare their lower-cased twin
column with the lower-cased value so comparisons use indexes.
"""

from __future__ import annotations

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
from sqlalchemy import ColumnElement, and_, exists, not_, or_, select

from scimgate.scim.errors import InvalidFilterException
from scimgate.scim.params import MAX_FILTER_LENGTH
from scimgate.scim.resource import parse_boolean
from scimgate.scim.schema import ResourceSchema
from scimgate.storage.mapping import Child, Column, ResourceMapping


def parse_filter(text: str) -> FilterNode:
    """Parse ``text`` with scim2-models; InvalidFilterException (with the column) if it fails."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        return ScimFilter(text).ast
    except InvalidFilterException:
        raise
    except Exception as exc:  # scim2-models raises several kinds for bad input
        raise InvalidFilterException(detail=f"The filter could not be parsed: {exc}") from exc


class FilterCompiler:
    """Compiles one resource type's filters; ``compile(node)`` returns a boolean expression."""

    def __init__(self, resource: ResourceSchema, mapping: ResourceMapping):
        self.resource = resource
        self.mapping = mapping

    def compile(self, node: FilterNode) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            parts = [self.compile(term) for term in node.terms]
            return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self.compile(node.expr))
        if isinstance(node, ValuePath):
            return self._value_path(node)
        if isinstance(node, Comparison | Present):
            return self._attribute_condition(node)
        raise InvalidFilterException(detail=f"Unsupported filter expression {node}.")

    def _name(self, path: AttrPath) -> tuple[str, str | None]:
        schema, _ = self.resource.split_urn_path((path.uri + ":" if path.uri else "") + path.attr)
        attribute = self.resource.attribute(path.attr, path.uri or schema)
        if attribute is None:
            raise InvalidFilterException(detail=f"Unknown attribute '{path}' in filter.")
        sub = None
        if path.sub_attr:
            sub_attribute = attribute.sub(path.sub_attr)
            if sub_attribute is None:
                raise InvalidFilterException(detail=f"Unknown sub-attribute '{path}' in filter.")
            sub = sub_attribute.name
        return attribute.name, sub

    def _attribute_condition(self, node: Comparison | Present) -> ColumnElement[bool]:
        name, sub = self._name(node.attr_path)
        key = name.lower() if sub is None else f"{name}.{sub}".lower()
        child = self.mapping.children.get(name.lower())
        if child is not None:
            return self._child_exists(child, [(sub or "value", node)])
        column = self.mapping.columns.get(key)
        if column is None:
            raise InvalidFilterException(detail=f"Filtering on '{node.attr_path}' is not supported.")
        return _condition(column, node)

    def _value_path(self, node: ValuePath) -> ColumnElement[bool]:
        name, _ = self._name(node.attr_path)
        child = self.mapping.children.get(name.lower())
        if child is None:
            raise InvalidFilterException(detail=f"Filtering on '{node.attr_path}[...]' is not supported.")
        inner = _ChildCompiler(child).compile(node.val_filter)
        subquery = select(child.owner_key).where(child.owner_key == self.mapping.id_column, inner)
        return exists(subquery)

    def _child_exists(self, child: Child, conditions: list[tuple[str, Comparison | Present]]) -> ColumnElement[bool]:
        parts = []
        for sub, node in conditions:
            column = child.columns.get(sub.lower())
            if column is None:
                raise InvalidFilterException(detail=f"Filtering on '{node.attr_path}' is not supported.")
            parts.append(_condition(column, node))
        return exists(select(child.owner_key).where(child.owner_key == self.mapping.id_column, *parts))


class _ChildCompiler:
    """Compiles the filter inside ``attr[...]`` against the child table's columns."""

    def __init__(self, child: Child):
        self.child = child

    def compile(self, node: FilterNode) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            parts = [self.compile(term) for term in node.terms]
            return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self.compile(node.expr))
        if isinstance(node, Comparison | Present):
            column = self.child.columns.get(node.attr_path.attr.lower())
            if column is None:
                raise InvalidFilterException(detail=f"Unknown sub-attribute '{node.attr_path}' in filter.")
            return _condition(column, node)
        raise InvalidFilterException(detail=f"Unsupported filter expression {node}.")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _condition(column: Column, node: Comparison | Present) -> ColumnElement[bool]:
    target = column.lower if column.lower is not None else column.column
    if isinstance(node, Present):
        if column.lower is not None or _is_string(column):
            return and_(column.column.is_not(None), column.column != "")
        return column.column.is_not(None)
    value: Any = node.value
    if _is_bool(column):
        if value is None:
            return column.column.is_(None) if node.op == CompareOperator.eq else column.column.is_not(None)
        value = parse_boolean(value, str(node.attr_path))
    elif isinstance(value, str) and column.lower is not None:
        value = value.lower()
    op = node.op
    if value is None:
        if op == CompareOperator.eq:
            return target.is_(None)
        if op == CompareOperator.ne:
            return target.is_not(None)
        raise InvalidFilterException(detail=f"'{op.value}' cannot compare with null.")
    if op == CompareOperator.eq:
        return and_(target.is_not(None), target == value)
    if op == CompareOperator.ne:
        return or_(target.is_(None), target != value)
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        if not isinstance(value, str):
            raise InvalidFilterException(detail=f"'{op.value}' needs a string value.")
        pattern = _escape_like(value)
        pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op.value]
        return and_(target.is_not(None), target.like(pattern, escape="\\"))
    comparisons = {
        CompareOperator.gt: target > value,
        CompareOperator.ge: target >= value,
        CompareOperator.lt: target < value,
        CompareOperator.le: target <= value,
    }
    if op in comparisons:
        return and_(target.is_not(None), comparisons[op])
    raise InvalidFilterException(detail=f"Unsupported operator '{op}'.")


def _is_bool(column: Column) -> bool:
    return column.column.type.python_type is bool


def _is_string(column: Column) -> bool:
    try:
        return column.column.type.python_type is str
    except NotImplementedError:
        return False


__all__ = ["FilterCompiler", "parse_filter"]
