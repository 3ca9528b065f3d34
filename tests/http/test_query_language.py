"""The SCIM query language over HTTP: filters, sorting, paging, projection and .search.

RFC 7644 §3.4.2 (filter §3.4.2.2, sort §3.4.2.3, paging §3.4.2.4, attributes §3.4.2.5), §3.4.3
(.search), §3.9; Entra and Okta query shapes (identity-providers.md §1, §2.3, §7) and the filter cases C19-C28
of the golden cases (tests/conformance/<idp>/*.json). One directory of users and groups is built per server
and shared
by the read-only tests; tests that write use their own tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import LiveServer, Tenant, make_tenant

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass
class Directory:
    """A tenant holding the users below (keyed by the part of userName before ``@``) and groups."""

    tenant: Tenant
    users: dict[str, str]  # short name -> id
    groups: dict[str, str]  # displayName -> id

    def names(self, ids: list[str]) -> set[str]:
        by_id = {value: key for key, value in self.users.items()}
        return {by_id[i] for i in ids}


PEOPLE: dict[str, dict[str, Any]] = {
    "Alice": {
        "userName": "Alice@Example.com", "displayName": "Alice Archer", "active": True, "externalId": "ext-A",
        "title": "50%_off", "nickName": "Al",
        "name": {"givenName": "Alice", "familyName": "Archer", "formatted": "Alice Archer"},
        "emails": [{"value": "Alice@Example.com", "type": "work", "primary": True},
                   {"value": "alice@example.org", "type": "home"}],
        "phoneNumbers": [{"value": "+1-555-0100", "type": "mobile"}],
        ENTERPRISE: {"employeeNumber": "0042", "department": "R&D", "manager": {"value": "mgr-1"}},
    },
    "bob": {
        "userName": "bob@example.com", "displayName": "Bob Baker", "active": False, "externalId": "EXT-B",
        "title": "50 percent", "name": {"familyName": "Baker"},
        "emails": [{"value": "bob@example.org", "type": "work"}],
        ENTERPRISE: {"employeeNumber": "0007"},
    },
    "carol": {
        "userName": "carol@example.com", "displayName": "Carol 100% c_x\\y", "active": "True",
        "name": {"givenName": "Carol", "familyName": "Ames"},
        "phoneNumbers": [{"value": "+44 20", "type": "work"}], "roles": [{"value": "admin", "primary": True}],
    },
    "dave": {"userName": "dave@example.com", "active": True},
    "jürgen": {"userName": "jürgen@example.com", "displayName": "Jürgen Müller 山田 🚀", "active": True,
               "nickName": "Ärztin"},
}


@pytest.fixture(scope="module")
def directory(live_server: LiveServer) -> Directory:
    """The shared directory: five users and two groups (Staff = Alice + bob, Empty)."""
    tenant = make_tenant(live_server, domains=("example.com", "example.org"))
    users = {}
    for short, body in PEOPLE.items():
        attributes = {key: value for key, value in body.items() if key != "userName"}
        users[short] = tenant.create_user(body["userName"], **attributes)["id"]
    groups = {}
    for name, members in (("Staff Team", ["Alice", "bob"]), ("Empty", [])):
        response = tenant.post("/Groups", json={
            "schemas": [GROUP], "displayName": name, "externalId": f"g-{name}",
            "members": [{"value": users[m]} for m in members]})
        assert response.status_code == 201, response.text
        groups[name] = response.json()["id"]
    return Directory(tenant, users, groups)


def _list(directory: Directory, path: str = "/Users", **params: Any) -> dict[str, Any]:
    response = directory.tenant.get(path, params={"count": 200, **params})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["schemas"] == [LIST]
    return body


def _found(directory: Directory, expression: str) -> set[str]:
    body = _list(directory, filter=expression)
    assert body["totalResults"] == len(body["Resources"])
    return directory.names([r["id"] for r in body["Resources"]])


def _error(directory: Directory, path: str = "/Users", **params: Any) -> dict[str, Any]:
    response = directory.tenant.get(path, params=params)
    assert response.status_code == 400, response.text
    return dict(response.json())


# -- filters: one case per operator and attribute form, with the expected users ---------------

ALL = {"Alice", "bob", "carol", "dave", "jürgen"}

FILTERS = [
    # eq and case sensitivity from the schema (C19, C20, C24)
    ('userName eq "alice@EXAMPLE.com"', {"Alice"}),
    ('USERNAME Eq "bob@example.com" AND Emails.Value CO "BOB"', {"bob"}),
    ('displayName eq "ALICE ARCHER"', {"Alice"}),
    ('externalId eq "EXT-B"', {"bob"}),
    ('externalId eq "ext-b"', set()),
    ('id eq "no-such-id"', set()),
    ('userName eq "jürgen@example.com"', {"jürgen"}),
    ('displayName co "山田 🚀"', {"jürgen"}),
    # case folding beyond ASCII where the attribute has no lower-cased column (lower() in SQL),
    # the same on SQLite as on PostgreSQL
    ('nickName eq "ÄRZTIN"', {"jürgen"}),
    ('nickName co "äRZT"', {"jürgen"}),
    ('nickName sw "är"', {"jürgen"}),
    # ne: the complement, unassigned values included
    ('displayName ne "Bob Baker"', ALL - {"bob"}),
    ('externalId ne "EXT-B"', ALL - {"bob"}),
    # co / sw / ew, with LIKE wildcards matched literally
    ('displayName co "archer"', {"Alice"}),
    ('userName sw "CAROL"', {"carol"}),
    ('userName ew "@EXAMPLE.COM"', ALL),
    ('title co "%_"', {"Alice"}),
    ('title co "%"', {"Alice"}),
    ('displayName co "100%"', {"carol"}),
    ('displayName co "c_x"', {"carol"}),
    ('displayName co "_"', {"carol"}),
    ('displayName ew "\\\\y"', {"carol"}),
    ('externalId co "xt"', {"Alice"}),
    ('externalId sw "EXT"', {"bob"}),
    ('externalId ew "a"', set()),
    # ordering comparisons
    ('userName gt "c"', {"carol", "dave", "jürgen"}),
    ('userName le "bob@example.com"', {"Alice", "bob"}),
    ('name.familyName lt "B"', {"Alice", "carol"}),
    ('name.familyName ge "Archer"', {"Alice", "bob"}),
    # pr: only non-empty values
    ('displayName pr', ALL - {"dave"}),
    ('title pr', {"Alice", "bob"}),
    ('name pr', {"Alice", "bob", "carol"}),
    ('emails pr', {"Alice", "bob"}),
    ('phoneNumbers.value pr', {"Alice", "carol"}),
    # booleans, including Entra's "True" (stored from a "True" body too)
    ("active eq true", ALL - {"bob"}),
    ('active eq "False"', {"bob"}),
    ("active ne true", {"bob"}),
    # null (RFC 7643 §2.5: unassigned)
    ("displayName eq null", {"dave"}),
    ("displayName ne null", ALL - {"dave"}),
    ("emails.type eq null", {"carol", "dave", "jürgen"}),
    # logic: precedence not > and > or, parentheses, not over unassigned values
    ('userName sw "a" or userName sw "b" and active eq true', {"Alice"}),
    ('(userName sw "a" or userName sw "b") and active eq false', {"bob"}),
    ('not (title pr)', {"carol", "dave", "jürgen"}),
    ('not (title eq "50 percent")', ALL - {"bob"}),
    ('not (active eq false) and name.familyName sw "A"', {"Alice", "carol"}),
    ('not(displayName co "a") or userName eq "dave@example.com"', {"dave", "jürgen"}),
    # sub-attributes and URN-qualified extension attributes
    ('name.givenName eq "carol"', {"carol"}),
    ('name.formatted co "archer"', {"Alice"}),
    (f'{ENTERPRISE}:employeeNumber eq "0007"', {"bob"}),
    (f'{ENTERPRISE}:employeeNumber gt "0010"', {"Alice"}),
    (f'{ENTERPRISE}:manager.value eq "mgr-1"', {"Alice"}),
    (f'{ENTERPRISE}:department eq "r&d"', {"Alice"}),
    (f'{USER}:userName eq "dave@example.com"', {"dave"}),
    ('meta.created gt "2000-01-01T00:00:00Z"', ALL),
    ('meta.lastModified lt "2000-01-01T01:00:00+01:00"', set()),
    # multi-valued without a value filter: any value; ne: no value equals
    ('emails.value eq "ALICE@example.org"', {"Alice"}),
    ('emails co "example.org"', {"Alice", "bob"}),
    ('emails.value ne "bob@example.org"', ALL - {"bob"}),
    ('emails.type eq "home"', {"Alice"}),
    ('roles.primary eq true', {"carol"}),
    # value paths
    ('emails[type eq "work" and value co "@example.com"]', {"Alice"}),
    ('emails[type eq "work"].value eq "bob@example.org"', {"bob"}),
    ('emails[not (type eq "work")]', {"Alice"}),
    ('emails[primary eq true]', {"Alice"}),
    ('phoneNumbers[type eq "mobile"].value sw "+1"', {"Alice"}),
    ('phoneNumbers[type eq "MOBILE"] or roles[value eq "admin"]', {"Alice", "carol"}),
    # groups of a user (group_member rows)
    ("groups pr", {"Alice", "bob"}),
]


@pytest.mark.parametrize(("expression", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter_finds_expected_users(directory: Directory, expression: str, expected: set[str]) -> None:
    """Each operator and attribute form of RFC 7644 §3.4.2.2 finds exactly the expected users."""
    assert _found(directory, expression) == expected


def test_filter_groups_value_on_users(directory: Directory) -> None:
    """``groups.value eq`` and ``groups[value eq]`` find the members of a group (RFC 7643 §4.1.2)."""
    staff = directory.groups["Staff Team"]
    assert _found(directory, f'groups.value eq "{staff}"') == {"Alice", "bob"}
    assert _found(directory, f'groups[value eq "{staff}"] and active eq true') == {"Alice"}
    assert _found(directory, f'groups eq "{staff}"') == {"Alice", "bob"}


def test_filter_id_is_case_exact(directory: Directory) -> None:
    """``id eq`` finds the user; the upper-cased id finds nothing (RFC 7643 §3.1, caseExact)."""
    alice = directory.users["Alice"]
    assert _found(directory, f'id eq "{alice}"') == {"Alice"}
    assert _found(directory, f'id eq "{alice.upper()}"') == set()
    assert _found(directory, f'id eq "{alice}" and {ENTERPRISE}:manager.value eq "mgr-1"') == {"Alice"}


def test_filter_manager_without_value_compares_its_value(directory: Directory) -> None:
    """Entra checks a manager reference with ``id eq "<user>" and manager eq "<manager id>"``
    (docs/identity-providers.md §2.3, Microsoft's SCIM guide, Example 4): a singular complex attribute with a
    ``value`` compares that value, as ``emails eq`` does for a multi-valued one."""
    alice = directory.users["Alice"]
    for path in (f"{ENTERPRISE}:manager", "manager"):
        assert _found(directory, f'id eq "{alice}" and {path} eq "mgr-1"') == {"Alice"}
        assert _found(directory, f'id eq "{alice}" and {path} eq "mgr-2"') == set()
        assert _found(directory, f'{path} eq "mgr-1"') == _found(directory, f'{path}.value eq "mgr-1"')


def test_filter_groups_forms(directory: Directory) -> None:
    """Groups: displayName (insensitive, C19/C21), externalId (exact, C24), members eq/members[value eq]/
    members.value eq (Entra's ``id eq and members eq`` check, docs/identity-providers.md §3)."""
    staff, empty = directory.groups["Staff Team"], directory.groups["Empty"]
    alice = directory.users["Alice"]

    def groups(expression: str) -> set[str]:
        return {r["id"] for r in _list(directory, "/Groups", filter=expression)["Resources"]}

    assert groups('displayName eq "staff TEAM"') == {staff}
    assert groups('externalId eq "g-Empty"') == {empty}
    assert groups('externalId eq "G-EMPTY"') == set()
    assert groups(f'members eq "{alice}"') == {staff}
    assert groups(f'members[value eq "{alice}"]') == {staff}
    assert groups(f'id eq "{staff}" and members.value eq "{alice}"') == {staff}
    assert groups(f'id eq "{empty}" and members eq "{alice}"') == set()
    assert groups("not (members pr)") == {empty}
    assert groups('displayName sw "staff"') == {staff}


# -- filter errors -------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "named"), [
    ('nosuch eq "x"', "nosuch"),
    ('name.nosuch eq "x"', "name.nosuch"),
    ('emails[nosuch eq "x"]', "nosuch"),
    ('urn:example:ext:1.0:User:thing eq "x"', "thing"),
    ('userName eq "a" or bogus pr', "bogus"),
])
def test_unknown_attribute_is_invalid_filter_naming_it(directory: Directory, expression: str,
                                                        named: str) -> None:
    """An unknown attribute or sub-attribute is 400 invalidFilter naming it, never ignored (§3.4.2.2)."""
    body = _error(directory, filter=expression)
    assert body["scimType"] == "invalidFilter"
    assert named in body["detail"]


