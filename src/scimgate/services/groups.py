"""SCIM Groups of a workspace: create, read, list, replace, patch, delete (RFC 7644 §3.3-§3.6).

Each function runs inside the caller's transaction and either completes or raises a SCIM
error, so a failed request changes nothing. Workspace rules applied here:

- displayName is unique per workspace, case-insensitive: 409 (Microsoft's SCIM Validator,
  "Create a duplicate Group"); /Schemas publishes it as uniqueness "server" (RFC 7643 §7);
- a member is a User or a Group of the same workspace; any other id is 400 ``invalidValue``
  and the request changes nothing (case C09), checked with one query over the given ids;
- nested groups are stored with type ``Group``; a membership that would make a group contain
  itself (directly or through other groups) is 400 ``invalidValue``;
- membership changes are SQL set operations over the ids a request names (storage.groups):
  a PATCH of one member costs the same in a group of 10 or of 100,000 members;
- ``members`` is read from ``group_member`` only when the response returns it
  (``attributes``/``excludedAttributes``, RFC 7644 §3.9), and then all of it, streamed;
- versions (RFC 7644 §3.14): a change of the group's attributes or membership bumps its
  version; so does what changes its ``members`` from outside: a member deleted or its display
  renamed (services.members), a nested group deleted or renamed (here). The users added or
  removed see it in their ETag, which digests their ``groups`` (services.members);
- concurrency: the lock order and re-check of storage.groups make a membership that names a
  deleted user or group impossible; the loser of such a race gets 400 invalidValue or 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from scimgate.events import catalogue, outbox
from scimgate.scim.errors import InvalidValueException, NotFoundException
from scimgate.scim.params import ListQuery
from scimgate.scim.patch import MemberPlan, apply_patch
from scimgate.scim.projection import wants_attribute
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import group_schema
from scimgate.scim.serialize import etag, list_response, to_scim
from scimgate.services import changes, roles
from scimgate.services.resources import Projection, Written, check_if_match, compile_order, compile_where
from scimgate.storage import groups as store
from scimgate.storage.mapping import GROUP_MAPPING
from scimgate.storage.models import ScimGroup, Workspace

_ENDPOINTS = {"User": "/Users", "Group": "/Groups"}
EVERYTHING = Projection()  # no attributes / excludedAttributes: the default representation


def _wants_members(projection: Projection) -> bool:
    own = projection.for_type(group_schema())
    return wants_attribute(group_schema(), "members", own.attributes, own.excluded)


def _members_by_group(session: Session, workspace_id: str, group_ids: list[str],
                      base_url: str) -> dict[str, list[dict[str, Any]]]:
    """Each group's members as RFC 7643 §4.2 values ``{value, display, $ref, type}``."""
    found: dict[str, list[dict[str, Any]]] = {group_id: [] for group_id in group_ids}
    for group_id, member_id, kind, display in store.members_of(session, workspace_id, group_ids):
        value = {"value": member_id, "display": display, "$ref": f"{base_url}{_ENDPOINTS[kind]}/{member_id}",
                 "type": kind}
        found[group_id].append({key: item for key, item in value.items() if item is not None})
    return found


def _render(group: ScimGroup, base_url: str, projection: Projection,
            members: list[dict[str, Any]] | None) -> dict[str, Any]:
    body = to_scim(group_schema(), store.stored(group), base_url, {"members": members or None})
    return projection.apply(body, group_schema())


def _written(session: Session, group: ScimGroup, base_url: str, projection: Projection) -> Written:
    members = None
    if _wants_members(projection):
        members = _members_by_group(session, group.workspace_id, [group.id], base_url)[group.id]
    return Written(_render(group, base_url, projection, members), etag(group.version),
                   f"{base_url}{group_schema().endpoint}/{group.id}")


def _load(session: Session, workspace: Workspace, group_id: str, *, lock: str | None = None) -> ScimGroup:
    group = store.load(session, workspace.id, group_id, lock=lock)
    if group is None:
        raise NotFoundException(detail=f"Group {group_id} not found.")
    return group


def _document(body: Any) -> dict[str, Any]:
    """The stored document of a POST/PUT body: ``members`` is kept out (it lives in rows);
    unknown ``schemas`` entries (Microsoft's ADSCIM group URI, docs/identity-providers.md §3) are ignored."""
    document = normalise_document(body, group_schema())
    document.pop("members", None)
    return document


def _member_plan(body: dict[str, Any], document: dict[str, Any], resource_id: str) -> MemberPlan:
    """The body's ``members`` as a plan "clear, then add these" (RFC 7644 §3.5.1: PUT replaces
    the list; POST starts from none). The list is read by the PATCH engine as a ``replace`` of
    ``members``, so POST, PUT and PATCH accept exactly the same member shapes."""
    members = next(
        (value for key, value in body.items() if isinstance(key, str) and key.lower() == "members"), None
    )
    result = apply_patch(document, [{"op": "replace", "path": "members", "value": members}], group_schema(),
                         resource_id=resource_id)
    assert result.members is not None  # a members operation always yields a plan
    return result.members


