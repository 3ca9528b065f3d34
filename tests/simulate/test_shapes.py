"""Request shapes and read-back rules of the simulators, without a server (identity-providers.md §2.4, §4)."""

from __future__ import annotations

from rich.console import Console

from scimgate.simulate.client import split_base_url
from scimgate.simulate.entra import Dialect
from scimgate.simulate.population import ENTERPRISE, MISSING, differences, read_path
from scimgate.simulate.report import Recorder, render_summary

USER = {
    "userName": "ada@example.com",
    "name": {"givenName": "Ada"},
    "emails": [{"type": "work", "value": "ada@example.com"}, {"type": "home", "value": "a@home.example"}],
    ENTERPRISE: {"manager": {"value": "m1"}, "department": "R&D"},
}


def test_legacy_replace_is_one_capitalised_op_per_attribute() -> None:
    """Without the flag: one ``Replace`` per attribute, each with its own path (identity-providers.md
    §2.4(b))."""
    changes = {"displayName": "A", 'emails[type eq "work"].value': "a@x", "name.givenName": "B"}
    ops = Dialect("legacy").replace(changes)
    assert ops == [{"op": "Replace", "path": "displayName", "value": "A"},
                   {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "a@x"},
                   {"op": "Replace", "path": "name.givenName", "value": "B"}]


def test_flag_replace_merges_plain_paths_into_one_pathless_op() -> None:
    """With aadOptscim062020: value-filter paths stay separate, the rest is one pathless replace (§2.4(c))."""
    ops = Dialect("aadOptscim062020").replace({"displayName": "A", 'emails[type eq "work"].value': "a@x",
                                               f"{ENTERPRISE}:department": "D"})
    assert ops == [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@x"},
                   {"op": "replace", "value": {"displayName": "A", f"{ENTERPRISE}:department": "D"}}]


def test_active_and_member_removal_per_dialect() -> None:
    """Legacy sends "False" and ``Remove`` with a value list; the flag sends false and a filter path (§4)."""
    legacy, flag = Dialect("legacy"), Dialect("aadOptscim062020")
    assert legacy.active(False) == [{"op": "Replace", "path": "active", "value": "False"}]
    assert flag.active(False) == [{"op": "replace", "path": "active", "value": False}]
    assert legacy.remove_members(["u1"]) == [{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]
    assert flag.remove_members(["u1"]) == [{"op": "remove", "path": 'members[value eq "u1"]'}]


def test_read_path_resolves_entra_attribute_paths() -> None:
    """Dotted, value-filter and URN-qualified paths resolve; absent ones are MISSING (RFC 7644 §3.10)."""
    assert read_path(USER, "name.givenName") == "Ada"
    assert read_path(USER, 'emails[type eq "work"].value') == "ada@example.com"
    assert read_path(USER, f"{ENTERPRISE}:manager.value") == "m1"
    assert read_path(USER, 'phoneNumbers[type eq "work"].value') is MISSING
    assert read_path(USER, "name.familyName") is MISSING


def test_differences_are_exact() -> None:
    """A value read back in another case counts as a difference: Entra would PATCH again (§2.1)."""
    assert differences({"userName": "ada@example.com", f"{ENTERPRISE}:department": "R&D"}, USER) == []
    assert differences({"userName": "Ada@example.com"}, USER) == [
        "userName: sent 'Ada@example.com', read back 'ada@example.com'"]


def test_base_url_flags_are_kept() -> None:
    """Entra's Tenant URL query flag is split off and re-sent on every request (identity-providers.md §1)."""
    base, flags = split_base_url("http://h/scim/v2/?aadOptscim062020")
    assert (base, flags) == ("http://h/scim/v2", [("aadOptscim062020", "")])


def test_failure_details_are_printed_as_sent_not_read_as_markup() -> None:
    """A server's detail such as ``'phoneNumbers[type eq "work"].value' matches no value`` keeps
    its brackets in the summary table (rich would read ``[type eq "work"]`` as a style tag)."""
    recorder = Recorder()
    detail = """PATCH /Users/1: 'phoneNumbers[type eq "work"].value' matches no value [bold]"""
    recorder.failure("update user", "400", "noTarget", detail)
    console = Console(record=True, width=400)
    render_summary(recorder.summary(), console, "Entra")
    assert detail in console.export_text()