@pytest.mark.parametrize("expression", [
    "ALICE@EXAMPLE.COM", 'userName eq', 'userName eq "a" and', '(userName eq "a"', 'userName xx "a"',
    'userName eq "a" "b"', 'emails[type eq "work"', "not userName pr",
])
def test_unparsable_filter_gives_position(directory: Directory, expression: str) -> None:
    """A malformed filter is 400 invalidFilter with the column (Okta's bare userName, identity-providers.md
    §7)."""
    body = _error(directory, filter=expression)
    assert body["scimType"] == "invalidFilter"
    assert "column" in body["detail"]


@pytest.mark.parametrize("expression", [
    'name eq "Alice"', 'name.givenName eq 5', 'active gt true', 'active co "t"',
    'meta.created gt "yesterday"', 'userName gt 5', 'displayName co null', 'emails[value eq "x"].type eq 3',
])
def test_ill_typed_comparison_is_invalid_filter(directory: Directory, expression: str) -> None:
    """A complex attribute without sub-attribute, an operator its type forbids or a value of the wrong
    type is 400 invalidFilter (RFC 7644 §3.4.2.2)."""
    assert _error(directory, filter=expression)["scimType"] == "invalidFilter"


def test_filter_size_and_depth_limits(directory: Directory) -> None:
    """Filters over 4 KiB or nested deeper than 50 are 400 invalidFilter; a 4 KiB chain still works."""
    long_value = "x" * 4100
    assert _error(directory, filter=f'userName eq "{long_value}"')["scimType"] == "invalidFilter"
    nested = "not (" * 51 + 'userName pr' + ")" * 51
    assert _error(directory, filter=nested)["scimType"] == "invalidFilter"
    chain = " or ".join(f'userName eq "user{i}@example.com"' for i in range(100))
    assert len(chain.encode()) < 4096
    assert _found(directory, chain + ' or userName eq "dave@example.com"') == {"dave"}


