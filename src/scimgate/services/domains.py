"""Allowed email domains of a workspace, and the rule that members stay inside verified ones.

The rule (issue "workspace security rules"): a member's userName (when it has the form of an
email) and every email value must be in a *verified* allowed domain of the workspace, unless
the workspace has ``allow_any_domain`` (trials). Domains compare in IDNA A-label, lower-case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scimgate.scim.errors import InvalidValueException
from scimgate.storage.models import EmailDomain, Workspace


def normalise_domain(name: str) -> str:
    """``Bücher.Example.`` -> ``xn--bcher-kva.example`` (IDNA 2008 via the ``idna`` codec of
    Python: lower-case first, trailing dot removed). Raises ValueError for an invalid name."""
    cleaned = name.strip().rstrip(".").lower()
    if not cleaned or " " in cleaned or "@" in cleaned:
        raise ValueError(f"{name!r} is not a domain name")
    return cleaned.encode("idna").decode("ascii")


def email_domain(value: str) -> str | None:
    """The normalised domain of an email-shaped string, or None if it is not email-shaped."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        return normalise_domain(domain)
    except (ValueError, UnicodeError):
        return domain.lower()


def member_domains(document: dict[str, Any]) -> set[str]:
    """Every domain a member document would use: its userName if email-shaped, its emails."""
    values = [document.get("userName")] + [e.get("value") for e in document.get("emails") or []]
    return {d for v in values if isinstance(v, str) and (d := email_domain(v)) is not None}


def verified_domains(session: Session, workspace: Workspace, names: set[str]) -> set[str]:
    """Those of ``names`` that are verified allowed domains of ``workspace`` (one indexed query)."""
    if not names:
        return set()
    rows = session.scalars(
        select(EmailDomain.name).where(
            EmailDomain.workspace_id == workspace.id,
            EmailDomain.name.in_(sorted(names)),
            EmailDomain.verified_at.is_not(None),
        )
    )
    return set(rows)


def check_member_domains(session: Session, workspace: Workspace, document: dict[str, Any],
                         previous: dict[str, Any] | None = None) -> None:
    """Raise InvalidValueException (400 ``invalidValue``, RFC 7644 §3.12) naming the first
    domain of ``document`` that is not a verified allowed domain of the workspace.

    Only domains the member would *enter* are checked: those of ``document`` not already in
    ``previous`` (its stored document before a PUT or PATCH). So removing a domain blocks new
    provisioning into it but does not freeze the members already there.
    """
    if workspace.allow_any_domain:
        return
    wanted = member_domains(document) - (member_domains(previous) if previous else set())
    missing = sorted(wanted - verified_domains(session, workspace, wanted))
    if missing:
        domain = missing[0]
        raise InvalidValueException(
            detail=f"The email domain {domain} is not a verified domain of this workspace: "
            f"add and verify {domain} in the workspace's security settings, then retry."
        )
