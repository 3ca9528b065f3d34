"""SCIM Users of a workspace: create, read, list, replace, patch, delete (RFC 7644 §3.3-§3.6).

Each function runs inside the caller's transaction and either completes or raises a SCIM
error, so a failed request changes nothing. Workspace rules applied here: email domains must be
verified (services.domains); a member is identified by its SCIM ``id``, never by its email.

Versions (RFC 7644 §3.14): a user's ETag is its own version plus a digest of its ``groups``
(scim.serialize.derived_version), so a group PATCH adding or removing the user, or a group
renamed, changes the user's ETag without writing the user. A change of what the user's groups
show of it (``display``: displayName, else userName) or its deletion bumps those groups'
versions (storage.groups.touch_containing).
"""

from __future__ import annotations

from typing import Any

from scim2_models.path.expressions import CompareOperator, Comparison
from sqlalchemy.orm import Session

from scimgate.events import catalogue, outbox
from scimgate.scim.errors import NotFoundException
from scimgate.scim.params import ListQuery, is_unique_user_lookup
from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import USER_SCHEMA, user_schema
from scimgate.scim.serialize import StoredResource, derived_version, list_response, to_scim
from scimgate.services import changes, leaving, roles, seats, sessions
from scimgate.services.domains import check_member_domains
from scimgate.services.groups import emit_left_containing
from scimgate.services.resources import Projection, Written, check_if_match, compile_order, compile_where
from scimgate.storage import groups as group_store
from scimgate.storage import members as store
from scimgate.storage.driver_reads import Reads, session_of
from scimgate.storage.filter_sql import parse_filter
from scimgate.storage.mapping import USER_MAPPING
from scimgate.storage.models import Member, Workspace

WHOLE = Projection()
"""No ``attributes``/``excludedAttributes``: the whole resource."""


def _groups(session: Session, member: Member) -> list[tuple[str, str]]:
    return store.groups_of(session, member.workspace_id, [member.id])[member.id]


def _version(member: Member, groups: list[tuple[str, str]]) -> str:
    """The version of the member's representation: its own and its ``groups``'."""
    return derived_version(member.version, groups)


def _render(member: Member, base_url: str, groups: list[tuple[str, str]]) -> dict[str, Any]:
    return _render_stored(store.stored(member), base_url, groups)


def _render_stored(own: StoredResource, base_url: str, groups: list[tuple[str, str]]) -> dict[str, Any]:
    """The SCIM representation of a member's stored view and its direct ``groups``; its version
    is the member's own and its groups' (``derived_version``)."""
    extra = {
        "groups": [
            {"value": gid, "display": display, "$ref": f"{base_url}/Groups/{gid}", "type": "direct"}
            for gid, display in groups
        ]
        or None
    }
    stored = StoredResource(own.id, own.document, derived_version(int(own.version), groups), own.created,
                            own.last_modified)
    return to_scim(user_schema(), stored, base_url, extra)


def _end_sessions_if_inactive(session: Session, member: Member) -> None:
    """A member deactivated (``active`` false) or deleted by SCIM loses every sign-in session at
    once, in the same transaction (issue 18; services.sessions)."""
    if not member.active:
        sessions.revoke_subject_sessions(session, workspace_id=member.workspace_id, subject_kind="member",
                                         subject_id=member.id)


def _written(session: Session, member: Member, base_url: str, projection: Projection) -> Written:
    return _as_written(_render(member, base_url, _groups(session, member)), projection)


def _as_written(body: dict[str, Any], projection: Projection) -> Written:
    return Written(projection.apply(body, user_schema()), body["meta"]["version"], body["meta"]["location"])


def _changed(session: Session, member: Member, before: dict[str, Any], base_url: str,
             projection: Projection) -> Written:
    """After a stored change: the events it makes (events.catalogue.member_events), each with
    the new representation, which is also the response's."""
    body = _render(member, base_url, _groups(session, member))
    after = member.document
    for event_type in catalogue.member_events(before, after):
        data: dict[str, Any] = {"resource": body}
        if event_type == catalogue.MEMBER_UPDATED:
            data = catalogue.member_update(body, before, after, catalogue.changed_paths(before, after))
        elif event_type == catalogue.MEMBER_EMAIL_CHANGED:
            data = {"resource": body, "before": catalogue.emails(before), "after": catalogue.emails(after)}
        outbox.emit(session, member.workspace_id, event_type, "User", member.id, data)
    return _as_written(body, projection)


def _load(session: Session, workspace: Workspace, member_id: str, *, lock: str | None = None) -> Member:
    member = store.load(session, workspace.id, member_id, lock=lock)
    if member is None:
        raise NotFoundException(detail=f"User {member_id} not found.")
    return member


def _check_if_match(session: Session, member: Member, if_match: str | None) -> None:
    if if_match is not None:
        check_if_match(if_match, _version(member, _groups(session, member)))


def _display(document: dict[str, Any]) -> Any:
    """What a group's ``members`` show of a user (storage.groups.members_of)."""
    return document.get("displayName") or document.get("userName")