def test_test_connection_filter_returns_empty_list(directory: Directory) -> None:
    """Entra's Test Connection (identity-providers.md §1): a random GUID userName gives 200 and an empty
    list."""
    body = _list(directory, filter='userName eq "0f8fad5b-d9cb-469f-a165-70867728950e"')
    assert (body["totalResults"], body["Resources"], body["startIndex"]) == (0, [], 1)


# -- sorting -------------------------------------------------------------------------------


def _order(directory: Directory, **params: Any) -> list[str]:
    body = _list(directory, **params)
    by_id = {value: key for key, value in directory.users.items()}
    return [by_id[r["id"]] for r in body["Resources"]]


def test_sort_by_display_name_nulls_last_case_insensitive(directory: Directory) -> None:
    """sortBy displayName ascending: case-insensitive order, unassigned last (RFC 7644 §3.4.2.3)."""
    assert _order(directory, sortBy="displayName") == ["Alice", "bob", "carol", "jürgen", "dave"]
    assert _order(directory, sortBy="DISPLAYNAME", sortOrder="descending") == [
        "dave", "jürgen", "carol", "bob", "Alice"]


def test_sort_by_sub_attribute_extension_and_meta(directory: Directory) -> None:
    """sortBy name.familyName, a URN-qualified extension attribute and meta.created (RFC 7644 §3.4.2.3)."""
    assert _order(directory, sortBy="name.familyName")[:3] == ["carol", "Alice", "bob"]
    assert _order(directory, sortBy=f"{ENTERPRISE}:employeeNumber")[:2] == ["bob", "Alice"]
    created = _order(directory, sortBy="meta.created")
    assert created == list(PEOPLE)


