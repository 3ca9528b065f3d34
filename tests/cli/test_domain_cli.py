"""``scimgate domain``, ``admin-key`` and ``sample-data`` against a real database, and DNS
verification against a real DNS server on 127.0.0.1 (issue 7 §1, §2, §5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.dns_server import DnsZone, dns_env, dns_server
from typer.testing import CliRunner, Result

from scimgate.cli import app
from scimgate.services import members, tokens, workspaces
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import EmailDomain, Workspace

SCIMGATE = Path(sys.executable).parent / "scimgate"


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsZone]:
    """A real DNS server on 127.0.0.1 for the module."""
    with dns_server() as served:
        yield served


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[str]:
    """The module's database, migrated."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    yield database_url


@pytest.fixture
def workspace(database: str) -> str:
    """A fresh workspace's name."""
    name = "cli-" + uuid.uuid4().hex[:10]
    engine = make_engine(database)
    with transaction(session_factory(engine)) as session:
        workspaces.create_workspace(session, name)
    engine.dispose()
    return name


def run(database: str, zone: DnsZone | None, *args: str) -> Result:
    env = {"SCIMGATE_DATABASE_URL": database, **(dns_env(zone) if zone else {})}
    return CliRunner().invoke(app, list(args), env=env)


def stored_domain(database: str, workspace: str, name: str) -> EmailDomain | None:
    engine = make_engine(database)
    try:
        with session_factory(engine)() as session:
            found = workspaces.find_workspace(session, workspace)
            return session.scalar(select(EmailDomain).where(EmailDomain.workspace_id == found.id,
                                                            EmailDomain.name == name))
    finally:
        engine.dispose()


def test_add_list_remove(database: str, workspace: str) -> None:
    """add stores the IDNA lower-case name, pending, and prints the TXT record; list shows the
    status; a duplicate and an unknown removal exit 1 with a message (issue 7 §1)."""
    r = run(database, None, "domain", "add", "Bücher.Example", "--workspace", workspace)
    assert r.exit_code == 0, r.output
    assert "Added bücher.example (xn--bcher-kva.example)" in r.output and "(pending)" in r.output
    challenge = stored_domain(database, workspace, "xn--bcher-kva.example").challenge  # type: ignore[union-attr]
    assert f"scimgate-verification={challenge}" in r.output
    assert "xn--bcher-kva.example or _scimgate.xn--bcher-kva.example" in r.output
    r = run(database, None, "domain", "list", "-w", workspace)
    assert r.output.splitlines() == ["bücher.example (xn--bcher-kva.example)\tpending"]
    r = run(database, None, "domain", "add", "xn--bcher-kva.EXAMPLE", "-w", workspace)
    assert r.exit_code == 1 and "already a domain of this workspace" in r.output
    assert run(database, None, "domain", "remove", "BÜCHER.example", "-w", workspace).exit_code == 0
    assert "has no email domains" in run(database, None, "domain", "list", "-w", workspace).output
    r = run(database, None, "domain", "remove", "bücher.example", "-w", workspace)
    assert r.exit_code == 1 and "is not a domain of this workspace" in r.output


def test_operator_override_is_recorded_with_reason(database: str, workspace: str) -> None:
    """verify --operator "reason" marks the domain verified by operator, with who and why (§2b)."""
    run(database, None, "domain", "add", "support.example", "-w", workspace)
    r = run(database, None, "domain", "verify", "support.example", "-w", workspace,
            "--operator", "  ", "--by", "ann")
    assert r.exit_code == 1 and "needs a reason" in r.output
    r = run(database, None, "domain", "verify", "support.example", "-w", workspace,
            "--operator", "ticket 42: registrar cannot publish TXT", "--by", "ann")
    assert r.exit_code == 0, r.output
    domain = stored_domain(database, workspace, "support.example")
    assert domain is not None and domain.verified_at is not None
    assert (domain.verified_by, domain.verified_detail) == (
        "operator", "by operator ann: ticket 42: registrar cannot publish TXT")
    listed = run(database, None, "domain", "list", "-w", workspace).output
    assert "support.example\tverified\tby operator at " in listed and "ticket 42" in listed


