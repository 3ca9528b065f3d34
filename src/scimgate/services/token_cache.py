"""Per-process cache of SCIM bearer token resolution (token hash -> token and workspace).

Every SCIM request resolves its bearer token to a token row and its workspace; without a cache
that is a database round trip (and a threadpool hop) before any work. Entries live
``TOKEN_CACHE_SECONDS`` from the moment their lookup started, so:

- a token revoked, or a workspace changed (sync switched off, settings), by a unit of work of
  this process's session factory empties the cache when that transaction commits (explicit
  invalidation: :meth:`TokenCache.watch`): the change holds at once on this worker;
- on every other worker and for changes made by another process (the CLI), an answer read
  before the change is used at most ``TOKEN_CACHE_SECONDS`` (2 s) after it.

Only positive answers are kept (an unknown token is looked up each time, so a token made
elsewhere works at once). The cached rows are detached ORM objects: read them, never change them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from scimgate.services.tokens import token_hash
from scimgate.storage.models import ScimToken, Workspace

TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_SIZE = 10_000
_TOUCHED = "scimgate_tokens_touched"

Found = tuple[ScimToken, Workspace]


class TokenCache:
    """Live tokens by SHA-256 of the secret, each with the monotonic time its lookup began;
    at most ``size`` entries (the oldest go first)."""

    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS, size: int = TOKEN_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic):
        self._seconds = seconds
        self._size = size
        self._clock = clock
        self._entries: dict[str, tuple[float, Found]] = {}
        self._generation = 0  # bumped by clear(): a lookup that began before it is not stored
        self._lock = threading.Lock()

    def get(self, secret: str) -> Found | None:
        """The cached (token, workspace) of ``secret`` while fresh, else None."""
        entry = self._entries.get(token_hash(secret)) if secret else None
        if entry is None or self._clock() - entry[0] > self._seconds:
            return None
        return entry[1]

    def resolve(self, secret: str, lookup: Callable[[str], Found | None]) -> Found | None:
        """The cached answer for ``secret``, or ``lookup(secret)`` (stored when found)."""
        found = self.get(secret)
        if found is not None:
            return found
        began, generation = self._clock(), self._generation
        found = lookup(secret)
        if found is not None:
            with self._lock:
                if generation == self._generation:  # no invalidation while we looked
                    if len(self._entries) >= self._size:
                        self._entries.pop(next(iter(self._entries)))
                    self._entries[token_hash(secret)] = (began, found)
        return found

    def clear(self) -> None:
        """Forget every entry (a token or workspace changed)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Clear the cache after every commit of a ``sessions`` unit of work that added,
        changed or deleted a ScimToken or a Workspace (ORM flushes; ``last_used`` refreshes are
        Core updates and do not count)."""

        @event.listens_for(sessions, "after_flush")
        def _flushed(session: Session, _context: Any) -> None:
            changed = (*session.new, *session.dirty, *session.deleted)
            if any(isinstance(o, ScimToken | Workspace) for o in changed):
                session.info[_TOUCHED] = True
                self.clear()  # at once too: a request of this worker must not re-cache the old row

        @event.listens_for(sessions, "after_commit")
        def _committed(session: Session) -> None:
            if session.info.pop(_TOUCHED, False):
                self.clear()

        @event.listens_for(sessions, "after_rollback")
        def _rolled_back(session: Session) -> None:
            session.info.pop(_TOUCHED, None)