def test_sort_ties_are_broken_by_id(directory: Directory) -> None:
    """Equal sort keys are ordered by id, so pages never overlap (RFC 7644 §3.4.2.4)."""
    ties = _order(directory, sortBy="title")[2:]  # carol, dave, jürgen: no title
    assert ties == sorted(ties, key=lambda name: directory.users[name])


@pytest.mark.parametrize("sort_by", ["nosuch", "name", "name.nosuch", "emails.nosuch", "addresses", "groups",
                                     "x y"])
def test_sort_by_unsortable_attribute_is_400(directory: Directory, sort_by: str) -> None:
    """sortBy an unknown attribute, a complex one without a sub-attribute, or a multi-valued one
    without a value to sort by is 400 invalidValue (RFC 7644 §3.4.2.3), and the detail speaks of
    sortBy, naming it (not of a filter the request did not send)."""
    error = _error(directory, sortBy=sort_by)
    assert error["status"] == "400" and error["scimType"] == "invalidValue"
    assert error["detail"].startswith(f"sortBy {sort_by!r}") and "filter" not in error["detail"]


def test_sort_by_multi_valued_uses_the_primary_else_the_first_value(live_server: LiveServer) -> None:
    """RFC 7644 §3.4.2.3: a multi-valued sortBy orders by the primary value, else the first one;
    resources without one sort last ascending (first descending); strings ignore case."""
    tenant = make_tenant(live_server)
    ids = {}
    amy = {"value": "Amy@example.com", "primary": True}
    for name, emails in (("u1", [{"value": "zed@example.com"}, amy]),
                         ("u2", [{"value": "Mia@example.com"}, {"value": "bea@example.com"}]),
                         ("u3", [{"value": "cat@example.com", "primary": True}]),
                         ("u4", [])):
        ids[tenant.create_user(f"{name}@example.com", emails=emails)["id"]] = name
    for sort_by in ("emails", "emails.value"):
        ascending = tenant.get("/Users", params={"sortBy": sort_by}).json()["Resources"]
        assert [ids[r["id"]] for r in ascending] == ["u1", "u3", "u2", "u4"]
        descending = tenant.get("/Users", params={"sortBy": sort_by, "sortOrder": "descending"}).json()
        assert [ids[r["id"]] for r in descending["Resources"]] == ["u4", "u2", "u3", "u1"]
    searched = tenant.post("/Users/.search", json={"sortBy": "emails", "startIndex": 2, "count": 2}).json()
    assert [ids[r["id"]] for r in searched["Resources"]] == ["u3", "u2"]


