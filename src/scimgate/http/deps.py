"""Request dependencies: application state, the SCIM bearer token -> workspace, JSON bodies.

Typed aliases (``Annotated[..., Depends(...)]``) keep routes thin (STYLE.md §9).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from scimgate.config import SCIM_PREFIX, Settings
from scimgate.scim.errors import (
    ForbiddenException,
    InvalidSyntaxException,
    InvalidValueException,
    TooManyRequestsException,
    UnauthorizedException,
    UnsupportedMediaTypeException,
)
from scimgate.services.audit import AuditRecord, guess_client
from scimgate.services.audit_journal import AuditJournal
from scimgate.services.token_cache import TokenCache
from scimgate.services.tokens import find_live_token, find_refused_token, note_use, use_is_stale
from scimgate.storage.db import snapshot, transaction
from scimgate.storage.driver_reads import DriverReads
from scimgate.storage.models import ScimToken, Workspace

log = logging.getLogger("scimgate.http")


@dataclass
class AppState:
    """What every request shares: settings, the engine and its session factories (``sessions``
    for units of work that may write, ``readers`` for read-only ones: storage.db), the audit
    journal of reads (services.audit_journal; None: every row in its request's transaction) and
    the SCIM token cache (services.token_cache; None: every request looks its token up) and the
    read-only sessions of reads answered on the event loop's thread (storage.db.loop_reader_factory;
    None: every read runs in a worker thread) and its driver-cursor reads
    (storage.driver_reads; None: in those sessions), the write sessions of the loop's thread
    (storage.db.loop_writer_factory; None: every write runs in a worker thread) and how many
    writes these have committed (http.execute checkpoints the WAL every so many)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    extras: dict[str, Any] = field(default_factory=dict)
    journal: AuditJournal | None = None
    tokens: TokenCache | None = None
    loop_readers: sessionmaker[Session] | None = None
    loop_writers: sessionmaker[Session] | None = None
    loop_writes: int = 0
    driver_reads: DriverReads | None = None


async def app_state(request: Request) -> AppState:
    """The application's AppState (async: FastAPI runs a plain ``def`` dependency in a worker
    thread, a hop that costs more than this lookup)."""
    state: AppState = request.app.state.scimgate
    return state


State = Annotated[AppState, Depends(app_state)]


@dataclass
class ScimCaller:
    """An authenticated SCIM request: its workspace, its token and its audit record."""

    workspace: Workspace
    token: ScimToken
    audit: AuditRecord
    state: AppState

    @property
    def base_url(self) -> str:
        return self.state.settings.scim_base_url


def bearer_secret(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive, RFC 6750 §2.1),
    or "" when the header is missing, of another scheme, or empty (case C34)."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return secret.strip()


RESOURCE_TYPES = {"Users": "User", "Groups": "Group", "Schemas": "Schema", "ResourceTypes": "ResourceType"}


def _audit_record(request: Request, workspace: Workspace) -> AuditRecord:
    """The request's audit record, kept on ``request.state.audit`` so that a failure raised
    anywhere after authentication (a bad body, 403, 429, 500) is recorded by the error handler."""
    path = request.scope["path"]
    endpoint, _, rest = path[len(SCIM_PREFIX):].strip("/").partition("/")
    audit = AuditRecord(
        request_id=request.state.request_id,
        method=request.method,
        path=path,
        client=guess_client(request.headers.get("user-agent")),
        workspace_id=workspace.id,
        resource_type=RESOURCE_TYPES.get(endpoint, endpoint or None),
        resource_id=rest or None,
    )
    request.state.audit = audit
    request.state.audit_started = time.perf_counter()
    request.state.workspace_id = workspace.id
    request.state.client = audit.client
    return audit


def authenticate_bearer(state: AppState, secret: str,
                        kind: str = "scim") -> tuple[ScimToken, Workspace] | None:
    """(token, workspace) of a live bearer token of ``kind`` (``scim`` or ``admin``), or None.

    The lookup reads in a read-only unit of work (no SQLite write lock); the token's
    ``last_used`` is written, in a short transaction of its own, at most once a minute."""
    with snapshot(state.readers) as session:
        found = find_live_token(session, secret, kind=kind)
    if found is not None and use_is_stale(found[0]):
        _note_use(state, found[0])
    return found