def _save(session: Session, member: Member, document: dict[str, Any]) -> None:
    """Store a changed document; the groups showing the member's ``display`` get a new version
    when it changed."""
    renamed = _display(document) != _display(member.document)
    store.save(session, member, document)
    if renamed:
        group_store.touch_containing(session, member.workspace_id, member.id)


def _write(session: Session, workspace: Workspace, member: Member, document: dict[str, Any]) -> None:
    """Store a PUT/PATCH result: a reactivation takes a seat first (services.seats); then the
    document, the sessions of a deactivated member, the member's role and the last-admin guard
    (services.roles: a deactivated or demoted last admin is 400 ``mutability``)."""
    was_admin = roles.is_admin(member)
    if not member.active and document.get("active") is not False:
        seats.take_seat(session, workspace)
    _save(session, member, document)
    _end_sessions_if_inactive(session, member)
    with roles.as_scim_error():
        roles.after_member_write(session, workspace, member, was_admin=was_admin)


def create_user(session: Session, workspace: Workspace, body: Any, base_url: str,
                projection: Projection = WHOLE) -> Written:
    """POST /Users (RFC 7644 §3.3): 409 ``uniqueness`` if the userName exists (any case);
    400 ``invalidValue`` for a bad value or an email outside the verified domains; 400 when an
    active member would pass the seat limit (services.seats). A user sent
    without ``active`` is active and reads back with ``active: true`` (RFC 7643 §4.1.1 gives no
    default; every identity provider treats an absent value as active). The same person posted
    again while in Recently removed is restored under its SCIM id (services.leaving)."""
    document = normalise_document(body, user_schema())
    document.setdefault("active", True)
    check_member_domains(session, workspace, document)
    returning = leaving.find_returning(session, workspace, document)
    if returning is not None:
        with roles.as_scim_error():
            leaving.restore_by_post(session, workspace, returning, document)
        body = _render(returning, base_url, _groups(session, returning))
        outbox.emit(session, workspace.id, catalogue.MEMBER_CREATED, "User", returning.id, {"resource": body})
        return _as_written(body, projection)
    if document["active"] is not False:
        seats.take_seat(session, workspace)
    member = store.insert(session, workspace.id, document)
    roles.after_member_write(session, workspace, member, was_admin=False, created=True)
    changes.note(session, changes.user_change(None, document))
    body = _render(member, base_url, [])  # a new member is in no group yet (nothing to read)
    outbox.emit(session, workspace.id, catalogue.MEMBER_CREATED, "User", member.id, {"resource": body})
    return _as_written(body, projection)


def get_user(session: Reads, workspace: Workspace, member_id: str, base_url: str,
             projection: Projection = WHOLE) -> Written:
    """GET /Users/{id} (RFC 7644 §3.4.1); 404 if the id is not this workspace's."""
    found = store.load_with_groups(session, workspace.id, member_id)
    if found is None:
        raise NotFoundException(detail=f"User {member_id} not found.")
    own, groups = found
    return _as_written(_render_stored(own, base_url, groups), projection)


def list_users(session: Reads, workspace: Workspace, query: ListQuery, base_url: str) -> dict[str, Any]:
    """GET /Users and POST /Users/.search (RFC 7644 §3.4.2, §3.4.3): a ListResponse. Through
    DriverReads only a unique lookup (:func:`_look_up`); any other query is Unsupported there."""
    schema = user_schema()
    key = _unique_key(query)
    if key is not None:
        return _look_up(session, workspace, query, base_url, *key)
    where = compile_where(query, schema, USER_MAPPING, workspace_id=workspace.id)
    order = compile_order(query, schema, USER_MAPPING)
    total, rows = store.query(session_of(session), workspace.id, where, order, query.start_index - 1,
                              query.count)
    groups = store.groups_of(session_of(session), workspace.id, [m.id for m in rows])
    projection = Projection.of(query)
    resources = [projection.apply(_render(m, base_url, groups[m.id]), schema) for m in rows]
    return list_response(resources, total, query.start_index)


def _unique_key(query: ListQuery) -> tuple[str, str] | None:
    """(``userName`` or ``id``, the value) when the query is one ``eq`` comparison of either
    with a string and no ``sortBy`` (scim.params.is_unique_user_lookup, then the parsed filter),
    else None. The filter is parsed and its literals checked as :func:`compile_where` would."""
    if query.sort_by or not is_unique_user_lookup(query) or query.filter is None:
        return None
    node = parse_filter(query.filter)
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    path = node.attr_path
    foreign = path.uri is not None and user_schema().canonical_urn(path.uri) != USER_SCHEMA
    if path.sub_attr is not None or foreign:
        return None
    name = path.attr.lower()
    return ("userName", node.value) if name == "username" else ("id", node.value) if name == "id" else None


