"""Group membership at scale: one-member PATCHes and member-less GETs in groups of 1k, 10k, 100k.

``python -m bench groups`` (or :func:`main`, run by ``make bench``):

1. builds a fresh SQLite database (and a fresh PostgreSQL database on the test server,
   ``SCIMGATE_TEST_POSTGRES_URL``, when it is reachable) with one workspace, a group of each
   size filled by bulk INSERT through the storage layer, and spare users in no group;
2. drives the whole request path in process (``create_app`` behind Starlette's test client:
   middleware, bearer token, group sync switch, one transaction, audit row; no network) with
   three operations per group: PATCH add one member (204), PATCH remove that member by
   ``members[value eq]`` (204), GET ``?excludedAttributes=members`` (Entra's read, identity-providers.md §3);
3. interleaves the sizes within every repetition, in rotating order, so load on the machine and
   cache effects hit all sizes alike;
4. prints the median latency per operation and size and the ratio 100k/1k (issue 6 asks < 1.5),
   and rewrites the section ``## Groups`` of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from tests.support import create_postgres_database, drop_postgres_database, postgres_available

from bench import machine, replace_section
from scimgate.app import create_app
from scimgate.config import Settings
from scimgate.services import tokens, workspaces
from scimgate.storage import groups as group_store
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import Member, utcnow

SECTION = "## Groups"
SIZES = (1_000, 10_000, 100_000)
OPERATIONS = ("PATCH add one member", "PATCH remove one member", "GET excludedAttributes=members")
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _members(session: Session, workspace_id: str, prefix: str, count: int) -> list[str]:
    """Bulk INSERT of ``count`` users named ``<prefix><n>@example.com``; returns their ids."""
    now = utcnow()
    ids = sorted(str(uuid.uuid4()) for _ in range(count))  # sorted: B-tree appends, not random inserts
    table = Member.metadata.tables[Member.__tablename__]
    names = [f"{prefix}{n:06d}@example.com" for n in range(count)]
    rows = [
        {"id": member_id, "workspace_id": workspace_id, "user_name": name, "user_name_lower": name,
         "document": {"userName": name}, "active": True, "version": 1, "created": now, "last_modified": now}
        for member_id, name in zip(ids, names, strict=True)
    ]
    session.execute(insert(table), rows)
    return ids


def _database(url: str, repetitions: int) -> tuple[str, dict[int, str], list[str]]:
    """Migrate ``url`` and fill it: (SCIM token, group id per size, spare user ids)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    groups: dict[int, str] = {}
    with transaction(sessions) as session:
        workspace = workspaces.create_workspace(session, "bench-" + uuid.uuid4().hex[:8])
        workspaces.set_scim_sync(session, workspace, True)
        token = tokens.issue_token(session, workspace).secret
        spare = _members(session, workspace.id, "spare", repetitions)
        for size in SIZES:
            group = group_store.insert_group(session, workspace.id, {"displayName": f"Bench {size}"})
            ids = _members(session, workspace.id, f"g{size}-", size)
            group_store.insert_rows(session, workspace.id, group.id, dict.fromkeys(ids, "User"))
            groups[size] = group.id
    engine.dispose()
    return token, groups, spare


def _timed(send: Callable[..., httpx.Response], path: str, expected: int, **kwargs: Any) -> float:
    """Seconds one request takes; raises RuntimeError unless it answers ``expected``."""
    started = time.perf_counter()
    response = send(path, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != expected:
        raise RuntimeError(f"{path}: expected HTTP {expected}, got {response.status_code}: {response.text}")
    return elapsed


def run(url: str, repetitions: int) -> dict[str, dict[int, float]]:
    """Median seconds per operation and group size against the database at ``url``."""
    token, groups, spare = _database(url, repetitions)
    settings = Settings(database_url=url, rate_limit_per_second=0, public_url="http://bench.local")
    latencies: dict[str, dict[int, list[float]]] = {op: {size: [] for size in SIZES} for op in OPERATIONS}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    with TestClient(create_app(settings), base_url="http://bench.local") as client:
        base = "/api/scim/v2/Groups/"
        for repetition in range(repetitions + 3):  # the first 3 rounds warm up and are dropped
            member = spare[repetition % len(spare)]
            add = {"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": member}]}]}
            remove = {"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": f'members[value eq "{member}"]'}]}
            shift = repetition % len(SIZES)  # rotate, so that no size is always measured first
            for size in SIZES[shift:] + SIZES[:shift]:
                path = base + groups[size]
                times = (
                    _timed(client.patch, path, 204, json=add, headers=headers),
                    _timed(client.patch, path, 204, json=remove, headers=headers),
                    _timed(client.get, path + "?excludedAttributes=members", 200, headers=headers),
                )
                if repetition >= 3:
                    for op, seconds in zip(OPERATIONS, times, strict=True):
                        latencies[op][size].append(seconds)
    return {op: {size: statistics.median(values) for size, values in by_size.items()}
            for op, by_size in latencies.items()}


def _table(backend: str, medians: dict[str, dict[int, float]]) -> list[str]:
    header = " | ".join(f"{size:,} members" for size in SIZES)
    lines = [f"**{backend}**", "", f"| operation | {header} | ratio 100k/1k |",
             "| --- |" + " ---: |" * (len(SIZES) + 1)]
    for op, by_size in medians.items():
        cells = " | ".join(f"{by_size[size] * 1000:.2f} ms" for size in SIZES)
        lines.append(f"| {op} | {cells} | {by_size[SIZES[-1]] / by_size[SIZES[0]]:.2f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on SQLite and, when reachable, PostgreSQL; write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=30,
                        help="measured requests per operation and size")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict[int, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite"] = run(f"sqlite:///{folder}/bench.db", args.repetitions)
    if not args.sqlite_only and postgres_available():
        url = create_postgres_database()
        try:
            results["PostgreSQL"] = run(url, args.repetitions)
        finally:
            drop_postgres_database(url)
    body = [
        "Median latency of one request through the whole app in process (no network), "
        f"{args.repetitions} requests per cell after 3 warm-up rounds, sizes interleaved in rotating order; "
        f"{machine()}, {time.strftime('%Y-%m-%d', time.gmtime())}. "
        "`python -m bench groups` (issue 6: ratio 100k/1k < 1.5).",
        "",
    ]
    for backend, medians in results.items():
        body += _table(backend, medians)
    replace_section(SECTION, "\n\n".join([SECTION, "\n".join(body)]))
    print("\n".join(body))


if __name__ == "__main__":
    main()
