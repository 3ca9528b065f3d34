"""The SCIM query language at scale: filter, sort and page latency with 10,000 and 100,000 users.

``python -m bench.query`` (or :func:`main`, run by ``make bench``):

1. builds a fresh SQLite database (and, with ``--postgres URL`` or ``SCIMGATE_BENCH_POSTGRES_URL``,
   a fresh PostgreSQL database on that server) per size, with one workspace whose users are
   bulk-inserted through the storage models (member rows, their email rows, their documents)
   and the statistics refreshed (ANALYZE; VACUUM ANALYZE on PostgreSQL);
2. runs the issue 4 queries in process through the service function ``list_users`` (filter and
   sort compiled to SQL, count and page from one WHERE, rendering of the page; no HTTP): ``userName
   eq``, ``externalId eq``, ``emails[type eq "work"].value eq``, ``displayName co``, ``not (active
   eq false) and name.familyName sw "A"`` and a page sorted by userName at 90 % depth (startIndex
   90,000 of 100,000); every lookup names a different user;
3. prints the median and p99 latency per query and size, the ratio 100k/10k of the medians
   (targets: eq lookups < 1.5, any page < 50 ms) and the query plan of the eq lookups, and
   rewrites the section ``## Query language`` of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import sessionmaker

from bench import machine, replace_section
from scimgate.scim.params import parse_list_query
from scimgate.scim.schema import user_schema
from scimgate.services import members, workspaces
from scimgate.services.resources import compile_where
from scimgate.storage import migrate
from scimgate.storage.db import make_engine, normalise_url, session_factory, transaction
from scimgate.storage.mapping import USER_MAPPING
from scimgate.storage.models import Member, MemberEmail, Workspace, utcnow

SECTION = "## Query language"
SIZES = (10_000, 100_000)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
FAMILIES = ("Adams", "Baker", "Clark", "Davis", "Evans", "Ford", "Green", "Hill", "Irwin", "Jones")
BATCH = 5_000

Params = Callable[[int, int], dict[str, Any]]  # (lookup number, size) -> list query parameters
QUERIES: dict[str, Params] = {
    "userName eq": lambda i, n: {"filter": f'userName eq "USER{i}@Example.com"'},
    "externalId eq": lambda i, n: {"filter": f'externalId eq "ext-{i}"'},
    'emails[type eq "work"].value eq': lambda i, n: {
        "filter": f'emails[type eq "work"].value eq "user{i}@example.com"'},
    "displayName co": lambda i, n: {"filter": f'displayName co "son {i}"'},
    'not (active eq false) and name.familyName sw "A"': lambda i, n: {
        "filter": 'not (active eq false) and name.familyName sw "A"'},
    "sorted page at 90 % (sortBy userName)": lambda i, n: {
        "sortBy": "userName", "startIndex": n * 9 // 10 + i % 100, "count": 100},
}
EQ_QUERIES = ("userName eq", "externalId eq", 'emails[type eq "work"].value eq')


def _document(i: int) -> dict[str, Any]:
    return {
        "userName": f"user{i}@example.com", "externalId": f"ext-{i}", "displayName": f"Person {i}",
        "active": i % 7 != 0, "name": {"givenName": f"Given{i}", "familyName": FAMILIES[i % len(FAMILIES)]},
        "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True},
                   {"value": f"user{i}@home.example.org", "type": "home"}],
        ENTERPRISE: {"employeeNumber": str(i)},
    }


def _fill(engine: Engine, sessions: sessionmaker[Any], size: int) -> str:
    """A workspace with ``size`` users (bulk INSERT through the models); returns its id."""
    with transaction(sessions) as session:
        workspace_id = workspaces.create_workspace(session, "bench-" + uuid.uuid4().hex[:8]).id
    now = utcnow()
    for start in range(0, size, BATCH):
        member_rows, email_rows = [], []
        for i in range(start, min(start + BATCH, size)):
            document, member_id = _document(i), str(uuid.uuid4())
            member_rows.append({
                "id": member_id, "workspace_id": workspace_id, "user_name": document["userName"],
                "user_name_lower": document["userName"].lower(), "external_id": document["externalId"],
                "display_name": document["displayName"],
                "display_name_lower": document["displayName"].lower(),
                "given_name": document["name"]["givenName"], "family_name": document["name"]["familyName"],
                "active": document["active"], "document": document, "version": 1, "created": now,
                "last_modified": now})
            email_rows += [{"workspace_id": workspace_id, "member_id": member_id, "position": position,
                            "value": email["value"], "value_lower": email["value"].lower(),
                            "type": email["type"], "primary": email.get("primary", False)}
                           for position, email in enumerate(document["emails"])]
        with transaction(sessions) as session:
            session.execute(insert(Member), member_rows)
            session.execute(insert(MemberEmail), email_rows)
    # Statistics (and on PostgreSQL the visibility map that index-only scans need), as autovacuum
    # would leave them on a live database.
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    return workspace_id


def _plan(engine: Engine, workspace_id: str, params: dict[str, Any]) -> str:
    """The database's plan for the filter's SELECT (EXPLAIN QUERY PLAN / EXPLAIN)."""
    where = compile_where(parse_list_query(params), user_schema(), USER_MAPPING, workspace_id=workspace_id)
    assert where is not None
    statement = select(Member.id).where(Member.workspace_id == workspace_id, where)
    compiled = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.execute(text(explain + compiled)).all()
    return "\n".join(str(row[-1]) if engine.dialect.name == "sqlite" else str(row[0]) for row in rows)


def run(url: str, size: int, repetitions: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Latencies (seconds) per query and the eq lookups' plans, on a fresh database at ``url``."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    workspace_id = _fill(engine, sessions, size)
    latencies: dict[str, list[float]] = {name: [] for name in QUERIES}
    for repetition in range(repetitions + 3):  # the first 3 rounds warm up and are dropped
        lookup = (repetition * 7919) % size
        for name, params in QUERIES.items():
            query = parse_list_query(params(lookup, size), default_count=100, max_results=200)
            with transaction(sessions) as session:
                workspace = session.get_one(Workspace, workspace_id)
                started = time.perf_counter()
                result = members.list_users(session, workspace, query, "http://bench.local/api/scim/v2")
                elapsed = time.perf_counter() - started
            if name in EQ_QUERIES and result["totalResults"] != 1:
                raise RuntimeError(f"{name}: expected one match, got {result['totalResults']}")
            if repetition >= 3:
                latencies[name].append(elapsed)
    plans = {name: _plan(engine, workspace_id, QUERIES[name](size // 2, size)) for name in EQ_QUERIES}
    engine.dispose()
    return latencies, plans


def _postgres_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the PostgreSQL server of ``server_url``, and how to drop it."""
    name = "bench_query_" + uuid.uuid4().hex[:8]
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return normalise_url(server_url).rsplit("/", 1)[0] + "/" + name, drop


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _table(backend: str, results: dict[int, dict[str, list[float]]], sizes: tuple[int, ...]) -> list[str]:
    small, large = sizes
    lines = [f"**{backend}**", "",
             f"| query | {small:,} median | {small:,} p99 | {large:,} median | {large:,} p99 | ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in QUERIES:
        a, b = results[small][name], results[large][name]
        ratio = statistics.median(b) / statistics.median(a)
        lines.append(f"| `{name}` | {statistics.median(a) * 1000:.2f} ms | {_p99(a) * 1000:.2f} ms | "
                     f"{statistics.median(b) * 1000:.2f} ms | {_p99(b) * 1000:.2f} ms | {ratio:.2f} |")
    return lines + [""]


def _plans(backend: str, plans: dict[str, str], size: int) -> list[str]:
    lines = [f"Query plans of the eq lookups, {backend}, {size:,} users:", ""]
    for name, plan in plans.items():
        lines += [f"- `{name}`", "", "  ```", *("  " + line for line in plan.splitlines()), "  ```", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run on SQLite (and PostgreSQL when given a server) and write the section."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=40, help="measured runs per query and size")
    parser.add_argument("--postgres", default=os.environ.get("SCIMGATE_BENCH_POSTGRES_URL"),
                        help="a PostgreSQL server URL; a fresh database per size is made there, then dropped")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="two user counts, small and large (default 10000,100000)")
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    backends: dict[str, dict[int, dict[str, list[float]]]] = {"SQLite": {}}
    plans: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            url = f"sqlite:///{folder}/q{size}.db"
            backends["SQLite"][size], plans["SQLite"] = run(url, size, args.repetitions)
    if args.postgres:
        backends["PostgreSQL"] = {}
        for size in sizes:
            url, drop = _postgres_database(args.postgres)
            try:
                backends["PostgreSQL"][size], plans["PostgreSQL"] = run(url, size, args.repetitions)
            finally:
                drop()
    body = [
        "In-process latency of `services.members.list_users` (filter and sortBy compiled to SQL, count and "
        f"page from one WHERE, the page rendered; no HTTP), {args.repetitions} runs per cell after 3 warm-up "
        "rounds, a different user per lookup; one workspace holding all the users; "
        f"{machine()}, {time.strftime('%Y-%m-%d', time.gmtime())}. "
        "`python -m bench.query` (issue 4 targets: eq lookups flat, ratio 100k/10k < 1.5; a page anywhere "
        "in 100k users under 50 ms).",
        "",
    ]
    for backend, results in backends.items():
        body += _table(backend, results, sizes)
    for backend, backend_plans in plans.items():
        body += _plans(backend, backend_plans, sizes[-1])
    replace_section(SECTION, "\n\n".join([SECTION, "\n".join(body)]))
    print("\n".join(body))


if __name__ == "__main__":
    main()