def _look_up(session: Reads, workspace: Workspace, query: ListQuery, base_url: str, attribute: str,
             value: str) -> dict[str, Any]:
    """The ListResponse of ``filter userName eq`` or ``id eq`` (Entra ID's and Okta's lookup before
    every create): the one statement of a GET by id, through the unique index of the attribute
    (userName is case-insensitive, RFC 7643 §4.1.1: compared lower-cased, as the filter
    compiler does; id is case-exact). The same answer as the general path: at most one
    match, paged by ``startIndex`` and ``count``, projected."""
    if attribute == "userName":
        found = store.find_with_groups(session, workspace.id, value.lower())
    else:
        found = store.load_with_groups(session, workspace.id, value)
    resources = []
    if found is not None and query.start_index == 1 and query.count > 0:
        own, groups = found
        resources = [Projection.of(query).apply(_render_stored(own, base_url, groups), user_schema())]
    return list_response(resources, 0 if found is None else 1, query.start_index)


def replace_user(session: Session, workspace: Workspace, member_id: str, body: Any, base_url: str,
                 if_match: str | None = None, projection: Projection = WHOLE) -> Written:
    """PUT /Users/{id} (RFC 7644 §3.5.1): replaces every writable attribute; readOnly ones in
    the body (id, meta, groups) are ignored. A body without ``active`` keeps the member's current
    state: Okta's GET-modify-PUT may omit it, and must not suspend anyone by doing so
    (docs/identity-providers.md §7; ``active`` has no default in RFC 7643 §4.1.1)."""
    member = _load(session, workspace, member_id, lock=store.LOCK_WRITE)
    _check_if_match(session, member, if_match)
    document = normalise_document(body, user_schema())
    document.setdefault("active", member.active)
    check_member_domains(session, workspace, document, member.document)
    changes.note(session, changes.user_change(member.document, document))
    if document != member.document:
        before = member.document
        _write(session, workspace, member, document)
        return _changed(session, member, before, base_url, projection)
    return _written(session, member, base_url, projection)


def patch_user(session: Session, workspace: Workspace, member_id: str, body: Any, base_url: str,
               if_match: str | None = None, projection: Projection = WHOLE) -> Written:
    """PATCH /Users/{id} (RFC 7644 §3.5.2): all operations apply or none; a PATCH that changes
    nothing keeps the version."""
    operations = normalise_patch_request(body)
    member = _load(session, workspace, member_id, lock=store.LOCK_WRITE)
    _check_if_match(session, member, if_match)
    result = apply_patch(member.document, operations, user_schema(), resource_id=member.id,
                         replace_unmatched="create" if workspace.entra_replace_creates else "noTarget")
    changes.note(session, changes.user_change(member.document, result.document))
    if result.changed:
        check_member_domains(session, workspace, result.document, member.document)
        before = member.document
        _write(session, workspace, member, result.document)
        return _changed(session, member, before, base_url, projection)
    return _written(session, member, base_url, projection)


def delete_user(session: Session, workspace: Workspace, member_id: str, if_match: str | None = None,
                base_url: str = "") -> None:
    """DELETE /Users/{id} (RFC 7644 §3.6): under the workspace's deletion policy the member goes
    to Recently removed or is purged with what it owns (services.leaving); either way it is
    gone from the SCIM view, its groups get a new version and its sessions end. Locks the
    member's groups before the member (the lock order of storage.groups); a delete that lost a
    race to another delete is 404. Deleting the last admin is 400 ``mutability``. Emits
    ``group.member_removed`` per group it was in, then ``member.deleted`` with its last
    representation (``base_url`` makes its ``meta.location``)."""
    _load(session, workspace, member_id)
    containing = group_store.lock_containing(session, workspace.id, member_id)
    member = _load(session, workspace, member_id, lock=store.LOCK_DELETE)
    groups = _groups(session, member)
    if if_match is not None:
        check_if_match(if_match, _version(member, groups))
    last = _render(member, base_url, groups)
    changes.note(session, changes.user_change(member.document, None))
    with roles.as_scim_error():
        leaving.remove(session, workspace, member)
    emit_left_containing(session, workspace.id, member.id, "User", containing)
    outbox.emit(session, workspace.id, catalogue.MEMBER_DELETED, "User", member.id, {"resource": last})


def restore_removed(session: Session, workspace: Workspace, member_id: str, by: str,
                    base_url: str = "") -> tuple[Member, list[str]]:
    """An admin's restore from Recently removed (services.leaving.restore, with the groups that
    still exist): recorded in the provisioning log as done by ``by`` (the admin's email, or the
    admin key) and emitted as ``member.restored`` with the representation (``base_url`` makes
    its ``meta.location``) and the rejoined group ids. Returns the member and those ids;
    UnknownMember, seats.SeatLimitReached, UniquenessException as leaving.restore."""
    member, rejoined = leaving.restore(session, workspace, member_id, with_groups=True)
    leaving.admin_record(session, workspace.id, member, {"kind": "restored", "by": by[:320],
                                                         "groups": len(rejoined)})
    outbox.emit(session, workspace.id, catalogue.MEMBER_RESTORED, "User", member.id,
                {"resource": _render(member, base_url, _groups(session, member)), "groups": rejoined})
    return member, rejoined
