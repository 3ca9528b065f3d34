"""Allowed email domains of a workspace, their verification, and the rule that members stay
inside verified ones.

Domains are stored lower-case in IDNA 2008 A-label form (UTS #46 mapping, the ``idna``
package): ``Bücher.Example`` is ``xn--bcher-kva.example``. A domain covers exactly that name;
subdomains are not implied (``eu.example.com`` needs its own entry).

A domain is *pending* until verified, either by DNS (services.dns_verification: a TXT record
``scimgate-verification=<challenge>``) or by an operator's override, recorded with the reason.
``verified_by`` is ``dns`` or ``operator``; ``verified_detail`` says who and, for DNS, where the
record was found, for an operator why.

The provisioning rule (ARCHITECTURE.md, "Rules"): a member's userName (when it has the form of
an email) and every email value must be in a *verified* allowed domain of the workspace, unless
the workspace has ``allow_any_domain`` (a trial setting, off by default). A workspace with no
verified domain therefore accepts no email-shaped identity at all until an admin verifies one.

A verified domain belongs to one workspace only (issue 18): the domain of an email address
selects the workspace at sign-in (home realm discovery), so a second workspace's verification of
a domain another verified is refused (DomainClaimed). Public mail domains (PUBLIC_MAIL_DOMAINS:
gmail.com, outlook.com, ...) cannot be added at all.

Errors meant for the admin (CLI, admin API, admin pages) are ``DomainError`` subclasses.
"""

from __future__ import annotations

import functools
import logging
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import idna
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scimgate.events import catalogue, outbox
from scimgate.scim.errors import InvalidValueException
from scimgate.services.dns_verification import (
    DnsCheck,
    ResolverConfig,
    check_txt,
    expected_record,
    record_names,
)
from scimgate.services.workspaces import WorkspaceError
from scimgate.storage.db import transaction
from scimgate.storage.models import EmailDomain, Workspace, utcnow

log = logging.getLogger("scimgate.domains")


class DomainError(WorkspaceError):
    """A domain operation the admin must correct; the message says how."""


class InvalidDomain(DomainError):
    """The text is not a domain name that can hold email addresses."""


class DomainExists(DomainError):
    """The workspace already has this domain."""


class DomainClaimed(DomainError):
    """Another workspace has already verified this domain: a verified domain belongs to one
    workspace only, so that an email address selects exactly one workspace at sign-in."""


class DomainNotFound(DomainError):
    """The workspace has no such domain (also for another workspace's domain)."""


@functools.lru_cache(maxsize=4096)
def normalise_domain(name: str) -> str:
    """``Bücher.Example.`` -> ``xn--bcher-kva.example``: IDNA 2008 with the UTS #46 mapping
    (lower-cases and folds full-width forms), trailing dot removed. Raises ValueError (an
    ``idna.IDNAError`` is one) for a name that is not a valid host name. The answers of the
    last 4,096 names are kept (every user write asks for the same few; the IDNA encoding cost
    more than the write's domain query)."""
    cleaned = name.strip().rstrip(".")
    if not cleaned or "@" in cleaned:
        raise ValueError(f"{name!r} is not a domain name")
    return idna.encode(cleaned, uts46=True).decode("ascii")


def display_domain(name: str) -> str:
    """An A-label name as people read it: ``bücher.example (xn--bcher-kva.example)``, or the
    name alone when it is plain ASCII."""
    try:
        unicode = idna.decode(name)
    except idna.IDNAError:
        return name
    return name if unicode == name else f"{unicode} ({name})"


def email_domain(value: str) -> str | None:
    """The normalised domain of an email-shaped string, or None if it is not email-shaped.

    The value is NFKC-normalised first, so a full-width ``＠`` counts as ``@`` and cannot hide
    a domain from the rule. A domain part that is not a valid host name is returned
    lower-cased as it is, so that it matches no verified domain and is rejected by name."""
    local, at, domain = unicodedata.normalize("NFKC", value).rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        return normalise_domain(domain)
    except ValueError:
        return domain.lower()


