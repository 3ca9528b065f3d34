"""GET /Users/{id} is a read-only unit of work (issue 14): on SQLite it runs on the event loop's
own connection (storage.db.loop_reader_factory), so it must never wait for the writer."""

from __future__ import annotations

from sqlalchemy import update

from scimgate.storage.db import transaction
from scimgate.storage.models import Member
from tests.support import Tenant


def test_a_user_read_answers_while_a_writer_holds_the_database(tenant: Tenant) -> None:
    """A GET by id answers, with the last committed version, while another connection holds
    an uncommitted change of that user (on SQLite: the database's write lock; on PostgreSQL:
    the row's lock). A read that took the write lock would wait until the request timed out."""
    created = tenant.create_user("ada@example.com", displayName="Ada")
    assert tenant.get(f"/Users/{created['id']}").status_code == 200
    with transaction(tenant.server.sessions) as session:
        session.execute(update(Member).where(Member.id == created["id"]).values(display_name="Held"))
        read = tenant.get(f"/Users/{created['id']}", timeout=10)
        assert read.status_code == 200, read.text
        assert read.json()["displayName"] == "Ada"
        assert read.headers["ETag"] == created["meta"]["version"]
