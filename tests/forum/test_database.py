"""The persistence platform: statements prepared for the DB-API cursor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from forum.database import Prepared, UTCDateTime, configure_sqlite, utcnow


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    configure_sqlite(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT)")
    yield engine
    engine.dispose()


def test_prepared_statements_bind_like_sqlalchemy(engine) -> None:
    table = sa.table("t", sa.column("id", sa.Integer), sa.column("at", UTCDateTime))
    now = utcnow()
    insert = Prepared(
        sa.insert(table).values(at=sa.bindparam("at", type_=UTCDateTime)).returning(table.c.id)
    )
    since = Prepared(
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.at > sa.bindparam("since", type_=UTCDateTime))
    )
    with engine.begin() as connection:
        (row,) = insert.execute(connection, {"at": now}).fetchall()
        assert row[0] >= 1
        stored = connection.execute(sa.select(table.c.at).where(table.c.id == row[0])).scalar()
        assert stored == now
        assert since.execute(connection, {"since": now - timedelta(seconds=1)}).fetchone() == (1,)
        assert since.execute(connection, {"since": now}).fetchone() == (0,)


def test_prepared_statements_raise_sqlalchemy_errors(engine) -> None:
    broken = Prepared(sa.text("SELECT * FROM no_such_table"))
    with engine.begin() as connection, pytest.raises(sa.exc.OperationalError):
        broken.execute(connection, {})


def test_prepared_statements_run_for_many_rows(engine) -> None:
    table = sa.table("t", sa.column("id", sa.Integer), sa.column("at", UTCDateTime))
    insert = Prepared(sa.insert(table).values(at=sa.bindparam("at", type_=UTCDateTime)))
    now = utcnow()
    with engine.begin() as connection:
        insert.execute_many(connection, [{"at": now}, {"at": now + timedelta(seconds=1)}])
        stored = connection.execute(sa.select(table.c.at).order_by(table.c.id)).scalars().all()
    assert stored == [now, now + timedelta(seconds=1)]


def test_prepared_first_row_is_converted_by_the_columns_types(engine) -> None:
    table = sa.table("t", sa.column("id", sa.Integer), sa.column("at", UTCDateTime))
    now = utcnow()
    insert = Prepared(
        sa.insert(table)
        .values(at=sa.bindparam("at", type_=UTCDateTime))
        .returning(table.c.id, table.c.at)
    )
    missing = Prepared(sa.select(table.c.at).where(table.c.id == sa.bindparam("id")))
    with engine.begin() as connection:
        row_id, at = insert.first(connection, {"at": now})
        # SQLite gives the stored text back; the column's type makes it an aware datetime.
        assert at == now and at.tzinfo is not None
        assert missing.first(connection, {"id": row_id + 1}) is None
