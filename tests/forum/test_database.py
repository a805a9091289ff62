"""The persistence platform: statements prepared for the DB-API cursor, and SQLite's writers
waiting for each other."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from forum import database
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


@pytest.fixture
def writers(tmp_path: Path):  # noqa: ANN201
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    configure_sqlite(engine, writes_expected=lambda: True)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT)")
    yield engine
    engine.dispose()


def test_a_writer_waits_for_the_other_and_then_writes(writers) -> None:
    holding = writers.connect()
    holding.begin()
    holding.exec_driver_sql("INSERT INTO t (at) VALUES ('first')")
    waited: list[float] = []

    def second_writer() -> None:
        started = time.monotonic()
        with writers.begin() as connection:
            waited.append(time.monotonic() - started)
            connection.exec_driver_sql("INSERT INTO t (at) VALUES ('second')")

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.05)
    assert waited == []  # still waiting: the first holds the write lock
    holding.commit()
    holding.close()
    thread.join(timeout=5)
    assert len(waited) == 1 and waited[0] >= 0.05
    with writers.connect() as connection:
        rows = connection.exec_driver_sql("SELECT at FROM t ORDER BY id").scalars().all()
    assert rows == ["first", "second"]
    # The wait changed the busy timeout only while it waited.
    with writers.connect() as connection:
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert timeout == database.BUSY_TIMEOUT_SECONDS * 1000


def test_a_writer_that_waits_too_long_gets_database_is_locked(writers, monkeypatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    holding = writers.connect()
    holding.begin()
    holding.exec_driver_sql("INSERT INTO t (at) VALUES ('first')")
    try:
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="locked"), writers.begin():
            pass
        assert 0.2 <= time.monotonic() - started < 5
    finally:
        holding.rollback()
        holding.close()


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
