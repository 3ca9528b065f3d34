"""Member lists: the cost of naming N members grows linearly with N (issue 13 major 3).

``python -m bench member_lists [--repetitions R] [--sqlite-only]`` (also run by ``make bench``):

1. builds a fresh SQLite database (and a PostgreSQL one on the test server when it answers) with
   one workspace and 20,000 users, inserted in bulk through the storage layer;
2. drives the whole request path in process (``create_app`` behind Starlette's test client, as
   bench/groups.py does): for each size N (2,000 and 20,000) and each repetition, a new empty
   group is filled by PATCH ``add`` requests of at most 10,000 members each (the per-request
   limit, scim.limits: 1 request for 2,000, 2 for 20,000), then emptied by one PATCH ``remove``
   of ``members``; the sizes alternate within every repetition;
3. prints the median seconds of the fill and of the emptying per size and the ratio 20k/2k
   (linear cost: about 10; the issue asks <= 12; quadratic folding was about 100), and rewrites
   ``## Member lists`` of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import insert
from starlette.testclient import TestClient
from tests.support import create_postgres_database, drop_postgres_database, postgres_available

from bench import machine, replace_section
from scimgate.app import create_app
from scimgate.config import Settings
from scimgate.scim.limits import MAX_MEMBERS_PER_REQUEST
from scimgate.services import tokens, workspaces
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import Member, utcnow

SECTION = "## Member lists"
SIZES = (2_000, 20_000)
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
OPERATIONS = ("fill (PATCH add)", "empty (PATCH remove members)")


def _database(url: str) -> tuple[str, list[str]]:
    """Migrate ``url``, make a workspace with a token and ``max(SIZES)`` users: (token, user ids)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = utcnow()
    ids = sorted(str(uuid.uuid4()) for _ in range(max(SIZES)))
    with transaction(session_factory(engine)) as session:
        workspace = workspaces.create_workspace(session, "bench-" + uuid.uuid4().hex[:8])
        workspaces.set_scim_sync(session, workspace, True)
        token = tokens.issue_token(session, workspace).secret
        names = [f"m{n:06d}@example.com" for n in range(len(ids))]
        session.execute(insert(Member.metadata.tables[Member.__tablename__]), [
            {"id": member_id, "workspace_id": workspace.id, "user_name": name, "user_name_lower": name,
             "document": {"userName": name}, "active": True, "version": 1, "created": now,
             "last_modified": now}
            for member_id, name in zip(ids, names, strict=True)])
    engine.dispose()
    return token, ids


def _patch(client: TestClient, path: str, headers: dict[str, str], operation: dict[str, Any]) -> None:
    response = client.patch(path, json={"schemas": [PATCH_OP], "Operations": [operation]}, headers=headers)
    if response.status_code != 204:
        raise RuntimeError(f"PATCH {path}: expected 204, got {response.status_code}: {response.text[:300]}")


def run(url: str, repetitions: int) -> dict[str, dict[int, float]]:
    """Median seconds per operation and size against the database at ``url``."""
    token, ids = _database(url)
    settings = Settings(database_url=url, rate_limit_per_second=0, public_url="http://bench.local")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    seconds: dict[str, dict[int, list[float]]] = {op: {size: [] for size in SIZES} for op in OPERATIONS}
    with TestClient(create_app(settings), base_url="http://bench.local") as client:
        for repetition in range(repetitions + 1):  # the first round warms up and is dropped
            order = SIZES if repetition % 2 == 0 else tuple(reversed(SIZES))
            for size in order:
                created = client.post("/api/scim/v2/Groups", headers=headers, json={
                    "schemas": [GROUP_SCHEMA], "displayName": f"bench {uuid.uuid4().hex[:8]}"})
                path = f"/api/scim/v2/Groups/{created.json()['id']}"
                started = time.perf_counter()
                for first in range(0, size, MAX_MEMBERS_PER_REQUEST):
                    chunk = ids[first:min(size, first + MAX_MEMBERS_PER_REQUEST)]
                    _patch(client, path, headers, {"op": "add", "path": "members",
                                                   "value": [{"value": member} for member in chunk]})
                filled = time.perf_counter()
                _patch(client, path, headers, {"op": "remove", "path": "members"})
                emptied = time.perf_counter()
                client.delete(path, headers=headers)
                if repetition:
                    seconds[OPERATIONS[0]][size].append(filled - started)
                    seconds[OPERATIONS[1]][size].append(emptied - filled)
    return {op: {size: statistics.median(values) for size, values in by_size.items()}
            for op, by_size in seconds.items()}


def _table(backend: str, medians: dict[str, dict[int, float]]) -> list[str]:
    lines = [f"**{backend}**", "", "| operation | 2,000 members | 20,000 members | ratio 20k/2k |",
             "| --- | ---: | ---: | ---: |"]
    for op, by_size in medians.items():
        small, large = by_size[SIZES[0]], by_size[SIZES[1]]
        lines.append(f"| {op} | {small * 1000:.0f} ms | {large * 1000:.0f} ms | {large / small:.1f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    """Run on SQLite and, when reachable, PostgreSQL; print and write the section."""
    parser = argparse.ArgumentParser(prog="python -m bench member_lists", description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3, help="measured rounds per size")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-docs", action="store_true", help="print only")
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
        "Median seconds to fill an empty group with N members by PATCH `add` requests of at most "
        f"{MAX_MEMBERS_PER_REQUEST:,} members (1 request for 2,000, 2 for 20,000) and to empty it with one "
        f"PATCH `remove members`; whole app in process (no network), {args.repetitions} rounds after one "
        f"warm-up, sizes alternating; {machine()}, {time.strftime('%Y-%m-%d', time.gmtime())}. "
        "`python -m bench member_lists` (issue 13: ratio 20k/2k <= 12; linear is about 10).",
        "",
    ]
    for backend, medians in results.items():
        body += _table(backend, medians)
    print("\n".join(body))
    if not args.no_docs:
        replace_section(SECTION, "\n\n".join([SECTION, "\n".join(body)]))
