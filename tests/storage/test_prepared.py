"""storage.prepared: a statement run on the driver's cursor in a session's transaction behaves as
through SQLAlchemy: the same values back, the same errors (IntegrityError), part of the same
transaction (rolled back with it), and a loaded row is the session's own persistent object,
with nothing left to flush. Both databases (PostgreSQL runs through SQLAlchemy itself)."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import Engine, bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from scimgate.services import workspaces
from scimgate.storage import members as store
from scimgate.storage import prepared
from scimgate.storage.db import make_engine, session_factory, transaction
from scimgate.storage.models import Member, Workspace, utcnow

_MEMBER = Member.__table__
_ROW = select(*_MEMBER.c).where(_MEMBER.c.id == bindparam("member_id"))
_ORM_ROW = select(Member).where(Member.id == bindparam("member_id"))  # load_one's query elsewhere
_INSERT = insert(_MEMBER).values({name: bindparam(name, type_=column.type)
                                  for name, column in _MEMBER.c.items() if name != "removed_groups"})


def _values(workspace_id: str) -> dict[str, object]:
    now = utcnow()
    name = f"{uuid.uuid4().hex[:8]}@example.com"
    return {"id": str(uuid.uuid4()), "workspace_id": workspace_id, "user_name": name, "user_name_lower": name,
            "external_id": None, "display_name": "Zoë", "display_name_lower": "zoë", "given_name": None,
            "family_name": None, "active": True, "document": {"userName": name, "displayName": "Zoë"},
            "version": 1, "created": now, "last_modified": now, "role": "member", "idp_role": None,
            "removed_at": None}


def _workspace(engine: Engine) -> str:
    with transaction(session_factory(engine)) as session:
        return workspaces.create_workspace(session, "prepared-" + uuid.uuid4().hex[:8]).id


def test_a_row_reads_back_as_through_sqlalchemy(engine: Engine) -> None:
    workspace_id = _workspace(engine)
    values = _values(workspace_id)
    with transaction(session_factory(engine)) as session:
        prepared.execute(session, _INSERT, values)
    with transaction(session_factory(engine)) as session:
        got = prepared.execute(session, _ROW, {"member_id": values["id"]}).rows
        expected = [tuple(row) for row in session.connection().execute(_ROW, {"member_id": values["id"]})]
    assert got == expected
    assert got[0][_MEMBER.c.keys().index("document")] == values["document"]
    assert got[0][_MEMBER.c.keys().index("created")] == values["created"]  # aware UTC, as stored
    assert got[0][_MEMBER.c.keys().index("removed_groups")] is None  # SQL NULL, not JSON null


def test_errors_are_sqlalchemys_and_the_transaction_rolls_back(engine: Engine) -> None:
    workspace_id = _workspace(engine)
    first, second = _values(workspace_id), _values(workspace_id)
    with transaction(session_factory(engine)) as session:
        prepared.execute(session, _INSERT, first)
    with pytest.raises(IntegrityError), transaction(session_factory(engine)) as session:
        prepared.execute(session, _INSERT, second)  # written, then rolled back with the unit
        prepared.execute(session, _INSERT, first)  # the same id: the primary key refuses it
    with transaction(session_factory(engine)) as session:
        assert prepared.execute(session, _ROW, {"member_id": second["id"]}).rows == []


def test_a_loaded_row_is_the_sessions_own_object_with_nothing_to_flush(engine: Engine) -> None:
    workspace_id = _workspace(engine)
    values = _values(workspace_id)
    with transaction(session_factory(engine)) as session:
        prepared.execute(session, _INSERT, values)
    flushed: list[object] = []
    with transaction(session_factory(engine)) as session:
        event.listen(session, "before_flush", lambda *args: flushed.append(args))
        def load(member_id: str) -> Member | None:
            return prepared.load_one(session, Member, _ROW, {"member_id": member_id}, (member_id,),
                                     elsewhere=_ORM_ROW)

        loaded = load(str(values["id"]))
        assert loaded is not None and loaded.display_name == "Zoë" and loaded.document == values["document"]
        assert loaded in session and not session.dirty and not session.new
        again = load(str(values["id"]))
        assert again is loaded
        assert session.get(Member, values["id"]) is loaded
        assert load("nobody") is None
        assert session.get(Workspace, workspace_id) is not None
    assert flushed == []  # committing the unit had nothing to write


def test_an_integer_beyond_64_bits_reads_back_exactly(engine: Engine) -> None:
    """orjson refuses to write such an integer and reads one as a float: storage.json_text
    writes and reads it with json, on both paths and both databases."""
    workspace_id = _workspace(engine)
    values = _values(workspace_id)
    values["document"] = {**values["document"], "urn:example:ext": {"big": 2**70 + 1, "id": "9" * 25}}
    with transaction(session_factory(engine)) as session:
        prepared.execute(session, _INSERT, values)
    with transaction(session_factory(engine)) as session:
        got = prepared.execute(session, _ROW, {"member_id": values["id"]}).rows[0]
        loaded = session.get(Member, values["id"])
        assert loaded is not None
        assert got[_MEMBER.c.keys().index("document")] == values["document"] == loaded.document


def test_every_save_statement_is_prepared_once() -> None:
    """A member's UPDATE is built per set of changed columns (storage.members._save_statement)
    and storage.prepared keeps what it compiles by statement: each set is one statement, so
    what is kept stays bounded however the sets come."""
    dialect = make_engine("sqlite://").dialect
    sets = [c for r in range(len(store._DERIVED) + 1) for c in itertools.combinations(store._DERIVED, r)]
    for changed in sets:
        prepared.prepare(store._save_statement(changed), dialect)
    kept = len(prepared._PREPARED)
    for _ in range(2):
        for changed in sets:
            prepared.prepare(store._save_statement(changed), dialect)
    assert len(prepared._PREPARED) == kept
