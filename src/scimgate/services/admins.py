"""Admin accounts of a workspace: creation, sign-in with lock-out, and lookup for a session.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106's
second recommended parameter set); hashes made with older parameters are upgraded at the next
successful sign-in.

Sign-in is throttled before it gets here (services.sign_in_guard) and hashes outside any
transaction. It never tells which part was wrong: an unknown workspace, an unknown email, a wrong
password and a locked account all give the same ``None`` (and an unknown account still costs one
argon2 verification, so timing does not tell either). After ``FREE_ATTEMPTS`` consecutive
failures an account is locked for ``BASE_LOCK`` and every further failure doubles the lock, up
to ``MAX_LOCK`` (OWASP Authentication Cheat Sheet, "Account lockout").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services import sessions, tokens
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import snapshot, transaction
from scimgate.storage.models import AdminAccount, Workspace, utcnow

MIN_PASSWORD_LENGTH = 12
FREE_ATTEMPTS = 5
BASE_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
ROLES = ("owner",)
SUBJECT_KIND = "admin"
"""The ``subject_kind`` of an admin's sessions (services.sessions)."""
SESSION_LIFETIME = timedelta(hours=12)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("scimgate: no such admin account")


class AdminError(WorkspaceError):
    """An admin-account operation the operator must correct (bad email, short password, duplicate)."""


def _normalise_email(email: str) -> str:
    cleaned = email.strip()
    local, at, domain = cleaned.rpartition("@")
    if not at or not local or not domain or " " in cleaned:
        raise AdminError(f"{email!r} is not an email address.")
    return cleaned


def create_admin(session: Session, workspace: Workspace, email: str, password: str,
                 role: str = "owner") -> AdminAccount:
    """Add an admin account to ``workspace`` (email unique per workspace, case-insensitive).

    Raises AdminError for a malformed email, a password shorter than ``MIN_PASSWORD_LENGTH``,
    an unknown role, or an email that already has an account in this workspace.
    """
    email = _normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if role not in ROLES:
        raise AdminError(f"Unknown role {role!r}; known: {', '.join(ROLES)}.")
    account = AdminAccount(
        id=str(uuid.uuid4()),
        workspace_id=workspace.id,
        email=email,
        email_lower=email.lower(),
        password_hash=_hasher.hash(password),
        role=role,
        failed_logins=0,
    )
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError as exc:
        raise AdminError(f"{email} is already an admin of workspace {workspace.name}.") from exc
    return account


def list_admins(session: Session, workspace: Workspace) -> list[AdminAccount]:
    """The workspace's admin accounts, by email."""
    return list(session.scalars(
        select(AdminAccount)
        .where(AdminAccount.workspace_id == workspace.id)
        .order_by(AdminAccount.email_lower)
    ))


def lock_duration(failed_logins: int) -> timedelta | None:
    """How long an account is locked after its ``failed_logins``-th consecutive failure
    (None while the free attempts last): ``BASE_LOCK`` doubling per failure, at most ``MAX_LOCK``."""
    if failed_logins < FREE_ATTEMPTS:
        return None
    doublings = min(failed_logins - FREE_ATTEMPTS, 16)
    return min(BASE_LOCK * (2 ** doublings), MAX_LOCK)


@dataclass(frozen=True)
class _Candidate:
    id: str
    password_hash: str
    locked_until: datetime | None


_Hashed = tuple[bool, str | None]
"""What :func:`sign_in`'s hashing yields: (the password is right, an upgraded hash or None)."""


def _inline(work: Callable[[], _Hashed]) -> _Hashed:
    """Run ``work`` here and now (the default way of :func:`sign_in` to run its hashes)."""
    return work()


