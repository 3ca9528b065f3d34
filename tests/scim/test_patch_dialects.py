"""Whole PatchOp requests as identity providers send them (identity-providers.md §2.4, §3, §7, §8), quirks
+ engine."""

from __future__ import annotations

from typing import Any

from scimgate.scim.patch import PatchResult, apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, PATCH_OP_SCHEMA, user_schema

USER_ID = "5d48a0a8-e3a2-4d3f-9b6c-1f0a2c4e6b8d"
EXT = ENTERPRISE_USER_SCHEMA


def request(document: dict[str, Any], operations: list[dict[str, Any]]) -> PatchResult:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": operations}
    result = apply_patch(document, normalise_patch_request(body), user_schema(), resource_id=USER_ID)
    assert normalise_document(result.document, user_schema()) == result.document
    return result


def full_user() -> dict[str, Any]:
    """A user as the Microsoft validator creates it before 'Replace Attributes Verbose'."""
    return normalise_document(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXT],
            "userName": "river.quill@example.com",
            "active": True,
            "displayName": "OLDDISPLAY",
            "nickName": "OLDNICK",
            "title": "OLDTITLE",
            "userType": "OLDTYPE",
            "locale": "OLDLOCALE",
            "timezone": "Europe/Oslo",
            "preferredLanguage": "nl-BE",
            "profileUrl": "OLDPROFILE",
            "name": {
                "givenName": "River",
                "familyName": "Quill",
                "formatted": "River Quill",
                "middleName": "M",
                "honorificPrefix": "Mx",
                "honorificSuffix": "II",
            },
            "emails": [{"type": "work", "value": "river.quill@example.com", "primary": True}],
            "phoneNumbers": [
                {"type": "work", "value": "11-111-1111", "primary": True},
                {"type": "mobile", "value": "11-111-1112"},
                {"type": "fax", "value": "11-111-1113"},
            ],
            "addresses": [
                {
                    "type": "work",
                    "formatted": "OLDFORMATTED",
                    "streetAddress": "1 Old Road",
                    "locality": "OLDCITY",
                    "region": "OLDREGION",
                    "postalCode": "0000",
                    "country": "Norway",
                    "primary": True,
                }
            ],
            "roles": [{"primary": "True", "display": "OLDROLE", "value": "OLDVALUE", "type": "OLDRTYPE"}],
            EXT: {
                "employeeNumber": "OLD1",
                "department": "OLDDEP",
                "costCenter": "OLDCC",
                "organization": "OLDORG",
                "division": "OLDDIV",
            },
        },
        user_schema(),
    )


def verbose_operations(op: str) -> list[dict[str, Any]]:
    """The shape of the validator's '<Replace|Add> Attributes Verbose' request (identity-providers.md §8,
    ~36 writes)."""
    filtered = [
        ('emails[type eq "work"].value', "new.river@example.com"),
        ('emails[type eq "work"].primary', True),
        ('addresses[type eq "work"].formatted', "NEWFORMATTED"),
        ('addresses[type eq "work"].streetAddress', "2 New Street"),
        ('addresses[type eq "work"].locality', "NEWCITY"),
        ('addresses[type eq "work"].region', "NEWREGION"),
        ('addresses[type eq "work"].postalCode', "9999"),
        ('addresses[type eq "work"].primary', True),
        ('addresses[type eq "work"].country', "Chile"),
        ('phoneNumbers[type eq "work"].value', "22-222-2221"),
        ('phoneNumbers[type eq "work"].primary', True),
        ('phoneNumbers[type eq "mobile"].value', "22-222-2222"),
        ('phoneNumbers[type eq "fax"].value', "22-222-2223"),
        ('roles[primary eq "True"].display', "NEWROLE"),
        ('roles[primary eq "True"].value', "NEWVALUE"),
        ('roles[primary eq "True"].type', "NEWRTYPE"),
    ]
    operations: list[dict[str, Any]] = [{"op": op, "path": path, "value": value} for path, value in filtered]
    operations.append(
        {
            "op": op,
            "value": {
                "active": True,
                "displayName": "NEWDISPLAY",
                "title": "NEWTITLE",
                "preferredLanguage": "es-CL",
                "name.givenName": "Rain",
                "name.familyName": "Quell",
                "name.formatted": "Rain Quell",
                "name.middleName": "N",
                "name.honorificPrefix": "Dr",
                "name.honorificSuffix": "III",
                f"{EXT}:employeeNumber": "NEW1",
                f"{EXT}:department": "NEWDEP",
                f"{EXT}:costCenter": "NEWCC",
                f"{EXT}:organization": "NEWORG",
                f"{EXT}:division": "NEWDIV",
                "userType": "NEWTYPE",
                "nickName": "NEWNICK",
                "locale": "NEWLOCALE",
                "timezone": "America/Santiago",
                "profileUrl": "NEWPROFILE",
            },
        }
    )
    return operations