def _apply_members(session: Session, workspace: Workspace, group: ScimGroup,
                   plan: MemberPlan) -> tuple[int, int]:
    """Apply ``plan`` (clear, remove, add: see MemberPlan) to ``group``'s rows and emit one
    ``group.member_removed`` / ``group.member_added`` per row that went / came (in the
    transaction, events.outbox); returns how many rows were added and how many removed. Raises
    InvalidValueException, before changing anything, for an id that is not a User or Group of
    the workspace, a ``type`` that does not match the id, or a cycle."""
    kinds = store.kinds_of(session, workspace.id, [member["value"] for member in plan.add])
    unknown = [member["value"] for member in plan.add if member["value"] not in kinds]
    if unknown:
        raise InvalidValueException(
            detail=f"Not a User or Group of this workspace: {', '.join(unknown[:10])}"
            f"{' ...' if len(unknown) > 10 else ''}; no member was changed."
        )
    for member in plan.add:
        if member["type"] is not None and member["type"] != kinds[member["value"]]:
            raise InvalidValueException(
                detail=f"Member {member['value']} is a {kinds[member['value']]}, not a {member['type']}."
            )
    nested = [member["value"] for member in plan.add if kinds[member["value"]] == "Group"]
    if nested:
        store.lock_nesting(session, workspace.id)
        if store.reaches(session, workspace.id, nested, group.id):
            raise InvalidValueException(
                detail=f"Adding these groups to group {group.id} would make it a member of itself "
                "(nested group cycle); no member was changed."
            )
    removed: store.Removed = []
    added: dict[str, str] = {}
    add_ids = [member["value"] for member in plan.add]
    if plan.clear:
        removed += store.delete_members_except(session, group, add_ids)
    if plan.remove:
        removed += store.delete_members(session, group, plan.remove)
    if plan.add:
        added = store.insert_missing(session, group, {m: kinds[m] for m in add_ids})
    _emit_membership(session, group, removed, added)
    return len(added), len(removed)


def _roles_follow(session: Session, workspace: Workspace, group: ScimGroup, plan: MemberPlan | None,
                  changed: int) -> None:
    """A membership change of a group mapped to a role (``group.role``) brings the roles of the
    members it added or removed up to date (a replaced list: every member's, in SQL), with the
    last-admin guard (400 ``mutability``). An unmapped group costs nothing more: its row,
    already read, says it is not mapped."""
    if group.role is None or not changed or plan is None:
        return
    ids = None if plan.clear else [*(member["value"] for member in plan.add), *plan.remove]
    with roles.as_scim_error():
        roles.recompute(session, workspace, ids)


def _emit_membership(session: Session, group: ScimGroup, removed: store.Removed,
                     added: dict[str, str]) -> None:
    summary = catalogue.group_summary(group.id, group.display_name)
    changes = ((catalogue.GROUP_MEMBER_REMOVED, removed), (catalogue.GROUP_MEMBER_ADDED, list(added.items())))
    for event_type, rows in changes:
        outbox.emit_many(session, group.workspace_id, event_type, "Group", group.id,
                         [{"group": summary, "member": {"id": member_id, "type": kind}}
                          for member_id, kind in rows])


def emit_left_containing(session: Session, workspace_id: str, member_id: str, kind: str,
                         group_ids: list[str]) -> None:
    """``group.member_removed`` for each group in ``group_ids`` that contained ``member_id`` (a
    ``User`` or ``Group`` being deleted: the database's cascade removes those rows)."""
    names = store.display_names(session, workspace_id, group_ids)
    for group_id in group_ids:
        outbox.emit(session, workspace_id, catalogue.GROUP_MEMBER_REMOVED, "Group", group_id,
                    {"group": catalogue.group_summary(group_id, names.get(group_id, "")),
                     "member": {"id": member_id, "type": kind}})


def _representation(group: ScimGroup, base_url: str) -> dict[str, Any]:
    """The group as events carry it: its SCIM representation without ``members``."""
    return to_scim(group_schema(), store.stored(group), base_url, {"members": None})


def _save(session: Session, group: ScimGroup, document: dict[str, Any], base_url: str) -> None:
    """Store a changed document and emit ``group.updated``; a new displayName also gives the
    groups that contain this one a new version (their ``members[].display`` changed)."""
    before = group.document
    renamed = document.get("displayName") != before.get("displayName")
    store.save(session, group, document)
    if renamed:
        store.touch_containing(session, group.workspace_id, group.id)
    paths = catalogue.changed_paths(before, document)
    outbox.emit(session, group.workspace_id, catalogue.GROUP_UPDATED, "Group", group.id,
                {"resource": _representation(group, base_url), "changed": paths,
                 "before": {p: catalogue.value_at(before, p) for p in paths},
                 "after": {p: catalogue.value_at(document, p) for p in paths}})


