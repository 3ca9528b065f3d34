"""Bounded work and storable text for PATCH and filters: oversized or unencodable input is a 400,
never a stalled worker or a 500 (RFC 7644 §3.12)."""

from __future__ import annotations

import pytest
from scim2_models import InvalidFilterException, InvalidPathException, InvalidValueException

from scimgate.scim.params import MAX_START_INDEX, parse_list_query
from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import MAX_OPERATIONS, normalise_patch_request
from scimgate.scim.resource import MAX_VALUES, normalise_document
from scimgate.scim.schema import group_schema, user_schema
from scimgate.storage.filter_sql import parse_filter

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _op(path: str) -> dict[str, object]:
    return {"op": "replace", "path": path, "value": "x@example.com"}


def test_too_many_operations_is_400() -> None:
    """More than MAX_OPERATIONS operations in one PATCH: 400 invalidValue; exactly that many is fine."""
    ok = normalise_patch_request({"schemas": [PATCH_OP], "Operations": [_op("displayName")] * MAX_OPERATIONS})
    assert len(ok) == MAX_OPERATIONS
    with pytest.raises(InvalidValueException):
        normalise_patch_request(
            {"schemas": [PATCH_OP], "Operations": [_op("displayName")] * (MAX_OPERATIONS + 1)}
        )


@pytest.mark.parametrize("attribute", ["emails", "phoneNumbers", "roles", "entitlements"])
def test_too_many_values_of_a_document_attribute_is_400(attribute: str) -> None:
    """A multi-valued attribute kept in the document holds at most MAX_VALUES values, on POST/PUT
    and after PATCH."""
    values = [{"value": f"v{i}@example.com"} for i in range(MAX_VALUES + 1)]
    with pytest.raises(InvalidValueException):
        normalise_document({"userName": "a@example.com", attribute: values}, user_schema())
    assert len(
        normalise_document({"userName": "a@example.com", attribute: values[:-1]}, user_schema())[attribute]
    )
    with pytest.raises(InvalidValueException):
        apply_patch(
            {"userName": "a@example.com"},
            [{"op": "add", "path": attribute, "value": values}],
            user_schema(),
            resource_id="x",
        )


def test_group_members_are_not_bounded_by_the_document_limit() -> None:
    """A Group's members are rows, not document values: a large member list is accepted."""
    members = [{"value": f"id-{i}"} for i in range(MAX_VALUES * 3)]
    document = normalise_document({"displayName": "Big", "members": members}, group_schema())
    assert document["displayName"] == "Big"  # no error; members go to group_member rows


def test_duplicate_values_collapse_in_any_case() -> None:
    """Adding values equal to stored ones (case-insensitively) adds nothing (RFC 7644 §3.5.2.1)."""
    stored = {"userName": "a@example.com", "emails": [{"value": "A@Example.com", "type": "work"}]}
    result = apply_patch(
        stored,
        [{"op": "add", "path": "emails", "value": [{"value": "a@example.com", "type": "WORK"}] * 3}],
        user_schema(),
        resource_id="x",
    )
    assert result.document["emails"] == stored["emails"]


@pytest.mark.parametrize("literal", ["\\ud800", "\\udc00", "\\u0000"])
def test_unencodable_filter_literal_is_invalid_filter(literal: str) -> None:
    """A filter literal that decodes to a lone surrogate or NUL: 400 invalidFilter, not a 500 from
    the database driver."""
    for text in (
        f'userName eq "{literal}"',
        f'emails[value co "{literal}"]',
        f'name.givenName sw "a{literal}"',
    ):
        with pytest.raises(InvalidFilterException):
            parse_filter(text)


@pytest.mark.parametrize("path", ['emails[type eq "\\ud800"].value', 'members[value eq "\\ud800"]'])
def test_unencodable_path_literal_is_invalid_path(path: str) -> None:
    """The same in a PATCH path: 400 invalidPath."""
    resource = group_schema() if path.startswith("members") else user_schema()
    document = {"displayName": "G"} if path.startswith("members") else {"userName": "a@example.com"}
    with pytest.raises(InvalidPathException):
        apply_patch(document, [{"op": "remove", "path": path}], resource, resource_id="x")


@pytest.mark.parametrize(("params", "error"), [({"count": 1.5}, True), ({"startIndex": 2.5}, True),
                                               ({"count": 2.0}, False), ({"startIndex": 1e300}, False)])
def test_paging_numbers_from_a_search_body(params: dict[str, float], error: bool) -> None:
    """A SearchRequest's startIndex/count must be integers (RFC 7644 §3.4.3); a huge startIndex is
    kept inside the database's OFFSET range (an empty page, not a 500)."""
    if error:
        with pytest.raises(InvalidValueException):
            parse_list_query(params, default_count=100, max_results=200)
        return
    query = parse_list_query(params, default_count=100, max_results=200)
    assert query.start_index <= MAX_START_INDEX and query.count <= 200