def assert_verbose_applied(doc: dict[str, Any]) -> None:
    assert doc["emails"] == [{"type": "work", "value": "new.river@example.com", "primary": True}]
    assert doc["addresses"] == [
        {
            "type": "work",
            "formatted": "NEWFORMATTED",
            "streetAddress": "2 New Street",
            "locality": "NEWCITY",
            "region": "NEWREGION",
            "postalCode": "9999",
            "country": "Chile",
            "primary": True,
        }
    ]
    assert sorted((p["type"], p["value"]) for p in doc["phoneNumbers"]) == [
        ("fax", "22-222-2223"),
        ("mobile", "22-222-2222"),
        ("work", "22-222-2221"),
    ]
    assert [p.get("primary") for p in doc["phoneNumbers"] if p["type"] == "work"] == [True]
    assert doc["roles"] == [{"primary": True, "display": "NEWROLE", "value": "NEWVALUE", "type": "NEWRTYPE"}]
    assert doc["name"] == {
        "givenName": "Rain",
        "familyName": "Quell",
        "formatted": "Rain Quell",
        "middleName": "N",
        "honorificPrefix": "Dr",
        "honorificSuffix": "III",
    }
    assert doc[EXT] == {
        "employeeNumber": "NEW1",
        "department": "NEWDEP",
        "costCenter": "NEWCC",
        "organization": "NEWORG",
        "division": "NEWDIV",
    }
    for key, value in {
        "displayName": "NEWDISPLAY",
        "title": "NEWTITLE",
        "preferredLanguage": "es-CL",
        "userType": "NEWTYPE",
        "nickName": "NEWNICK",
        "locale": "NEWLOCALE",
        "timezone": "America/Santiago",
        "profileUrl": "NEWPROFILE",
        "active": True,
    }.items():
        assert doc[key] == value, key


def test_validator_replace_attributes_verbose() -> None:
    """docs/identity-providers.md §8: 'Patch User - Replace Attributes Verbose' on a fully populated user."""
    result = request(full_user(), verbose_operations("replace"))
    assert result.changed
    assert_verbose_applied(result.document)
    assert result.document["userName"] == "river.quill@example.com"


def test_validator_add_attributes_verbose_on_minimal_user() -> None:
    """identity-providers.md §8 / C06: 'Add Attributes Verbose' on a user with only userName creates every
    element."""
    minimal = normalise_document({"userName": "river.quill@example.com"}, user_schema())
    assert_verbose_applied(request(minimal, verbose_operations("add")).document)


def test_validator_verbose_replayed_is_unchanged() -> None:
    """Replaying the same verbose request changes nothing (version must not bump)."""
    once = request(full_user(), verbose_operations("replace")).document
    again = request(once, verbose_operations("replace"))
    assert not again.changed and again.document == once


def test_entra_default_one_op_per_attribute() -> None:
    """docs/identity-providers.md §2.4 b: capitalised Replace ops with dotted, filtered and URN paths."""
    doc = request(
        full_user(),
        [
            {"op": "Replace", "path": "displayName", "value": "Alice E."},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "alice@example.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Alice"},
            {"op": "Replace", "path": "name.familyName", "value": "Example"},
            {"op": "Replace", "path": "externalId", "value": "alice"},
            {"op": "Replace", "path": f"{EXT}:employeeNumber", "value": "1001"},
        ],
    ).document
    assert doc["displayName"] == "Alice E." and doc["externalId"] == "alice"
    assert doc["emails"] == [{"type": "work", "value": "alice@example.com", "primary": True}]
    assert doc["name"]["givenName"] == "Alice" and doc["name"]["familyName"] == "Example"
    assert doc[EXT]["employeeNumber"] == "1001" and doc[EXT]["department"] == "OLDDEP"


def test_entra_flag_pathless_with_filter_op() -> None:
    """identity-providers.md §2.4 c / §4 row 3: a filtered op plus one path-less replace with flat keys."""
    doc = request(
        full_user(),
        [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "alice@example.com"},
            {
                "op": "replace",
                "value": {
                    "displayName": "Alice E.",
                    "name.givenName": "Alice",
                    "name.familyName": "Example",
                    f"{EXT}:employeeNumber": "1001",
                },
            },
        ],
    ).document
    assert doc["emails"][0]["value"] == "alice@example.com"
    assert doc["name"]["givenName"] == "Alice" and doc["name"]["middleName"] == "M"
    assert doc[EXT]["employeeNumber"] == "1001"