def create_group(session: Session, workspace: Workspace, body: Any, base_url: str,
                 projection: Projection = EVERYTHING) -> Written:
    """POST /Groups (RFC 7644 §3.3), empty or with members: 409 ``uniqueness`` if the
    displayName exists (any case); 400 ``invalidValue`` for a bad value or an unknown member."""
    document = _document(body)
    group = store.insert_group(session, workspace.id, document)
    outbox.emit(session, workspace.id, catalogue.GROUP_CREATED, "Group", group.id,
                {"resource": _representation(group, base_url)})
    added, _ = _apply_members(session, workspace, group, _member_plan(body, document, group.id))
    changes.note(session, changes.group_change(None, document, added))
    return _written(session, group, base_url, projection)


def get_group(session: Session, workspace: Workspace, group_id: str, base_url: str,
              projection: Projection = EVERYTHING) -> Written:
    """GET /Groups/{id} (RFC 7644 §3.4.1); 404 if the id is not this workspace's. With
    ``excludedAttributes=members`` (Entra, docs/identity-providers.md §3) group_member is not read."""
    return _written(session, _load(session, workspace, group_id), base_url, projection)


def list_groups(session: Session, workspace: Workspace, query: ListQuery, base_url: str) -> dict[str, Any]:
    """GET /Groups and POST /Groups/.search (RFC 7644 §3.4.2, §3.4.3): a ListResponse.

    The page's members (when returned) are read in one streamed query for all its groups.
    """
    schema = group_schema()
    where = compile_where(query, schema, GROUP_MAPPING, workspace_id=workspace.id)
    order = compile_order(query, schema, GROUP_MAPPING)
    total, rows = store.query(session, workspace.id, where, order, query.start_index - 1, query.count)
    projection = Projection.of(query)
    members: dict[str, list[dict[str, Any]]] = {}
    if rows and _wants_members(projection):
        members = _members_by_group(session, workspace.id, [g.id for g in rows], base_url)
    resources = [_render(g, base_url, projection, members.get(g.id)) for g in rows]
    return list_response(resources, total, query.start_index)


def replace_group(session: Session, workspace: Workspace, group_id: str, body: Any, base_url: str,
                  if_match: str | None = None, projection: Projection = EVERYTHING) -> Written:
    """PUT /Groups/{id} (RFC 7644 §3.5.1): replaces displayName, externalId and the member set
    (absent ``members`` empties it); the member diff runs in SQL. Unchanged: same version."""
    group = _load(session, workspace, group_id, lock=store.LOCK_WRITE)
    check_if_match(if_match, group.version)
    document = _document(body)
    plan = _member_plan(body, document, group.id)
    added, removed = _apply_members(session, workspace, group, plan)
    _roles_follow(session, workspace, group, plan, added + removed)
    changes.note(session, changes.group_change(group.document, document, added, removed))
    if document != group.document:
        _save(session, group, document, base_url)
    elif added or removed:
        store.touch(session, group)
    return _written(session, group, base_url, projection)


def patch_group(session: Session, workspace: Workspace, group_id: str, body: Any, base_url: str,
                if_match: str | None = None, projection: Projection | None = None) -> Written | str:
    """PATCH /Groups/{id} (RFC 7644 §3.5.2): all operations apply or none.

    Member operations become one MemberPlan applied as SQL (see ``_apply_members``); a PATCH
    that changes no row and no attribute keeps the version and lastModified (RFC 7644 §3.5.2.1,
    case C09). Returns the rendered group when ``projection`` is given, else only its ETag (the
    route answers 204 with it, without reading the membership: Microsoft's guidance for large
    groups).
    """
    operations = normalise_patch_request(body)
    group = _load(session, workspace, group_id, lock=store.LOCK_WRITE)
    check_if_match(if_match, group.version)
    result = apply_patch(group.document, operations, group_schema(), resource_id=group.id)
    added, removed = _apply_members(session, workspace, group, result.members) if result.members else (0, 0)
    _roles_follow(session, workspace, group, result.members, added + removed)
    changes.note(session, changes.group_change(group.document, result.document, added, removed))
    if result.document != group.document:
        _save(session, group, result.document, base_url)
    elif added or removed:
        store.touch(session, group)
    if projection is None:
        return etag(group.version)
    return _written(session, group, base_url, projection)


def delete_group(session: Session, workspace: Workspace, group_id: str, if_match: str | None = None,
                 base_url: str = "") -> None:
    """DELETE /Groups/{id} (RFC 7644 §3.6): the group and its membership rows go; its members
    (users and nested groups) stay; the groups it was nested in get a new version. Locks those
    groups before this one (storage.groups); a delete that lost a race to another is 404."""
    _load(session, workspace, group_id)
    parents = store.lock_containing(session, workspace.id, group_id)
    group = _load(session, workspace, group_id, lock=store.LOCK_DELETE)
    check_if_match(if_match, group.version)
    store.touch_containing(session, workspace.id, group.id)
    emit_left_containing(session, workspace.id, group.id, "Group", parents)
    outbox.emit(session, workspace.id, catalogue.GROUP_DELETED, "Group", group.id,
                {"resource": _representation(group, base_url)})
    changes.note(session, changes.group_change(group.document, None))
    store.remove(session, group)
    if group.role is not None:  # its members lose the role it gave
        with roles.as_scim_error():
            roles.recompute(session, workspace)