def member_domains(document: dict[str, Any]) -> set[str]:
    """Every domain a member document would use: its userName if email-shaped, its emails."""
    values = [document.get("userName")] + [e.get("value") for e in document.get("emails") or []]
    return {d for v in values if isinstance(v, str) and (d := email_domain(v)) is not None}


def verified_domains(session: Session, workspace: Workspace, names: set[str]) -> set[str]:
    """Those of ``names`` that are verified allowed domains of ``workspace`` (one indexed query)."""
    if not names:
        return set()
    rows = session.scalars(_VERIFIED, {"workspace_id": workspace.id, "names": sorted(names)})
    return set(rows)


_VERIFIED = select(EmailDomain.name).where(  # built once: every user write runs it
    EmailDomain.workspace_id == bindparam("workspace_id"),
    EmailDomain.name.in_(bindparam("names", expanding=True)),
    EmailDomain.verified_at.is_not(None),
)


# Full stops that IDNA (RFC 3490 §3.1) reads as "." in a domain name.
IDNA_DOTS = ("\u3002", "\uff0e", "\uff61")


def check_identity_spelling(document: dict[str, Any]) -> None:
    """Raise InvalidValueException for a userName with white space at either end, and for an
    email-shaped userName or email value that is not in its plain form: white space, invisible
    format characters (zero-width space, bidi controls), characters NFKC changes (full-width
    letters, the ideographic full stop) or a domain ending in a dot.

    Such spellings look like an existing member's address but are other strings, so they would
    pass the case-insensitive uniqueness check and create a look-alike member (Unicode TR 39,
    "confusable" identifiers; RFC 7643 §4.1.1 makes userName the unique identifier).
    """
    user_name = document.get("userName")
    if isinstance(user_name, str) and user_name != user_name.strip():
        raise InvalidValueException(
            detail=f"The userName {user_name!r} starts or ends with white space: it would be another "
            "member than the same name without it. Send it trimmed."
        )
    values = [("userName", user_name)]
    values += [("emails", email.get("value")) for email in document.get("emails") or []]
    for name, value in values:
        if not isinstance(value, str) or email_domain(value) is None:
            continue
        plain = (unicodedata.normalize("NFKC", value) == value and not value.endswith(".")
                 and not any(dot in value for dot in IDNA_DOTS) and not any(char.isspace() for char in value))
        if not plain or any(unicodedata.category(char) in ("Cf", "Cc", "Zl", "Zp") for char in value):
            raise InvalidValueException(
                detail=f"The {name} value {value!r} is not in plain form (white space, invisible or "
                "compatibility characters, or a trailing dot): send the address as the mail system spells it."
            )


def check_member_domains(session: Session, workspace: Workspace, document: dict[str, Any],
                         previous: dict[str, Any] | None = None) -> None:
    """Raise InvalidValueException (400 ``invalidValue``, RFC 7644 §3.12) naming the first
    domain of ``document`` that is not a verified allowed domain of the workspace, or an email
    value that has no domain at all.

    Only domains the member would *enter* are checked: those of ``document`` not already in
    ``previous`` (its stored document before a PUT or PATCH). So removing a domain blocks new
    provisioning into it but neither deletes nor freezes the members already there: they can
    still be renamed, deactivated, reactivated and moved out of it.
    """
    check_identity_spelling(document)
    if workspace.allow_any_domain:
        return
    for email in document.get("emails") or []:
        value = email.get("value")
        if isinstance(value, str) and email_domain(value) is None:
            # an address without a domain would pass no domain check: refuse it (RFC 7643 §4.1.2,
            # "emails" values are RFC 5321 addresses)
            raise InvalidValueException(
                detail=f"The email {value!r} is not an email address (local-part@domain).")
    wanted = member_domains(document) - (member_domains(previous) if previous else set())
    missing = sorted(wanted - verified_domains(session, workspace, wanted))
    if not missing:
        return
    shown = display_domain(missing[0])
    none_yet = session.scalar(
        select(EmailDomain.id).where(EmailDomain.workspace_id == workspace.id,
                                     EmailDomain.verified_at.is_not(None)).limit(1)
    ) is None
    context = " (it has no verified email domain yet)" if none_yet else ""
    raise InvalidValueException(
        detail=f"The email domain {shown} is not a verified domain of this workspace{context}: "
        f"add and verify {shown} in the workspace's security settings, then retry."
    )


