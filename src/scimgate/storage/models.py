"""SQLAlchemy 2 models: the whole data model, portable between SQLite and PostgreSQL.

Every scoped table carries ``workspace_id`` and leads its keys with it, so a workspace's data can
be found, isolated and sharded by that column (ARCHITECTURE.md, "Data model"). Case-insensitive
uniqueness (userName, group displayName) is enforced by unique indexes on lower-cased twin
columns, which both databases support the same way. Stored SCIM documents are JSON (JSONB on
PostgreSQL). Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from scimgate.storage.planner import not_an_index

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Document = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


UNICODE_LOWER = "unicode_lower"
"""The SQL function of every SQLite connection (storage.db) that is Python's ``str.lower``."""


class lower(GenericFunction[str]):  # noqa: N801 (the SQL function's name: ``func.lower`` builds it)
    """``func.lower``, everywhere in scimgate's SQL: ``lower()`` on PostgreSQL, ``unicode_lower()``
    (Python's ``str.lower``) on SQLite, whose own ``lower`` folds ASCII letters only. The
    lower-cased twin columns and every value compared with them are folded by Python, so a
    case-insensitive comparison in SQL (a filter on an attribute without a twin column, the
    userName of a member in Recently removed) must fold the same way on both databases: with
    SQLite's ``lower``, ``Ärztin`` and ``ÄRZTIN`` were two values there and one on PostgreSQL."""

    type = String()
    inherit_cache = True