def test_sort_order_other_than_ascending_descending_is_400(directory: Directory) -> None:
    """sortOrder must be ascending or descending (RFC 7644 §3.4.2.3)."""
    assert _error(directory, sortBy="userName", sortOrder="up")["scimType"] == "invalidValue"


# -- paging --------------------------------------------------------------------------------


def test_paging_counts_all_matches_and_pages_stably(directory: Directory) -> None:
    """totalResults counts every match, pages follow one order without overlap (C28, RFC 7644 §3.4.2.4)."""
    seen = []
    for start in (1, 3, 5):
        body = _list(directory, sortBy="userName", startIndex=start, count=2)
        assert (body["totalResults"], body["startIndex"]) == (5, start)
        assert body["itemsPerPage"] == len(body["Resources"])
        seen += [r["id"] for r in body["Resources"]]
    assert len(seen) == len(set(seen)) == 5


def test_paging_start_index_below_one_and_count_zero(directory: Directory) -> None:
    """startIndex < 1 means 1; count=0 gives only totalResults; a large count is clamped (§3.4.2.4)."""
    body = _list(directory, startIndex=0, count=2)
    assert body["startIndex"] == 1 and body["itemsPerPage"] == 2
    body = _list(directory, startIndex=-5, count=0)
    assert (body["totalResults"], body["Resources"], body["itemsPerPage"]) == (5, [], 0)
    body = _list(directory, count=10**9)
    assert body["totalResults"] == 5 == len(body["Resources"])
    assert _list(directory, startIndex=6)["Resources"] == []