def test_entra_add_existing_work_email_updates_it() -> None:
    """Entra sends Add on emails[type eq "work"].value for an existing work email: update it."""
    doc = request(
        full_user(),
        [
            {"op": "Replace", "path": "title", "value": "tester"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "changed@example.com"},
        ],
    ).document
    assert doc["emails"] == [{"type": "work", "value": "changed@example.com", "primary": True}]


def test_entra_capitalised_sub_attributes() -> None:
    """docs/identity-providers.md §2.4 e: Microsoft's table writes .Value and .Formatted with capitals."""
    doc = request(
        full_user(),
        [
            {"op": "Replace", "path": 'addresses[type eq "other"].Formatted', "value": "Office 12"},
            {"op": "Replace", "path": 'phoneNumbers[type eq "work"].Value', "value": "33"},
        ],
    ).document
    assert {"type": "other", "formatted": "Office 12"} in doc["addresses"]
    assert [p["value"] for p in doc["phoneNumbers"] if p["type"] == "work"] == ["33"]


def test_entra_disable_string_false() -> None:
    """docs/identity-providers.md §2.4 f, case C03: Replace active "False" without the flag."""
    assert (
        request(full_user(), [{"op": "Replace", "path": "active", "value": "False"}]).document["active"]
        is False
    )


def test_validator_manager_add_replace_remove() -> None:
    """identity-providers.md §8: Add/Replace Manager with {value}; Remove Manager is replace with {"value":
    ""}."""
    path = f"{EXT}:manager"
    added = request(full_user(), [{"op": "add", "path": path, "value": {"value": "m-1"}}]).document
    assert added[EXT]["manager"] == {"value": "m-1"}
    replaced = request(added, [{"op": "replace", "path": path, "value": {"value": "m-2"}}]).document
    assert replaced[EXT]["manager"] == {"value": "m-2"}
    removed = request(replaced, [{"op": "replace", "path": path, "value": {"value": ""}}]).document
    assert "manager" not in removed[EXT] and removed[EXT]["department"] == "OLDDEP"


def test_entra_manager_older_doc_sample() -> None:
    """identity-providers.md §2.4 g (MS-SCIM example 5): Add path manager with a one-element list with
    $ref."""
    value = [{"$ref": "https://example.com/Users/m-9", "value": "m-9"}]
    doc = request(full_user(), [{"op": "Add", "path": "manager", "value": value}]).document
    assert doc[EXT]["manager"] == {"$ref": "https://example.com/Users/m-9", "value": "m-9"}


def test_entra_roles_patch_json_strings() -> None:
    """identity-providers.md §2.4 h: PATCH roles with JSON-encoded string elements, re-sent unchanged is a
    no-op."""
    value = ['{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}']
    minimal = normalise_document({"userName": "a@example.com"}, user_schema())
    doc = request(minimal, [{"op": "Add", "path": "roles", "value": value}]).document
    assert doc["roles"] == [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
    assert not request(doc, [{"op": "Add", "path": "roles", "value": value}]).changed


def test_entra_roles_assertive_full_list_replace() -> None:
    """identity-providers.md §2.4 h (AssertiveAppRoleAssignmentsComplex): replace path roles with the full
    list."""
    doc = request(
        full_user(),
        [{"op": "replace", "path": "roles", "value": [{"value": "A", "primary": False}, {"value": "B"}]}],
    ).document
    assert doc["roles"] == [{"value": "A", "primary": False}, {"value": "B"}]


def test_okta_deactivate_and_password_sync() -> None:
    """docs/identity-providers.md §7: Okta OIN deactivate and password sync go through path-less replace."""
    result = request(full_user(), [{"op": "replace", "value": {"active": False, "password": "s3cret!"}}])
    assert result.document["active"] is False and "password" not in result.document


def test_okta_echoes_id() -> None:
    """docs/identity-providers.md §7: an id inside the value object equal to the resource id is ignored."""
    result = request(full_user(), [{"op": "replace", "value": {"id": USER_ID, "displayName": "X"}}])
    assert result.document["displayName"] == "X" and "id" not in result.document


def test_schemas_path_is_ignored() -> None:
    """Some clients add the extension URN to 'schemas' by PATCH; the server derives schemas."""
    doc = full_user()
    result = request(doc, [{"op": "add", "path": "schemas", "value": [EXT]}])
    assert not result.changed and result.document == doc