@compiles(lower, "sqlite")
def _lower_sqlite(element: lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{UNICODE_LOWER}({compiler.process(element.clauses, **kw)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored as naive UTC on both databases.

    Naive storage keeps comparisons in SQL identical on SQLite (text) and PostgreSQL
    (timestamp); values read back are aware (``tzinfo=UTC``).
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy's SQLite DATETIME writes a time as text (the naive UTC of UTCDateTime)."""


def naive_utc(moment: datetime) -> datetime:
    """How UTCDateTime stores a time: naive UTC (for statements run on the driver's cursor)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def utcnow() -> datetime:
    """The current time, UTC, aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    """A tenant: one customer's workspace with its SCIM switches and domain policy."""

    __tablename__ = "workspace"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_lower: Mapped[str] = mapped_column(String(200), unique=True)
    scim_sync_active: Mapped[bool] = mapped_column(Boolean, default=False)
    group_sync_active: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_any_domain: Mapped[bool] = mapped_column(Boolean, default=False)
    # Entra compatibility: a PATCH "replace" through a value filter that matches nothing creates
    # the element instead of answering 400 noTarget (RFC 7644 §3.5.2.3). Off by default.
    entra_replace_creates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    audit_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Workspace roles (services.roles): the role of a member that no source names, and which
    # source wins when both name one ("groups": group mapping, "roles": the SCIM roles attribute).
    default_role: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    role_source: Mapped[str] = mapped_column(String(16), default="groups", server_default="groups")
    # Leaving (services.leaving): on SCIM DELETE "keep" the member N days in Recently removed, or "purge".
    deletion_policy: Mapped[str] = mapped_column(String(8), default="keep", server_default="keep")
    removal_keep_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    # Seats (services.seats): at most this many members that are neither deactivated nor removed.
    seat_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ScimToken(Base):
    """A bearer credential. Only the SHA-256 of the secret is stored; ``prefix`` is for display.

    ``kind`` is ``scim`` (an identity provider's SCIM bearer token) or ``admin`` (the admin JSON API).
    """

    __tablename__ = "scim_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="scim")
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EmailDomain(Base):
    """An allowed email domain of a workspace: lower-case, IDNA (A-label) form; pending or verified."""

    __tablename__ = "email_domain"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(253))
    challenge: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "dns" | "operator"
    verified_detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # who / operator reason


class Member(Base):
    """A provisioned user (SCIM User). ``id`` is server-made and never derived from an email.

    ``document`` is the canonical stored SCIM document (scim.resource); the other columns are
    derived from it at every write so that filters, sorting and uniqueness run on indexes.
    """

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_name_lower"),
        Index("ix_member_workspace_external_id", "workspace_id", "external_id"),
        Index("ix_member_workspace_display_name_lower", "workspace_id", "display_name_lower"),
        Index("ix_member_workspace_id_id", "workspace_id", "id"),
        Index("ix_member_workspace_user_name_lower_id", "workspace_id", "user_name_lower", "id"),
        Index("ix_member_workspace_created_id", "workspace_id", "created", "id"),
        Index("ix_member_workspace_last_modified_id", "workspace_id", "last_modified", "id"),
        Index("ix_member_workspace_role", "workspace_id", "role"),
        Index("ix_member_workspace_removed_at", "workspace_id", "removed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(512))
    user_name_lower: Mapped[str] = mapped_column(String(512))
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    display_name_lower: Mapped[str | None] = mapped_column(String(512), nullable=True)
    given_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    family_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The workspace role in force (services.roles) and the one the SCIM ``roles`` attribute names.
    role: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    idp_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Set while the member is in Recently removed (SCIM DELETE under the "keep" policy): it is
    # out of the SCIM view, ``user_name_lower`` holds a tombstone and ``removed_groups`` the ids
    # of the groups it was in (services.leaving).
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_groups: Mapped[list[str] | None] = mapped_column(Document, nullable=True)


LIVE_MEMBER = not_an_index(Member.removed_at).is_(None)
"""The WHERE term of a member not in Recently removed. Never the plan's index on SQLite
(storage.planner): the index of ``(workspace_id, removed_at)`` holds every live member of the
workspace, and SQLite's planner chose it over the id's, the userName's or the externalId's
index, so a GET by id or an ``externalId eq`` walked the workspace (20,000 members: 100,000
instructions instead of 100)."""


class MemberEmail(Base):
    """One value of a member's ``emails`` (RFC 7643 §4.1.2), for indexed email filters and domain rules."""

    __tablename__ = "member_email"
    __table_args__ = (
        Index("ix_member_email_workspace_value_lower", "workspace_id", "value_lower"),
        Index("ix_member_email_member_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(512))
    value_lower: Mapped[str] = mapped_column(String(512))
    type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)


class ScimGroup(Base):
    """A provisioned group (SCIM Group); membership lives in ``group_member`` rows."""

    __tablename__ = "scim_group"
    __table_args__ = (
        UniqueConstraint("workspace_id", "display_name_lower"),
        Index("ix_scim_group_workspace_external_id", "workspace_id", "external_id"),
        Index("ix_scim_group_workspace_role", "workspace_id", "role"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(512))
    display_name_lower: Mapped[str] = mapped_column(String(512))
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The workspace role its members get from it (services.roles), None when it is not mapped.
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)


MEMBER_REFERENCE = (
    "(member_type = 'User' AND user_id = member_id AND nested_group_id IS NULL)"
    " OR (member_type = 'Group' AND nested_group_id = member_id AND user_id IS NULL)"
)


class GroupMember(Base):
    """One membership row: ``member_id`` is a member (``User``) or a nested group (``Group``) id.

    The database keeps every row pointing at something: ``member_id`` is repeated in
    ``user_id`` (a foreign key to ``member``) or ``nested_group_id`` (to ``scim_group``), as the
    check ``member_reference`` demands, and deleting the user or the group deletes the row
    (``ON DELETE CASCADE``), whatever the interleaving of concurrent transactions.
    """

    __tablename__ = "group_member"
    __table_args__ = (
        Index("ix_group_member_member_id", "member_id"),
        Index("ix_group_member_user_id", "user_id"),
        Index("ix_group_member_nested_group_id", "nested_group_id"),
        CheckConstraint(MEMBER_REFERENCE, name="member_reference"),
    )

    group_id: Mapped[str] = mapped_column(ForeignKey("scim_group.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), nullable=True)
    nested_group_id: Mapped[str | None] = mapped_column(ForeignKey("scim_group.id", ondelete="CASCADE"),
                                                        nullable=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    member_type: Mapped[str] = mapped_column(String(8))  # "User" | "Group"
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Chat(Base):
    """A chat owned by a member: proves that identity changes keep what a member owns."""

    __tablename__ = "chat"
    __table_args__ = (Index("ix_chat_workspace_member", "workspace_id", "member_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(512))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agent(Base):
    """An AI agent owned by a member."""

    __tablename__ = "agent"
    __table_args__ = (Index("ix_agent_workspace_member", "workspace_id", "member_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One SCIM request's outcome and what it changed. Never a token, a password or a whole body."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_workspace_at", "workspace_id", "at"),
        Index("ix_audit_event_workspace_resource", "workspace_id", "resource_id"),
        Index("ix_audit_event_workspace_client_at_status", "workspace_id", "client", "at", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    request_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(512))
    resource_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    client: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[float] = mapped_column(Float)
    # What a write changed (services.changes): kind, display name, before/after of non-secret
    # attributes, member counts. None for reads and failures.
    change: Mapped[dict[str, Any] | None] = mapped_column(Document, nullable=True)


class AdminAccount(Base):
    """A workspace admin's login for the admin pages (argon2 hash)."""

    __tablename__ = "admin_account"
    __table_args__ = (UniqueConstraint("workspace_id", "email_lower"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    email_lower: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="owner")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateBucket(Base):
    """A token bucket shared by every worker (rate limiting per SCIM token)."""

    __tablename__ = "rate_bucket"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # seconds since the epoch


class SessionRecord(Base):
    """A server-side sign-in session of an admin (admin pages) or a member (single sign-on).

    ``id`` is the SHA-256 (hex) of the random token the browser's cookie holds; the token itself
    is never stored, so a copy of the table opens nothing. A session is live while
    ``revoked_at`` is unset and ``expires_at`` is in the future (services.sessions).
    """

    __tablename__ = "session"
    __table_args__ = (
        Index("ix_session_workspace_subject", "workspace_id", "subject_kind", "subject_id"),
        Index("ix_session_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    subject_kind: Mapped[str] = mapped_column(String(16))  # "admin" | "member"
    subject_id: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SsoConnection(Base):
    """A workspace's single sign-on connection to its identity provider (one per workspace):
    ``kind`` ``saml`` (SAML 2.0) or ``oidc`` (OpenID Connect).

    SAML: ``idp_entity_id`` and ``idp_sso_url`` are the IdP's entity ID and SingleSignOnService;
    ``metadata_xml`` is the IdP metadata as the admin gave it (its certificates are the only ones
    trusted). OIDC: ``idp_entity_id`` is the issuer and ``idp_sso_url`` the authorization
    endpoint; the ``oidc_*`` columns hold the rest of the discovery document that sign-in needs
    and the client credentials (``oidc_client_secret`` sealed with AES-GCM, services.sealing).
    ``lookup`` names the SCIM attribute a first sign-in is matched by (``userName`` or
    ``externalId``); ``required`` is "Require SSO for verified domains"; ``tested_at`` the time of
    the last successful test sign-in.
    """

    __tablename__ = "sso_connection"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default="saml")
    idp_entity_id: Mapped[str] = mapped_column(String(1024))
    idp_sso_url: Mapped[str] = mapped_column(String(2048))
    metadata_xml: Mapped[str | None] = mapped_column(Text, nullable=True)
    certificate_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    oidc_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    oidc_client_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    oidc_token_endpoint: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    oidc_token_auth_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    oidc_jwks_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    oidc_algorithms: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lookup: Mapped[str] = mapped_column(String(16), default="userName")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    skew_seconds: Mapped[int] = mapped_column(Integer, default=120)
    tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SsoBinding(Base):
    """An identity-provider subject bound to a member: unique per subject and per member."""

    __tablename__ = "sso_binding"
    __table_args__ = (UniqueConstraint("workspace_id", "subject"),
                      UniqueConstraint("workspace_id", "member_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connection.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(1024))
    stable: Mapped[bool] = mapped_column(Boolean, default=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SsoRequest(Base):
    """An AuthnRequest this server issued: answered at most once (``consumed_at``), before ``expires``."""

    __tablename__ = "sso_request"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SsoAssertionSeen(Base):
    """The replay cache, shared by every worker: an assertion ID accepted once is refused after."""

    __tablename__ = "sso_assertion_seen"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"),
                                              primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EventCounter(Base):
    """The last event ``seq`` a workspace allocated (storage.events): the row every transaction
    that writes events updates, so sequence numbers are gap-free and in commit order per workspace
    (PostgreSQL holds the row lock until commit; SQLite runs one writer at a time)."""

    __tablename__ = "event_counter"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"),
                                              primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(Base):
    """One lifecycle event of the transactional outbox (issue 15, docs/events.md): written in the
    transaction of the change it reports, so it exists exactly when the change committed.

    ``seq`` increases by one per event within a workspace, in commit order; ``actor`` is
    ``entra``, ``okta``, ``scim`` (another SCIM client), ``admin`` or ``system``; ``data`` is the
    resource's representation (its last one for a deletion) and, for updates, what changed.
    """

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("workspace_id", "seq"),
        Index("ix_event_workspace_type_seq", "workspace_id", "type", "seq"),
        Index("ix_event_occurred_at", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(Document)


class WebhookEndpoint(Base):
    """A workspace's webhook receiver (Standard Webhooks): its URL, the event types it wants
    (None: all), its signing secret and, during a rotation's overlap, the previous one.

    ``cursor_seq`` is the last event seq turned into deliveries for it (events.deliverer);
    ``disabled_reason`` says why the deliverer switched it off (the admin pages show it).
    """

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_workspace", "workspace_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint: ``pending`` until a 2xx (``succeeded``) or until its retries
    run out (``failed``). A deliverer holds it while ``lease_until`` is in the future; the
    ``last_*`` columns describe the latest attempt (never a response body)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_chain", "endpoint_id", "resource_key", "event_seq"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    resource_key: Mapped[str] = mapped_column(String(280))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OidcRequest(Base):
    """An OpenID Connect authorization request this server issued: keyed by the SHA-256 of its
    ``state``, with the ``nonce`` and PKCE ``code_verifier`` the callback needs; answered at most
    once (``consumed_at``), before ``expires``."""

    __tablename__ = "oidc_request"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SetupLink(Base):
    """A time-limited, revocable link an admin sends to an IT colleague: it opens only one
    identity provider's setup guide and its token step (services.setup_links). ``id`` is the
    SHA-256 (hex) of the link's secret; the secret itself is never stored."""

    __tablename__ = "setup_link"
    __table_args__ = (Index("ix_setup_link_workspace_expires_at", "workspace_id", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    idp: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(320))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AlertSent(Base):
    """An alert mailed to a workspace's admins (scimgate.alerts): one row per condition and
    period, so the unique key lets at most one alert of a condition out per period, whatever
    the number of concurrent runs (``scimgate alerts run`` from cron)."""

    __tablename__ = "alert_sent"
    __table_args__ = (UniqueConstraint("workspace_id", "condition", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    condition: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