# --- Managing domains -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationRecord:
    """What the admin publishes to verify by DNS: a TXT record ``value`` at one of ``names``."""

    names: tuple[str, str]
    value: str


def status(domain: EmailDomain) -> Literal["pending", "verified"]:
    """``verified`` once verified by DNS or by an operator, else ``pending``."""
    return "verified" if domain.verified_at is not None else "pending"


def verification_record(domain: EmailDomain) -> VerificationRecord:
    """The TXT record that verifies ``domain`` (at the domain or at ``_scimgate.<domain>``)."""
    return VerificationRecord(record_names(domain.name), expected_record(domain.challenge))


PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "msn.com",
    "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
    "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.com",
    "yandex.ru", "mail.ru", "zoho.com", "qq.com", "163.com", "126.com", "fastmail.com",
    "tutanota.com", "hey.com",
})
"""Mail domains anyone can get an address at: no workspace may claim one (a claim would let it
sign in, and provision, strangers)."""


def _parse(name: str) -> str:
    try:
        normalised = normalise_domain(name)
    except ValueError as exc:
        # the idna library's own message ("Codepoint U+002F not allowed ...") means nothing to an admin
        raise InvalidDomain(f"{name.strip()!r} is not a valid domain name: give letters, digits and hyphens "
                            "between dots, such as example.com.") from exc
    labels = normalised.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise InvalidDomain(f"{name!r} is not an email domain: give a name such as example.com.")
    return normalised


def add_domain(session: Session, workspace: Workspace, name: str) -> EmailDomain:
    """Add ``name`` (normalised) to the workspace's allowed domains, pending, with a fresh
    challenge. Raises InvalidDomain or DomainExists."""
    normalised = _parse(name)
    if normalised in PUBLIC_MAIL_DOMAINS:
        raise InvalidDomain(f"{normalised} is a public mail domain: anyone can have an address there, so no "
                            "workspace can claim it. Add your organisation's own domain.")
    domain = EmailDomain(id=str(uuid.uuid4()), workspace_id=workspace.id, name=normalised,
                         challenge=secrets.token_hex(16))
    try:
        with session.begin_nested():
            session.add(domain)
    except IntegrityError as exc:
        raise DomainExists(f"{display_domain(normalised)} is already a domain of this workspace.") from exc
    return domain


def list_domains(session: Session, workspace: Workspace) -> list[EmailDomain]:
    """The workspace's allowed domains, by name."""
    return list(session.scalars(
        select(EmailDomain).where(EmailDomain.workspace_id == workspace.id).order_by(EmailDomain.name)
    ))


def get_domain(session: Session, workspace: Workspace, name: str) -> EmailDomain:
    """The workspace's domain called ``name`` (any case or Unicode form). Raises
    DomainNotFound, also when only another workspace has it, and InvalidDomain."""
    normalised = _parse(name)
    domain = session.scalar(
        select(EmailDomain).where(EmailDomain.workspace_id == workspace.id, EmailDomain.name == normalised)
    )
    if domain is None:
        raise DomainNotFound(f"{display_domain(normalised)} is not a domain of this workspace.")
    return domain


def remove_domain(session: Session, workspace: Workspace, name: str) -> None:
    """Remove the domain: new members and new emails in it are refused from now on; members
    already in it are kept as they are (see check_member_domains). Raises DomainNotFound."""
    session.delete(get_domain(session, workspace, name))
    session.flush()