async def scim_caller(request: Request, state: State) -> ScimCaller:
    """Authenticate the SCIM request (RFC 7644 §2): 401 for a missing, unknown or revoked
    token; 403 when the workspace's "SCIM user sync active" switch is off.

    The token is resolved through the process's token cache (services.token_cache: a revoked
    token fails at once on the revoking worker, within 2 s on the others); only a cache miss,
    a due ``last_used`` refresh or a new lease of rate-limit tokens (services.rate_limit: one
    per ten requests at the default budget) leave the event loop for a worker thread. A 401 is
    audited only for a token the workspace recognisably issued (revoked, or a mangled copy:
    services.tokens.find_refused_token), so a wrong token in the identity provider shows on the
    health card; those rows are rate limited per token like the requests
    themselves (beyond the budget the 401 is answered unrecorded). A token nobody issued writes
    nothing (no workspace is known, and recording it would let anyone write rows). Every
    request past this point is audited, including the 403 and 429 raised here."""
    secret = bearer_secret(request)
    cache = state.tokens
    found = cache.get(secret) if cache is not None else None
    if found is None:
        found = await run_in_threadpool(_resolve, state, secret)
    elif use_is_stale(found[0]):
        await run_in_threadpool(_note_use, state, found[0])
    token, workspace = found or (None, None)
    if token is None or workspace is None:
        await run_in_threadpool(_note_refusal, request, state, secret)
        raise UnauthorizedException(
            detail="A valid SCIM bearer token is required (Authorization: Bearer <token>)."
        )
    audit = _audit_record(request, workspace)
    if not workspace.scim_sync_active:
        raise ForbiddenException(
            detail="SCIM user sync is not active for this workspace: an admin can switch on "
            "'SCIM user sync active' in the workspace's security settings."
        )
    limiter = state.extras.get("rate_limiter")
    if limiter is not None and not limiter.spend_leased(token.id):
        await run_in_threadpool(limiter.check, token.id)
    return ScimCaller(workspace=workspace, token=token, audit=audit, state=state)


def _note_refusal(request: Request, state: AppState, secret: str) -> None:
    """Keep the audit record of a 401 for a token the workspace issued (see :func:`scim_caller`)."""
    with snapshot(state.readers) as session:
        found = find_refused_token(session, secret)
    if found is None:
        return
    limiter = state.extras.get("rate_limiter")
    if limiter is not None:
        try:
            limiter.check("refused:" + found[0].id)
        except TooManyRequestsException:
            return
    _audit_record(request, found[1])


def _resolve(state: AppState, secret: str) -> tuple[ScimToken, Workspace] | None:
    """:func:`authenticate_bearer` for a SCIM token, through the token cache when there is one."""
    if state.tokens is None:
        return authenticate_bearer(state, secret)
    return state.tokens.resolve(secret, lambda s: authenticate_bearer(state, s))


def _note_use(state: AppState, token: ScimToken) -> None:
    """Refresh the token's ``last_used``, best effort: a database that stays locked past the busy
    timeout (another program holding SQLite's write lock) leaves it for the next minute's
    request instead of failing this one."""
    try:
        with transaction(state.sessions) as session:
            note_use(session, token)
    except OperationalError as error:
        log.warning("could not record the SCIM token's last use; the next request will",
                    extra={"error": type(error.orig).__name__})


Caller = Annotated[ScimCaller, Depends(scim_caller)]


async def direct_caller(request: Request) -> tuple[ScimCaller, AppState]:
    """:func:`scim_caller` called directly by a route that takes only the ``Request`` (the SCIM
    reads and writes of Users and Groups): FastAPI's dependency resolution (one ``Caller`` with
    its nested ``State`` and header parameters) cost more CPU than the whole read it guards
    (docs/decisions.md, "A lean request path"). Same answers, same audit record; returns the
    caller and the app's state."""
    state: AppState = request.app.state.scimgate
    return await scim_caller(request, state), state

JSON_TYPES = ("application/scim+json", "application/json")


async def json_body(request: Request) -> dict[str, Any]:
    """The request body parsed as JSON (RFC 7644 §3.1: ``application/scim+json``; plain
    ``application/json`` and a missing Content-Type are read the same way).

    415 for another media type; 400 ``invalidSyntax`` for malformed JSON, an empty body or JSON
    that is not an object.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeException(
            detail=f"Content-Type {content_type!r} is not supported; send application/scim+json."
        )
    raw = (await request.body()).removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM MAY be ignored (RFC 8259 §8.1)
    if not raw.strip():
        raise InvalidSyntaxException(detail="The request body is empty; a JSON object is required.")
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidSyntaxException(detail="The request body is nested too deeply.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyntaxException(detail=f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(document, dict):
        raise InvalidSyntaxException(
            detail=f"The request body must be a JSON object, not {_json_kind(document)} "
            "(RFC 7644 §3.1: every SCIM request message is an object)."
        )
    _check_strings_and_depth(document)
    return document


def _json_kind(value: Any) -> str:
    """``an array``, ``a string``, ... : how the JSON value reads in a message."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


MAX_JSON_DEPTH = 32


def _check_strings_and_depth(value: Any, depth: int = 0) -> None:
    """400 for a body nested deeper than ``MAX_JSON_DEPTH`` (no SCIM message is deeper than a
    few levels) or holding U+0000 or a lone surrogate in a string or key (no SCIM attribute can
    hold them, and neither PostgreSQL text nor a UTF-8 response can carry them)."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidSyntaxException(detail=f"The request body is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidValueException(detail="Strings in the request body must not contain NUL (\\u0000).")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidValueException(
                    detail="Strings in the request body must be valid Unicode (a lone surrogate escape "
                    "such as \\ud800 is not, RFC 8259 §8.2)."
                ) from exc
    if isinstance(value, list):
        for item in value:
            _check_strings_and_depth(item, depth + 1)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_strings_and_depth(key, depth + 1)
            _check_strings_and_depth(item, depth + 1)


def _reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259 §6); Python's parser would accept them."""
    raise ValueError(f"{name} is not a JSON value")


Body = Annotated[dict[str, Any], Depends(json_body)]
