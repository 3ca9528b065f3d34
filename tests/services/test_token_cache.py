"""services.token_cache: entries expire after their bound, only live tokens are kept, and a
commit that changes a token or a workspace empties the cache (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services import tokens, workspaces
from scimgate.services.token_cache import Found, TokenCache
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, snapshot, transaction


@pytest.fixture(scope="module")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def issued(sessions: sessionmaker[Session]) -> tuple[str, str]:
    """(workspace id, secret) of a fresh workspace with sync on and a token."""
    with transaction(sessions) as session:
        workspace = workspaces.create_workspace(session, "ws-" + uuid.uuid4().hex[:12])
        workspaces.set_scim_sync(session, workspace, True)
        return workspace.id, tokens.issue_token(session, workspace).secret


def lookup(sessions: sessionmaker[Session], calls: list[str]) -> Callable[[str], Found | None]:
    """A database lookup of live SCIM tokens that notes each secret it was asked for in ``calls``."""
    def find(secret: str) -> Found | None:
        calls.append(secret)
        with snapshot(sessions) as session:
            return tokens.find_live_token(session, secret)
    return find


def test_a_hit_is_served_until_its_bound_then_looked_up_again(sessions: sessionmaker[Session]) -> None:
    """Within ``seconds`` the cache answers; after them the database does (the staleness bound)."""
    _, secret = issued(sessions)
    clock, calls = Clock(), list[str]()
    cache = TokenCache(2.0, clock=clock)
    find = lookup(sessions, calls)
    assert cache.resolve(secret, find) is not None
    clock.now += 1.9
    assert cache.resolve(secret, find) is not None and len(calls) == 1
    clock.now += 0.2
    assert cache.resolve(secret, find) is not None and len(calls) == 2


def test_unknown_tokens_are_not_cached(sessions: sessionmaker[Session]) -> None:
    """A miss is looked up every time, so a token made on another worker works at once."""
    calls: list[str] = []
    cache = TokenCache(2.0, clock=Clock())
    find = lookup(sessions, calls)
    assert cache.resolve("sg_unknown", find) is None and cache.resolve("sg_unknown", find) is None
    assert len(calls) == 2


def test_revocation_and_sync_off_in_watched_sessions_clear_the_cache(
        sessions: sessionmaker[Session]) -> None:
    """A commit revoking a token or switching sync off, in a watched session factory, empties
    the cache: the next request sees the change at once."""
    workspace_id, secret = issued(sessions)
    cache = TokenCache(2.0, clock=Clock())
    cache.watch(sessions)
    find = lookup(sessions, [])
    assert cache.resolve(secret, find) is not None
    with transaction(sessions) as session:
        workspaces.set_scim_sync(session, workspaces.find_workspace(session, workspace_id), False)
    found = cache.resolve(secret, find)
    assert found is not None and found[1].scim_sync_active is False
    with transaction(sessions) as session:
        assert tokens.revoke_tokens(session, workspaces.find_workspace(session, workspace_id)) == 1
    assert cache.get(secret) is None and cache.resolve(secret, find) is None


def test_a_rolled_back_change_keeps_the_answer_right(sessions: sessionmaker[Session]) -> None:
    """A revocation that rolls back leaves the token live (the cache may refill from the database)."""
    workspace_id, secret = issued(sessions)
    cache = TokenCache(2.0, clock=Clock())
    cache.watch(sessions)
    find = lookup(sessions, [])
    assert cache.resolve(secret, find) is not None
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        tokens.revoke_tokens(session, workspaces.find_workspace(session, workspace_id))
        session.flush()
        raise RuntimeError("abandon")
    assert cache.resolve(secret, find) is not None