def verify_by_operator(session: Session, workspace: Workspace, name: str, reason: str,
                       operator: str) -> EmailDomain:
    """The support path: mark the domain verified by ``operator`` for ``reason`` (required).
    A domain already verified keeps its first verification. Raises DomainNotFound, DomainError."""
    if not reason.strip():
        raise DomainError("An operator verification needs a reason (who asked, what proof was seen).")
    domain = get_domain(session, workspace, name)
    if domain.verified_at is None:
        _check_unclaimed(session, domain)
        domain.verified_at = utcnow()
        domain.verified_by = "operator"
        domain.verified_detail = f"by {operator}: {reason.strip()}"
        _emit_verified(session, domain)
    return domain


@dataclass(frozen=True)
class DnsVerification:
    """The domain after a DNS verification attempt; ``check`` is None when it was already verified."""

    domain: EmailDomain
    check: DnsCheck | None

    @property
    def verified(self) -> bool:
        return self.domain.verified_at is not None

    def explanation(self) -> str:
        """What happened, for the admin."""
        if self.check is None:
            return f"{display_domain(self.domain.name)} is already verified ({self.domain.verified_by})."
        return self.check.explanation()


def verify_by_dns(sessions: sessionmaker[Session], workspace_id: str, name: str,
                  resolver: ResolverConfig, actor: str) -> DnsVerification:
    """Look up the domain's TXT record and mark it verified by ``actor`` if the record is there.

    The DNS lookup (up to ``resolver.timeout_seconds``) runs between two short transactions,
    never while holding a database transaction open. Raises DomainNotFound, InvalidDomain.
    """
    with transaction(sessions) as session:
        domain = get_domain(session, _workspace(session, workspace_id), name)
        if domain.verified_at is not None:
            return DnsVerification(domain, None)
        domain_name, challenge = domain.name, domain.challenge
    check = check_txt(domain_name, challenge, resolver)
    with transaction(sessions) as session:
        domain = get_domain(session, _workspace(session, workspace_id), domain_name)
        if check.verified and domain.verified_at is None and domain.challenge == challenge:
            _check_unclaimed(session, domain)
            domain.verified_at = utcnow()
            domain.verified_by = "dns"
            domain.verified_detail = f"by {actor}: TXT record found at {check.matched_name}"
            _emit_verified(session, domain)
    return DnsVerification(domain, check)


def _emit_verified(session: Session, domain: EmailDomain) -> None:
    """``domain.verified`` (events.catalogue); the resource id is the domain's name."""
    assert domain.verified_at is not None
    outbox.emit(session, domain.workspace_id, catalogue.DOMAIN_VERIFIED, "Domain", domain.name,
                {"name": domain.name, "display_name": display_domain(domain.name),
                 "verified_by": domain.verified_by, "verified_at": domain.verified_at.isoformat()})


def _check_unclaimed(session: Session, domain: EmailDomain) -> None:
    """Raise DomainClaimed when another workspace has verified ``domain.name``. Every workspace's
    row of that name is locked first (``FOR UPDATE``, in id order; SQLite's single writer does
    the same), so two workspaces verifying at once cannot both succeed. The refusal is logged
    for the operator with both workspace ids (the first claimant's admins are told through it)."""
    rows = session.scalars(select(EmailDomain).where(EmailDomain.name == domain.name)
                           .order_by(EmailDomain.id).with_for_update()).all()
    holder = next((row for row in rows
                   if row.verified_at is not None and row.workspace_id != domain.workspace_id), None)
    if holder is not None:
        log.warning("domain claim refused: %s is verified by workspace %s; workspace %s tried to verify it",
                    domain.name, holder.workspace_id, domain.workspace_id)
        raise DomainClaimed(f"{display_domain(domain.name)} is already verified by another workspace: a "
                            "domain belongs to one workspace only. If it is yours, ask support to move it.")


def _workspace(session: Session, workspace_id: str) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise WorkspaceError(f"No workspace {workspace_id}.")
    return workspace