def test_filtered_paging_total_is_all_matches(directory: Directory) -> None:
    """A filtered page reports every match in totalResults (C28: sw and ew with count=2)."""
    body = _list(directory, filter='userName ew "@example.com" and not (userName sw "j")', count=2)
    assert (body["totalResults"], len(body["Resources"])) == (4, 2)


def test_service_provider_config_advertises_sort_and_max_results(directory: Directory) -> None:
    """sort.supported and filter.maxResults are advertised (RFC 7643 §5)."""
    config = directory.tenant.get("/ServiceProviderConfig").json()
    assert config["sort"]["supported"] is True
    assert config["filter"]["supported"] is True and config["filter"]["maxResults"] >= 1


# -- projection ----------------------------------------------------------------------------


def test_attributes_on_list_keep_always_returned(directory: Directory) -> None:
    """attributes=userName,name.givenName keeps those plus id, schemas, meta.resourceType (§3.4.2.5)."""
    body = _list(directory, filter='userName eq "alice@example.com"', attributes="USERNAME,Name.GivenName")
    (alice,) = body["Resources"]
    assert set(alice) == {"schemas", "id", "meta", "userName", "name"}
    assert alice["name"] == {"givenName": "Alice"} and alice["meta"] == {"resourceType": "User"}


def test_attributes_with_urn_and_multi_valued_sub_attribute(directory: Directory) -> None:
    """attributes with a URN-qualified sub-attribute and emails.value (RFC 7644 §3.10, §3.4.2.5)."""
    alice = directory.users["Alice"]
    response = directory.tenant.get(f"/Users/{alice}",
                                    params={"attributes": f"{ENTERPRISE}:manager.value,emails.value"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body[ENTERPRISE] == {"manager": {"value": "mgr-1"}}
    assert body["emails"] == [{"value": "Alice@Example.com"}, {"value": "alice@example.org"}]
    assert "userName" not in body and body["id"] == alice


def test_excluded_attributes_on_list_and_get(directory: Directory) -> None:
    """excludedAttributes removes the named attributes but never id or schemas (RFC 7644 §3.4.2.5)."""
    body = _list(directory, filter='userName eq "alice@example.com"', excludedAttributes="emails,id,schemas,"
                 + ENTERPRISE)
    (alice,) = body["Resources"]
    assert "emails" not in alice and ENTERPRISE not in alice
    assert alice["id"] == directory.users["Alice"] and alice["schemas"]
    assert alice["userName"] == "Alice@Example.com"


def test_excluded_members_on_groups(directory: Directory) -> None:
    """Entra's ``excludedAttributes=members&filter=displayName eq`` (C21, docs/identity-providers.md §3)."""
    body = _list(directory, "/Groups", excludedAttributes="members", filter='displayName eq "Staff Team"')
    (group,) = body["Resources"]
    assert "members" not in group and group["displayName"] == "Staff Team"


def test_projection_on_post_put_patch_responses(tenant: Tenant) -> None:
    """attributes applies to POST, PUT and PATCH responses too (RFC 7644 §3.9)."""
    body = {"schemas": [USER], "userName": "pat@example.com", "displayName": "Pat", "title": "T"}
    created = tenant.post("/Users", json=body, params={"attributes": "displayName"})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"schemas", "id", "meta", "displayName"}
    user_id = created.json()["id"]
    replaced = tenant.put(f"/Users/{user_id}", json={**body, "title": "U"},
                          params={"excludedAttributes": "title"})
    assert replaced.status_code == 200, replaced.text
    assert "title" not in replaced.json() and replaced.json()["displayName"] == "Pat"
    patched = tenant.patch(f"/Users/{user_id}", params={"attributes": "title"}, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "V"}]})
    assert patched.status_code == 200 and set(patched.json()) == {"schemas", "id", "meta", "title"}


# -- .search -------------------------------------------------------------------------------


