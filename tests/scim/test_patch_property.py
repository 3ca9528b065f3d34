"""Differential property test: our PATCH engine against scim2-models' ``PatchOp.patch`` (RFC 7644 §3.5.2).

For hypothesis-generated users and PatchOps inside the subset both implement, the canonical
document we produce equals the one scim2-models produces (run with the policy that creates the
element an unmatched filter describes and reads a remove's value as a filter, the two Entra
tolerances our engine always has), and both either accept or reject the request.

Deliberate differences, kept out of the generated subset and tested elsewhere:

- removing a sub-attribute through a filter drops an element left with only type/primary
  (test_patch_remove.py); scim2-models keeps ``{"type": ..., "primary": ...}``;
- the manager as a bare string (C36) and ``{"value": ""}`` clearing it (test_patch_replace.py);
  scim2-models requires an object;
- one operation writing ``primary: true`` on several elements (``emails.primary``, or a filter
  matching several): scim2-models fails that operation or keeps the last one primary; we check
  "at most one primary" (RFC 7643 §2.4) once, after all operations, like every other rule. The
  generator keeps one element per ``type`` so a filter never selects several;
- an added list holding two values equal but for case: we add one (the second already is
  there, RFC 7644 §3.5.2.1), scim2-models adds both;
- ``id`` equal to the resource id is ignored (Okta); scim2-models answers mutability;
- scim2-models normalises the domain of an email address (pydantic EmailStr); we keep every
  string exactly as sent (docs/identity-providers.md §2.1), so generated domains are lower case;
- Group ``members`` become a MemberPlan (test_patch_members.py);
- operations on ``password``/``schemas`` are ignored; unknown attributes are invalidPath in both,
  but our error types are SCIM exceptions where scim2-models raises pydantic ValidationError.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, PatchOp, SCIMException, ScimPolicy, User

from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import ENTERPRISE_USER_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA, user_schema

USER_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
EXT = ENTERPRISE_USER_SCHEMA
ReferenceUser = User[EnterpriseUser]
POLICY = ScimPolicy(
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
)

words = st.text(alphabet="abcXYZ", min_size=1, max_size=4)
types = st.sampled_from(["work", "home", "other"])
# A tiny alphabet, so that values equal but for case (RFC 7643 §2.3.1) are frequent.
addresses = st.builds(lambda local: f"{local}@example.com", st.text(alphabet="aAbB", min_size=1, max_size=2))


@st.composite
def email_lists(draw: st.DrawFn, max_size: int = 3, typed: bool = True) -> list[dict[str, Any]]:
    """Emails with at most one primary and, as Entra and Ping keep them (identity-providers.md §2.4 e, §9),
    at most one element per type."""
    emails = []
    free_types = ["work", "home", "other"]
    for _ in range(draw(st.integers(0, max_size))):
        email: dict[str, Any] = {"value": draw(addresses)}
        if typed and free_types and draw(st.booleans()):
            email["type"] = free_types.pop(draw(st.integers(0, len(free_types) - 1)))
        if draw(st.booleans()):
            email["display"] = draw(words)
        emails.append(email)
    with_primary = draw(st.booleans())
    if emails and with_primary:
        emails[draw(st.integers(0, len(emails) - 1))]["primary"] = True
    return emails


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"userName": draw(addresses)}
    for key in ("displayName", "nickName", "title"):
        if draw(st.booleans()):
            body[key] = draw(words)
    if draw(st.booleans()):
        body["active"] = draw(st.booleans())
    name = {key: draw(words) for key in ("givenName", "familyName") if draw(st.booleans())}
    if name:
        body["name"] = name
    emails = draw(email_lists())
    if emails:
        body["emails"] = emails
    extension = {key: draw(words) for key in ("department", "employeeNumber") if draw(st.booleans())}
    if extension:
        body[EXT] = extension
    return normalise_document(body, user_schema())


def _distinct(emails: list[dict[str, Any]]) -> bool:
    """Non-empty, and no two values equal but for case (see the module docstring)."""
    return bool(emails) and len({e["value"].casefold() for e in emails}) == len(emails)


SIMPLE_PATHS = [
    "displayName",
    "nickName",
    "title",
    "name.givenName",
    "name.familyName",
    f"{EXT}:department",
    f"{EXT}:employeeNumber",
    "DisplayName",
    "name.GivenName",
]
REMOVABLE = [
    "displayName",
    "nickName",
    "title",
    "name",
    "name.givenName",
    "emails",
    "active",
    f"{EXT}:department",
    EXT,
    "userName",
]

simple_ops = st.builds(
    lambda op, path, value: {"op": op, "path": path, "value": value},
    st.sampled_from(["add", "replace"]),
    st.sampled_from(SIMPLE_PATHS),
    words,
)
active_ops = st.builds(
    lambda op, value: {"op": op, "path": "active", "value": value},
    st.sampled_from(["add", "replace"]),
    st.one_of(st.booleans(), st.sampled_from(["True", "false", "FALSE", "maybe"])),
)
remove_ops = st.builds(lambda path: {"op": "remove", "path": path}, st.sampled_from(REMOVABLE))
filtered_value_ops = st.builds(
    lambda op, kind, value: {"op": op, "path": f'emails[type eq "{kind}"].value', "value": value},
    st.sampled_from(["add", "replace"]),
    types,
    addresses,
)
filtered_display_ops = st.builds(
    lambda kind, value: {"op": "replace", "path": f'emails[type eq "{kind}"].display', "value": value},
    types,
    words,
)
filtered_primary_ops = st.builds(
    lambda kind: {"op": "replace", "path": f'emails[type eq "{kind}"].primary', "value": True}, types
)
filtered_remove_ops = st.builds(lambda kind: {"op": "remove", "path": f'emails[type eq "{kind}"]'}, types)
value_remove_ops = st.builds(
    lambda value: {"op": "remove", "path": "emails", "value": [{"value": value}]}, addresses
)
list_ops = st.builds(
    lambda op, emails: {"op": op, "path": "emails", "value": emails},
    st.sampled_from(["add", "replace"]),
    email_lists(max_size=2, typed=False).filter(_distinct),
)
pathless_ops = st.builds(
    lambda op, value: {"op": op, "value": value},
    st.sampled_from(["add", "replace"]),
    st.dictionaries(
        st.sampled_from(["displayName", "name.givenName", f"{EXT}:department", "title"]), words, min_size=1
    ),
)
operations = st.lists(
    st.one_of(
        simple_ops,
        active_ops,
        remove_ops,
        filtered_value_ops,
        filtered_display_ops,
        filtered_primary_ops,
        filtered_remove_ops,
        value_remove_ops,
        list_ops,
        pathless_ops,
    ),
    min_size=1,
    max_size=5,
)


def ours(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any] | None:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": ops}
    try:
        return apply_patch(
            document, normalise_patch_request(body), user_schema(), resource_id=USER_ID
        ).document
    except SCIMException:
        return None


def reference(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any] | None:
    payload = {"schemas": [USER_SCHEMA, EXT], **json.loads(json.dumps(document))}
    resource = ReferenceUser.model_validate(payload, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    try:
        patch = PatchOp[ReferenceUser].model_validate(
            {"schemas": [PATCH_OP_SCHEMA], "Operations": ops},
            scim_ctx=Context.RESOURCE_PATCH_REQUEST,
            scim_policy=POLICY,
        )
        patch.patch(resource, scim_policy=POLICY)
    except (SCIMException, ValidationError):
        return None
    dumped = resource.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    return normalise_document(dumped, user_schema())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=users(), ops=operations)
def test_engine_matches_scim2_models(document: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """RFC 7644 §3.5.2: same result (or same refusal) as scim2-models on the shared subset."""
    assert ours(document, ops) == reference(document, ops)


@settings(max_examples=100, deadline=None)
@given(document=users(), ops=operations)
def test_result_is_canonical_and_input_untouched(document: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """The result is a fixed point of normalise_document and the input document is not mutated."""
    before = json.dumps(document, sort_keys=True)
    result = ours(document, ops)
    assert json.dumps(document, sort_keys=True) == before
    if result is not None:
        assert normalise_document(result, user_schema()) == result


member_ids = st.sampled_from(["u1", "u2", "u3", "u4"])
member_ops = st.one_of(
    st.builds(
        lambda ids: {"op": "add", "path": "members", "value": [{"value": i} for i in ids]},
        st.lists(member_ids, min_size=1, max_size=3),
    ),
    st.builds(lambda i: {"op": "remove", "path": f'members[value eq "{i}"]'}, member_ids),
    st.builds(
        lambda ids: {"op": "Remove", "path": "members", "value": [{"value": i} for i in ids]},
        st.lists(member_ids, max_size=3),
    ),
    st.just({"op": "remove", "path": "members"}),
    st.builds(
        lambda ids: {"op": "replace", "path": "members", "value": [{"value": i} for i in ids]},
        st.lists(member_ids, max_size=3),
    ),
)


def _sequential(start: set[str], ops: list[dict[str, Any]]) -> set[str]:
    """The member set after applying the operations one by one (RFC 7644 §3.5.2, identity-providers.md §3)."""
    current = set(start)
    for op in ops:
        ids = {v["value"] for v in op.get("value") or []}
        if op["op"] == "add":
            current |= ids
        elif op["op"] == "replace":
            current = ids
        elif "[" in op["path"]:
            current.discard(op["path"].split('"')[1])
        elif "value" in op:
            current -= ids
        else:
            current = set()
    return current


@settings(max_examples=200, deadline=None)
@given(start=st.sets(member_ids), ops=st.lists(member_ops, min_size=1, max_size=6))
def test_member_plan_equals_sequential_application(start: set[str], ops: list[dict[str, Any]]) -> None:
    """MemberPlan (clear, then remove, then add) gives the set the operations give in order."""
    from scimgate.scim.schema import group_schema

    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": ops}
    result = apply_patch({"displayName": "G"}, normalise_patch_request(body), group_schema(), resource_id="g")
    plan = result.members
    final = set(start)
    if plan is not None:
        assert not set(plan.remove) & {m["value"] for m in plan.add}
        final = (set() if plan.clear else final) - set(plan.remove) | {m["value"] for m in plan.add}
    assert final == _sequential(start, ops)