def sign_in(readers: sessionmaker[Session], writers: sessionmaker[Session], workspace_name: str,
            email: str, password: str, *,
            run_hashes: Callable[[Callable[[], _Hashed]], _Hashed] = _inline,
            previous_token: str | None = None, now: datetime | None = None) -> str | None:
    """A new session token (services.sessions) for these credentials, or None for any failure
    (see the module docstring).

    The password hash is verified between two short units of work, never inside a transaction
    (on SQLite a write transaction holds the database-wide writer lock), and inside
    ``run_hashes(work)`` (services.sign_in_guard bounds the hashes in flight and runs them at
    low CPU priority; it may raise). The
    account is read from ``readers`` (a snapshot); the outcome is written in one transaction
    of ``writers`` that locks the account row and checks again that it is not locked and its
    password did not change meanwhile. A failure on an existing account counts towards its
    lock; a success resets the count, upgrades an outdated hash, revokes ``previous_token``
    (rotation) and starts the session. While an account is locked even the right password is
    refused, and the attempt is not counted.
    """
    now = now or utcnow()
    with snapshot(readers) as db:
        candidate = _candidate(db, workspace_name, email)
    def hashes() -> _Hashed:
        if candidate is None or (candidate.locked_until is not None and candidate.locked_until > now):
            _verify(_DUMMY_HASH, password)
            return False, None
        right = _verify(candidate.password_hash, password)
        outdated = right and _hasher.check_needs_rehash(candidate.password_hash)
        return right, _hasher.hash(password) if outdated else None

    right, upgraded = run_hashes(hashes)
    if candidate is None or (candidate.locked_until is not None and candidate.locked_until > now):
        return None
    with transaction(writers) as db:
        account = db.scalar(select(AdminAccount).where(AdminAccount.id == candidate.id).with_for_update())
        if account is None or (account.locked_until is not None and account.locked_until > now):
            return None
        if not right:
            account.failed_logins += 1
            lock = lock_duration(account.failed_logins)
            account.locked_until = now + lock if lock else None
            return None
        if account.password_hash != candidate.password_hash:  # a new password was set meanwhile
            return None
        account.failed_logins = 0
        account.locked_until = None
        if upgraded:
            account.password_hash = upgraded
        if previous_token:
            sessions.revoke_session(db, previous_token)
        return start_session(db, account)


def _candidate(db: Session, workspace_name: str, email: str) -> _Candidate | None:
    workspace = db.scalar(select(Workspace).where(Workspace.name_lower == workspace_name.strip().lower()))
    if workspace is None:
        return None
    account = db.scalar(select(AdminAccount).where(AdminAccount.workspace_id == workspace.id,
                                                   AdminAccount.email_lower == email.strip().lower()))
    return None if account is None else _Candidate(account.id, account.password_hash, account.locked_until)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def get_admin(session: Session, admin_id: str, workspace_id: str) -> tuple[AdminAccount, Workspace] | None:
    """The admin account ``admin_id`` of workspace ``workspace_id`` and that workspace, or None
    when either is gone or they do not belong together (a session outliving its account)."""
    account = session.get(AdminAccount, admin_id)
    if account is None or account.workspace_id != workspace_id:
        return None
    workspace = session.get(Workspace, workspace_id)
    return None if workspace is None else (account, workspace)


def start_session(session: Session, account: AdminAccount) -> str:
    """A new server-side session (services.sessions) of ``account`` lasting ``SESSION_LIFETIME``;
    returns its cookie token."""
    return sessions.create_session(session, workspace_id=account.workspace_id, subject_kind=SUBJECT_KIND,
                                   subject_id=account.id, lifetime=SESSION_LIFETIME)


def _find(session: Session, workspace: Workspace, email: str) -> AdminAccount:
    account = session.scalar(select(AdminAccount).where(AdminAccount.workspace_id == workspace.id,
                                                        AdminAccount.email_lower == email.strip().lower()))
    if account is None:
        raise AdminError(f"{email} is not an admin of workspace {workspace.name}.")
    return account


def _end_sessions(session: Session, account: AdminAccount) -> int:
    return sessions.revoke_subject_sessions(session, workspace_id=account.workspace_id,
                                            subject_kind=SUBJECT_KIND, subject_id=account.id)


def set_password(session: Session, workspace: Workspace, email: str, password: str) -> AdminAccount:
    """Give the workspace's admin ``email`` a new password and lift any lock; every existing
    session of that admin ends. Raises AdminError for an unknown admin or a short password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    account = _find(session, workspace, email)
    account.password_hash = _hasher.hash(password)
    account.failed_logins = 0
    account.locked_until = None
    _end_sessions(session, account)
    return account


def remove_admin(session: Session, workspace: Workspace, email: str) -> int:
    """Delete the workspace's admin ``email`` and end every session of it at once; returns how
    many live sessions were ended. Raises AdminError for an unknown admin."""
    account = _find(session, workspace, email)
    ended = _end_sessions(session, account)
    session.delete(account)
    return ended


def keep_only_token(session: Session, workspace: Workspace, token_id: str) -> int:
    """Finish a token rotation: revoke every live SCIM token of ``workspace`` except
    ``token_id``; returns how many were revoked. Raises AdminError (nothing revoked) when
    ``token_id`` is not a live SCIM token of this workspace."""
    live = [t for t in tokens.list_tokens(session, workspace) if t.revoked_at is None]
    keep = next((t for t in live if t.id == token_id), None)
    if keep is None:
        raise AdminError("That token is not a live SCIM token of this workspace.")
    return tokens.revoke_tokens(session, workspace, keep=keep)