def test_users_search_same_semantics_as_get(directory: Directory) -> None:
    """POST /Users/.search with a SearchRequest answers like GET (RFC 7644 §3.4.3)."""
    response = directory.tenant.post("/Users/.search", json={
        "schemas": [SEARCH], "filter": 'emails co "example.org"', "sortBy": "userName",
        "sortOrder": "descending", "startIndex": 1, "count": 1, "attributes": ["userName"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == 2
    assert [r["userName"] for r in body["Resources"]] == ["bob@example.com"]
    assert set(body["Resources"][0]) == {"schemas", "id", "meta", "userName"}


def test_root_search_spans_users_and_groups(directory: Directory) -> None:
    """POST /.search returns Users and Groups in one ListResponse (RFC 7644 §3.4.3)."""
    response = directory.tenant.post("/.search", json={"schemas": [SEARCH], "filter": 'displayName sw "a"'})
    assert response.status_code == 200, response.text
    body = response.json()
    found = {(r["meta"]["resourceType"], r["id"]) for r in body["Resources"]}
    assert found == {("User", directory.users["Alice"])}
    response = directory.tenant.post("/.search", json={"filter": 'displayName co "e"', "count": 3,
                                                       "attributes": ["displayName"]})
    body = response.json()
    assert body["totalResults"] == 5  # Alice, bob, jürgen; Staff Team, Empty
    assert [r["meta"]["resourceType"] for r in body["Resources"]] == ["User", "User", "User"]
    second = directory.tenant.post("/.search", json={"filter": 'displayName co "e"', "startIndex": 3}).json()
    assert [r["meta"]["resourceType"] for r in second["Resources"]] == ["User", "Group", "Group"]


def test_root_search_attribute_of_one_type_is_unassigned_in_the_other(directory: Directory) -> None:
    """An attribute only Users have is unassigned for Groups (§3.4.2.1); unknown everywhere is 400."""
    either = 'userName eq "dave@example.com" or members pr'
    body = directory.tenant.post("/.search", json={"filter": either}).json()
    assert {r["id"] for r in body["Resources"]} == {directory.users["dave"], directory.groups["Staff Team"]}
    body = directory.tenant.post("/.search", json={"filter": "not (userName pr)"}).json()
    assert {r["meta"]["resourceType"] for r in body["Resources"]} == {"Group"}
    body = directory.tenant.post("/.search", json={"filter": 'meta.resourceType eq "Group"'}).json()
    assert {r["id"] for r in body["Resources"]} == set(directory.groups.values())
    response = directory.tenant.post("/.search", json={"filter": 'nosuch eq "x"'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


def test_root_search_sort_by_of_one_type_sorts_it_and_unknown_is_400(directory: Directory) -> None:
    """sortBy an attribute only Users have sorts the Users (Groups keep their order); a sortBy
    no type has is 400 invalidValue, as on /Users (RFC 7644 §3.4.2.3, §3.4.3)."""
    body = directory.tenant.post("/.search", json={"sortBy": "userName", "sortOrder": "descending",
                                                   "count": 1000}).json()
    names = [r["userName"] for r in body["Resources"] if r["meta"]["resourceType"] == "User"]
    assert names == sorted(names, key=str.lower, reverse=True)
    for sort_by in ("nosuch", "name.nosuch", "x y"):
        response = directory.tenant.post("/.search", json={"sortBy": sort_by})
        assert response.status_code == 400 and response.json()["scimType"] == "invalidValue", sort_by


def test_root_search_projection_names_of_one_type_are_ignored_for_the_other(directory: Directory) -> None:
    """``attributes=["members"]`` across types: Groups keep members, Users only the always-returned
    attributes; a name no type has is 400 (RFC 7644 §3.4.3, §3.9)."""
    body = directory.tenant.post("/.search", json={"attributes": ["members"]}).json()
    kinds = {r["meta"]["resourceType"] for r in body["Resources"]}
    assert kinds == {"User", "Group"}
    for resource in body["Resources"]:
        extra = set(resource) - {"schemas", "id", "meta"}
        assert extra <= ({"members"} if resource["meta"]["resourceType"] == "Group" else set())
    staff = next(r for r in body["Resources"] if r["id"] == directory.groups["Staff Team"])
    assert staff["members"]
    body = directory.tenant.post("/.search", json={"excludedAttributes": ["members", "userName"]}).json()
    assert all("members" not in r and "userName" not in r for r in body["Resources"])
    assert any("displayName" in r for r in body["Resources"])
    response = directory.tenant.post("/.search", json={"attributes": ["nosuch"]})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