def test_dns_verification_fails_with_findings_then_succeeds(database: str, workspace: str,
                                                            zone: DnsZone) -> None:
    """verify reports NXDOMAIN and exits 1; once the TXT record is at the domain it verifies (§2a)."""
    name = f"d{uuid.uuid4().hex[:8]}.example"
    run(database, zone, "domain", "add", name, "-w", workspace)
    r = run(database, zone, "domain", "verify", name, "-w", workspace, "--by", "ann")
    assert r.exit_code == 1
    assert f"{name}: the name does not exist (NXDOMAIN)." in r.stderr
    challenge = stored_domain(database, workspace, name).challenge  # type: ignore[union-attr]
    zone.add_txt(name, f"scimgate-verification={challenge}")
    r = run(database, zone, "domain", "verify", name, "-w", workspace, "--by", "ann")
    assert r.exit_code == 0, r.output
    assert f"Found the TXT record scimgate-verification={challenge} at {name}." in r.output
    domain = stored_domain(database, workspace, name)
    assert domain is not None and domain.verified_by == "dns"
    assert domain.verified_detail == f"by cli ann: TXT record found at {name}"


def test_dns_timeout_is_bounded(database: str, workspace: str, zone: DnsZone) -> None:
    """A DNS server that never answers: exit 1 within the timeout, saying so (§2a)."""
    name = f"d{uuid.uuid4().hex[:8]}.example"
    zone.silent.update({name, f"_scimgate.{name}"})
    run(database, zone, "domain", "add", name, "-w", workspace)
    started = time.monotonic()
    r = run(database, zone, "domain", "verify", name, "-w", workspace)
    assert time.monotonic() - started < 3
    assert r.exit_code == 1 and "within 0.5 s (timeout)" in r.stderr
    assert stored_domain(database, workspace, name).verified_at is None  # type: ignore[union-attr]


def test_unknown_workspace_and_invalid_domain_exit_1(database: str, workspace: str) -> None:
    """Admin mistakes exit with status 1 and a message, never a traceback."""
    r = run(database, None, "domain", "list", "-w", "no-such-workspace")
    assert r.exit_code == 1 and "No workspace called 'no-such-workspace'" in r.output
    r = run(database, None, "domain", "add", "bad domain!", "-w", workspace)
    assert r.exit_code == 1 and "is not a valid domain name" in r.output


def test_admin_key_create_list_revoke(database: str, workspace: str) -> None:
    """admin-key create prints a key that authenticates as admin (not as SCIM); revoke ends it."""
    r = run(database, None, "admin-key", "create", workspace)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    engine = make_engine(database)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        found = tokens.find_live_token(session, secret, kind="admin")
        assert found is not None and found[0].kind == "admin"
        assert tokens.find_live_token(session, secret) is None
    assert f"{secret[:10]}…" in run(database, None, "admin-key", "list", workspace).output
    assert "Revoked 1 admin key(s)." in run(database, None, "admin-key", "revoke", workspace).output
    with transaction(sessions) as session:
        assert tokens.find_live_token(session, secret, kind="admin") is None
    engine.dispose()


def test_sample_data_for_a_member(database: str, workspace: str) -> None:
    """sample-data create makes chats and agents owned by the member id; show counts them (§5)."""
    engine = make_engine(database)
    with transaction(session_factory(engine)) as session:
        found = workspaces.find_workspace(session, workspace)
        workspaces.set_allow_any_domain(session, found, True)
        member_id = members.create_user(session, found, {"userName": "sam"}, "http://x").body["id"]
    engine.dispose()
    r = run(database, None, "sample-data", "create", member_id, "-w", workspace,
            "--chats", "3", "--agents", "1")
    assert r.exit_code == 0 and f"{member_id} owns 3 chat(s) and 1 agent(s)." in r.output, r.output
    r = run(database, None, "sample-data", "show", member_id, "-w", workspace)
    assert f"{member_id} owns 3 chat(s) and 1 agent(s)." in r.output
    r = run(database, None, "sample-data", "show", str(uuid.uuid4()), "-w", workspace)
    assert r.exit_code == 1 and "No member" in r.output


def test_real_command_adds_and_verifies(database: str, workspace: str) -> None:
    """The installed ``scimgate`` entry point runs the same commands (subprocess)."""
    env = {**os.environ, "SCIMGATE_DATABASE_URL": database}
    done = subprocess.run([str(SCIMGATE), "domain", "add", "Real.Example", "--workspace", workspace],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([str(SCIMGATE), "domain", "verify", "real.example", "--workspace", workspace,
                           "--operator", "checked by phone", "--by", "ops"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    engine = make_engine(database)
    with session_factory(engine)() as session:
        found = session.scalar(select(Workspace).where(Workspace.name == workspace))
        assert found is not None
        domain = session.scalar(select(EmailDomain).where(EmailDomain.workspace_id == found.id))
        assert domain is not None and (domain.name, domain.verified_by) == ("real.example", "operator")
    engine.dispose()
