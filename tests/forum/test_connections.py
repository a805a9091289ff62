"""PostgreSQL connections: pinged only after idling, read pages in autocommit, writes refused
there, and a connection the server killed costs at most one request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from forum import create_app
from forum.boards import posting
from forum.database import WriteOutsideTransaction, reads_first
from forum.extensions import db
from forum.unread import ThreadRead
from tests.conftest import (
    TEST_PASSWORD,
    _test_config,
    _worker_id,
    csrf_token,
    make_board,
    make_user,
    postgresql_base_url,
)

pytestmark = pytest.mark.databases("postgresql")


@pytest.fixture
def own_app(committed_app: Flask, database_url: str) -> Iterator[Flask]:
    """An app of its own on the test database (real commits, tables emptied afterwards) whose
    connections carry a name, so that a test can have the server end them."""
    name = f"townhall-conn-{_worker_id()}"
    app = create_app(_test_config(f"{database_url}&application_name={name}"))
    app.config["CONNECTION_NAME"] = name

    @app.get("/test-writes-without-saying")
    @reads_first
    def writes_without_saying():  # noqa: ANN202
        db.session.execute(sa.text("UPDATE boards SET name = name"))
        db.session.commit()
        return "written"

    yield app
    with app.app_context():
        db.engine.dispose()


def _terminate(app: Flask) -> int:
    """End the server side of every connection the app holds; return how many."""
    engine = sa.create_engine(postgresql_base_url())
    with engine.connect() as connection:
        ended = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": app.config["CONNECTION_NAME"]},
        ).scalar()
    engine.dispose()
    return ended or 0


def _sent(monkeypatch) -> list[str]:  # noqa: ANN001
    """Record what psycopg sends: statements, and its own BEGIN/COMMIT/ROLLBACK."""
    import psycopg

    sent: list[str] = []
    for cls, name in ((psycopg.Cursor, "execute"), (psycopg.Connection, "_exec_command")):
        original = getattr(cls, name)

        def wrapper(self, query, *args, original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            # After the call: a statement's execute sends psycopg's BEGIN first.
            result = original(self, query, *args, **kwargs)
            sent.append(query.decode() if isinstance(query, bytes) else str(query))
            return result

        monkeypatch.setattr(cls, name, wrapper)
    return sent


def test_a_busy_connection_is_not_pinged_and_a_read_page_sends_no_begin(
    own_app, monkeypatch
) -> None:
    client = own_app.test_client()
    assert client.get("/").status_code == 200
    sent = _sent(monkeypatch)
    assert client.get("/").status_code == 200
    # The board list is one statement: no ping, BEGIN or ROLLBACK around it.
    assert len(sent) == 1 and sent[0].lstrip().startswith("SELECT"), sent


def test_an_idle_connection_is_pinged(own_app, monkeypatch) -> None:
    client = own_app.test_client()
    assert client.get("/").status_code == 200
    monkeypatch.setattr("forum.connections.monotonic", lambda: 10**9)
    sent = _sent(monkeypatch)
    assert client.get("/").status_code == 200
    assert sent[0] == ";"  # psycopg's ping, then the page's statement
    assert len(sent) == 2


def test_a_connection_killed_while_idle_is_replaced_before_use(own_app, monkeypatch) -> None:
    client = own_app.test_client()
    assert client.get("/").status_code == 200
    assert _terminate(own_app) >= 1
    # Long enough ago: the checkout pings, finds it dead and connects anew.
    monkeypatch.setattr("forum.connections.monotonic", lambda: 10**9)
    assert client.get("/").status_code == 200


def test_a_connection_killed_between_busy_requests_costs_one_request(own_app) -> None:
    client = own_app.test_client()
    assert client.get("/").status_code == 200
    assert _terminate(own_app) >= 1
    # Moments later nothing is checked: that request fails with the error page...
    assert client.get("/").status_code == 500
    # ...and SQLAlchemy has discarded the dead connection: the next request connects anew.
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200


def test_a_read_page_cannot_write_before_saying_so(own_app, caplog) -> None:
    assert own_app.test_client().get("/test-writes-without-saying").status_code == 500
    assert any(
        record.exc_info and isinstance(record.exc_info[1], WriteOutsideTransaction)
        for record in caplog.records
    )


def test_a_member_s_read_mark_is_one_statement_of_its_own_after_autocommit_reads(
    own_app, monkeypatch
) -> None:
    with own_app.app_context():
        reader = make_user("reader")
        board = make_board("general")
        thread = posting.create_thread(db.session, make_user(), board, "Hello", "first post")
        db.session.commit()
        thread_id, reader_id = thread.id, reader.id
    client = own_app.test_client()
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_token(client), "login": "reader", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    sent = _sent(monkeypatch)
    assert client.get(f"/t/{thread_id}").status_code == 200
    # The reads without BEGIN, then the read mark's write, one upsert that only moves it
    # forward: its own transaction, without BEGIN and COMMIT (two round trips) around it.
    assert all(not s.startswith(("BEGIN", "COMMIT", "ROLLBACK")) for s in sent), sent
    assert len(sent) == 2 and sent[-1].lstrip().startswith("INSERT INTO thread_reads"), sent
    with own_app.app_context():
        mark = db.session.scalar(
            sa.select(ThreadRead.last_read_number).where(
                ThreadRead.user_id == reader_id, ThreadRead.thread_id == thread_id
            )
        )
    assert mark == 1


def _signed_in_replier(app: Flask) -> tuple:  # noqa: ANN001
    """A thread watched by another member, and a client signed in as a replier."""
    with app.app_context():
        make_user("replier")
        make_user("mentioned")
        watcher = make_user("watcher")
        thread = posting.create_thread(db.session, watcher, make_board("general"), "Hello", "first")
        db.session.commit()
        thread_id = thread.id
    client = app.test_client()
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_token(client), "login": "replier", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    return client, thread_id, csrf_token(client, f"/t/{thread_id}")


def _reply(client, thread_id: int, token: str, body: str, key: str) -> str:  # noqa: ANN001
    response = client.post(
        f"/t/{thread_id}/reply", data={"csrf_token": token, "body": body, "submission_key": key}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _stored(app: Flask, thread_id: int) -> tuple:
    with app.app_context():
        replies = db.session.scalar(
            sa.text("SELECT reply_count FROM threads WHERE id = :id"), {"id": thread_id}
        )
        kinds = db.session.scalars(
            sa.text("SELECT kind FROM notifications WHERE thread_id = :id ORDER BY id"),
            {"id": thread_id},
        ).all()
        return replies, kinds


def test_a_reply_naming_nobody_is_its_one_statement_without_begin_or_commit(
    own_app, monkeypatch
) -> None:
    client, thread_id, token = _signed_in_replier(own_app)
    sent = _sent(monkeypatch)
    _reply(client, thread_id, token, "A plain reply.", "key-1")
    # The thread with the member, then the reply's statement as its own transaction.
    assert len(sent) == 2, sent
    assert sent[0].lstrip().startswith("SELECT") and sent[1].lstrip().startswith("WITH")
    assert _stored(own_app, thread_id) == (1, ["reply"])  # the watcher heard of it


def test_a_reply_naming_somebody_is_written_in_a_transaction(own_app, monkeypatch) -> None:
    client, thread_id, token = _signed_in_replier(own_app)
    sent = _sent(monkeypatch)
    _reply(client, thread_id, token, "Thanks @mentioned!", "key-1")
    begin = sent.index("BEGIN")
    assert sent[begin + 1].lstrip().startswith("WITH") and sent[-1] == "COMMIT", sent
    assert "notifications" in sent[-2]  # the mention's, before the commit
    assert _stored(own_app, thread_id) == (1, ["reply", "mention"])


def test_a_resubmitted_reply_written_alone_answers_with_the_first(own_app, monkeypatch) -> None:
    client, thread_id, token = _signed_in_replier(own_app)
    first = _reply(client, thread_id, token, "A plain reply.", "key-1")
    sent = _sent(monkeypatch)
    # Its statement wrote nothing: it runs again in a transaction, which finds the first.
    assert _reply(client, thread_id, token, "A plain reply.", "key-1") == first
    assert "BEGIN" in sent and sent[-1] in ("COMMIT", "ROLLBACK"), sent
    assert _stored(own_app, thread_id) == (1, ["reply"])
