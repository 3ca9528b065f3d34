"""SCIM Users of a workspace: create, read, list, replace, patch, delete (RFC 7644 §3.3-§3.6).

Each function runs inside the caller's transaction and either completes or raises a SCIM
error, so a failed request changes nothing. Workspace rules applied here: email domains must be
verified (services.domains); a member is identified by its SCIM ``id``, never by its email.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from scimgate.scim.errors import NotFoundException
from scimgate.scim.params import ListQuery
from scimgate.scim.patch import apply_patch
from scimgate.scim.quirks import normalise_patch_request
from scimgate.scim.resource import normalise_document
from scimgate.scim.schema import user_schema
from scimgate.scim.serialize import etag, list_response, to_scim
from scimgate.services.domains import check_member_domains
from scimgate.services.resources import Projection, Written, check_if_match, compile_order, compile_where
from scimgate.storage import members as store
from scimgate.storage.mapping import USER_MAPPING
from scimgate.storage.models import Member, Workspace

WHOLE = Projection()
"""No ``attributes``/``excludedAttributes``: the whole resource."""


def _render(session: Session, member: Member, base_url: str,
            groups: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    if groups is None:
        groups = store.groups_of(session, member.workspace_id, [member.id])[member.id]
    extra = {
        "groups": [
            {"value": gid, "display": display, "$ref": f"{base_url}/Groups/{gid}", "type": "direct"}
            for gid, display in groups
        ]
        or None
    }
    return to_scim(user_schema(), store.stored(member), base_url, extra)


def _written(session: Session, member: Member, base_url: str, projection: Projection) -> Written:
    body = _render(session, member, base_url)
    return Written(projection.apply(body, user_schema()), etag(member.version), body["meta"]["location"])


def _load(session: Session, workspace: Workspace, member_id: str, *, for_update: bool = False) -> Member:
    member = store.load(session, workspace.id, member_id, for_update=for_update)
    if member is None:
        raise NotFoundException(detail=f"User {member_id} not found.")
    return member


def create_user(session: Session, workspace: Workspace, body: Any, base_url: str,
                projection: Projection = WHOLE) -> Written:
    """POST /Users (RFC 7644 §3.3): 409 ``uniqueness`` if the userName exists (any case);
    400 ``invalidValue`` for a bad value or an email outside the verified domains. A user sent
    without ``active`` is active and reads back with ``active: true`` (RFC 7643 §4.1.1 gives no
    default; every identity provider treats an absent value as active)."""
    document = normalise_document(body, user_schema())
    document.setdefault("active", True)
    check_member_domains(session, workspace, document)
    member = store.insert(session, workspace.id, document)
    return _written(session, member, base_url, projection)


def get_user(session: Session, workspace: Workspace, member_id: str, base_url: str,
             projection: Projection = WHOLE) -> Written:
    """GET /Users/{id} (RFC 7644 §3.4.1); 404 if the id is not this workspace's."""
    return _written(session, _load(session, workspace, member_id), base_url, projection)


def list_users(session: Session, workspace: Workspace, query: ListQuery, base_url: str) -> dict[str, Any]:
    """GET /Users and POST /Users/.search (RFC 7644 §3.4.2, §3.4.3): a ListResponse."""
    schema = user_schema()
    where = compile_where(query, schema, USER_MAPPING, workspace_id=workspace.id)
    order = compile_order(query, schema, USER_MAPPING)
    total, rows = store.query(session, workspace.id, where, order, query.start_index - 1, query.count)
    groups = store.groups_of(session, workspace.id, [m.id for m in rows])
    projection = Projection.of(query)
    resources = [projection.apply(_render(session, m, base_url, groups[m.id]), schema) for m in rows]
    return list_response(resources, total, query.start_index)


def replace_user(session: Session, workspace: Workspace, member_id: str, body: Any, base_url: str,
                 if_match: str | None = None, projection: Projection = WHOLE) -> Written:
    """PUT /Users/{id} (RFC 7644 §3.5.1): replaces every writable attribute; readOnly ones in
    the body (id, meta, groups) are ignored. A body without ``active`` keeps the member's current
    state: Okta's GET-modify-PUT may omit it, and must not suspend anyone by doing so
    (docs/identity-providers.md §7; ``active`` has no default in RFC 7643 §4.1.1)."""
    member = _load(session, workspace, member_id, for_update=True)
    check_if_match(if_match, member.version)
    document = normalise_document(body, user_schema())
    document.setdefault("active", member.active)
    check_member_domains(session, workspace, document, member.document)
    if document != member.document:
        store.save(session, member, document)
    return _written(session, member, base_url, projection)


def patch_user(session: Session, workspace: Workspace, member_id: str, body: Any, base_url: str,
               if_match: str | None = None, projection: Projection = WHOLE) -> Written:
    """PATCH /Users/{id} (RFC 7644 §3.5.2): all operations apply or none; a PATCH that changes
    nothing keeps the version."""
    operations = normalise_patch_request(body)
    member = _load(session, workspace, member_id, for_update=True)
    check_if_match(if_match, member.version)
    result = apply_patch(member.document, operations, user_schema(), resource_id=member.id,
                         replace_unmatched="create" if workspace.entra_replace_creates else "noTarget")
    if result.changed:
        check_member_domains(session, workspace, result.document, member.document)
        store.save(session, member, result.document)
    return _written(session, member, base_url, projection)


def delete_user(session: Session, workspace: Workspace, member_id: str, if_match: str | None = None) -> None:
    """DELETE /Users/{id} (RFC 7644 §3.6): the member, its memberships and what it owns go."""
    member = _load(session, workspace, member_id, for_update=True)
    check_if_match(if_match, member.version)
    store.remove(session, member)
