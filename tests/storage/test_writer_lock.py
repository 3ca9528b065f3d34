"""SQLite writers queue on storage.writer_lock before SQLite's busy handler; readers never do.

What is checked: a held writer lock excludes writers in other processes (and threads), and is
let go on commit, rollback and error; nested units of work in one thread do not deadlock; a
read-only unit (storage.db.snapshot) reads while another connection holds SQLite's write lock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from scimgate.storage import migrate
from scimgate.storage.db import make_engine, read_only_factory, session_factory, snapshot, transaction
from scimgate.storage.models import Workspace
from scimgate.storage.writer_lock import WriterLock

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


@pytest.fixture()
def sqlite_db(tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker[Session], Path]]:
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    yield engine, session_factory(engine), Path(str(path.resolve()) + "-writer.lock")
    engine.dispose()


def other_process_sees(lock_file: Path) -> str:
    """"held" when another process cannot take the lock file's flock now, else "free"."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(lock_file)], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.strip()


def test_a_write_transaction_holds_the_lock_against_other_processes(sqlite_db):
    _, sessions, lock_file = sqlite_db
    with transaction(sessions) as session:
        session.execute(text("SELECT 1"))
        assert other_process_sees(lock_file) == "held"
    assert other_process_sees(lock_file) == "free"


def test_the_lock_is_let_go_when_the_transaction_fails(sqlite_db):
    _, sessions, lock_file = sqlite_db
    with pytest.raises(ZeroDivisionError), transaction(sessions):
        raise ZeroDivisionError
    assert other_process_sees(lock_file) == "free"
    with transaction(sessions) as session:  # and the next writer of this process gets it
        assert session.execute(text("SELECT 1")).scalar() == 1


def test_nested_units_in_one_thread_do_not_deadlock(sqlite_db):
    _, sessions, lock_file = sqlite_db
    readers = read_only_factory(sessions)
    with transaction(sessions) as outer:
        outer.execute(text("SELECT 1"))
        with snapshot(readers) as inner:
            assert inner.execute(text("SELECT 1")).scalar() == 1
    assert other_process_sees(lock_file) == "free"


def test_threads_take_turns(sqlite_db):
    """Every thread's read-modify-write of one row lands: none is lost and none fails busy."""
    _, sessions, _ = sqlite_db
    with transaction(sessions) as session:
        session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with transaction(sessions) as session:
                    n = session.execute(text("SELECT n FROM counter")).scalar_one()
                    session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with snapshot(read_only_factory(sessions)) as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 200


def test_a_snapshot_reads_while_another_connection_writes(sqlite_db):
    engine, sessions, _ = sqlite_db
    with transaction(sessions) as session:
        session.add(Workspace(id="w-read", name="read", name_lower="read"))
    writer = engine.raw_connection()
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE workspace SET name = 'renamed' WHERE id = 'w-read'")
        with snapshot(read_only_factory(sessions)) as session:  # would wait 30 s with BEGIN IMMEDIATE
            assert session.scalar(select(Workspace.name).where(Workspace.id == "w-read")) == "read"
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_taking_the_lock_without_waiting_yields_to_a_waiting_writer(tmp_path: Path) -> None:
    """``acquire_now`` (the event loop's writes) takes a free lock, gives up on one held
    elsewhere, and also on a free one that another writer is waiting for (a shared lock on the
    ``.wait`` file): a loop writing one write after another would otherwise take it back before
    the waiter of another process woke. A waiting writer says so while it waits, and only then."""
    path = tmp_path / "db-writer.lock"
    mine, theirs = WriterLock(path), WriterLock(path)
    assert mine.acquire_now()
    assert not theirs.acquire_now()  # held by another holder
    mine.release()
    waiter = os.open(str(path) + ".wait", os.O_RDWR | os.O_CREAT)
    fcntl.flock(waiter, fcntl.LOCK_SH)  # another process waits for the lock
    assert not mine.acquire_now()
    fcntl.flock(waiter, fcntl.LOCK_UN)
    assert mine.acquire_now()
    mine.release()
    with theirs:  # a free lock is taken at once, without saying it waits
        assert other_process_sees(Path(str(path) + ".wait")) == "free"
    mine.acquire_now()
    entered = threading.Event()

    def wait_for_it() -> None:
        with theirs:
            entered.set()

    blocked = threading.Thread(target=wait_for_it)
    blocked.start()
    deadline = time.monotonic() + 10
    while other_process_sees(Path(str(path) + ".wait")) == "free" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert other_process_sees(Path(str(path) + ".wait")) == "held"  # the waiter says it waits
    assert not entered.is_set()
    mine.release()
    blocked.join(10)
    assert entered.is_set()
    os.close(waiter)
