"""Admin accounts of a workspace: creation, sign-in with lock-out, and lookup for a session.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106's
second recommended parameter set); hashes made with older parameters are upgraded at the next
successful sign-in.

Sign-in never tells which part was wrong: an unknown workspace, an unknown email, a wrong
password and a locked account all give the same ``None`` (and an unknown account still costs one
argon2 verification, so timing does not tell either). After ``FREE_ATTEMPTS`` consecutive
failures an account is locked for ``BASE_LOCK`` and every further failure doubles the lock, up
to ``MAX_LOCK`` (OWASP Authentication Cheat Sheet, "Account lockout").
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scimgate.services import sessions, tokens
from scimgate.services.workspaces import WorkspaceError
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


def sign_in(session: Session, workspace_name: str, email: str, password: str,
            now: datetime | None = None) -> AdminAccount | None:
    """The admin account for these credentials, or None for any failure (see module docstring).

    A failure on an existing account counts towards its lock; a success resets the count. While
    an account is locked even the right password is refused, and the attempt is not counted.
    """
    now = now or utcnow()
    workspace = session.scalar(
        select(Workspace).where(Workspace.name_lower == workspace_name.strip().lower())
    )
    account = None
    if workspace is not None:
        account = session.scalar(
            select(AdminAccount)
            .where(AdminAccount.workspace_id == workspace.id,
                   AdminAccount.email_lower == email.strip().lower())
            .with_for_update()
        )
    if account is None:
        _verify(_DUMMY_HASH, password)
        return None
    if account.locked_until is not None and account.locked_until > now:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(account.password_hash, password):
        account.failed_logins += 1
        lock = lock_duration(account.failed_logins)
        account.locked_until = now + lock if lock else None
        return None
    account.failed_logins = 0
    account.locked_until = None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


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
