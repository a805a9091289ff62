"""Two moderators acting on the same post or member at the same moment, over real connections.

Each moderator is a separate client in its own thread with its own database connection; a
barrier releases both requests together, and the first one to take the row lock is held
inside its transaction for a moment, so the second truly arrives while the first is acting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event

from forum.accounts.models import Role, User
from forum.boards.models import Post, Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation.models import ModerationAction
from tests.conftest import Browser, make_board, make_user
from tests.forum.moderation.conftest import assert_counters_consistent, make_thread

pytestmark = pytest.mark.concurrency


@contextmanager
def slow_after(fragment: str, seconds: float = 0.3) -> Iterator[None]:
    """Pause each request thread once, right after it first runs SQL containing ``fragment``.

    Whoever gets there first holds its locks during the pause, so the other request meets
    them: the overlap the test is about happens every time, not by luck.
    """
    paused: set[int] = set()

    def _pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        me = threading.get_ident()
        if threading.current_thread() is threading.main_thread() or me in paused:
            return
        if fragment in statement:
            paused.add(me)
            time.sleep(seconds)

    engine = db.engine
    event.listen(engine, "after_cursor_execute", _pause)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", _pause)


def run_together(app: Flask, actors: list[User], act: Callable[[int, Browser], Any]) -> list[Any]:
    """Sign each actor in on its own client, then run ``act(index, browser)`` for all at once.

    ``act`` runs in another thread: it must use plain values, not the test's ORM objects.
    """
    browsers = [Browser(app.test_client()).sign_in(actor) for actor in actors]
    for browser in browsers:
        browser.token()
    # End the test's own transaction: on SQLite it would otherwise keep reading the snapshot
    # it started with, from before the requests commit.
    db.session.rollback()
    # Each request also lingers after its first statement, so that even one that has
    # nothing to do is still in flight when the other starts (asserted below).
    held: set[int] = set()

    def _linger(*_args: Any) -> None:
        me = threading.get_ident()
        if threading.current_thread() is not threading.main_thread() and me not in held:
            held.add(me)
            time.sleep(0.1)

    event.listen(db.engine, "after_cursor_execute", _linger)
    barrier = threading.Barrier(len(browsers))
    results: list[Any] = [None] * len(browsers)
    errors: list[BaseException] = []

    spans: list[tuple[float, float]] = []

    def _worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            start = time.monotonic()
            results[index] = act(index, browsers[index])
            spans.append((start, time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    workers = [threading.Thread(target=_worker, args=(i,)) for i in range(len(browsers))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    event.remove(db.engine, "after_cursor_execute", _linger)
    assert not errors, errors
    # The requests were in flight at the same time.
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    db.session.rollback()
    return results


@pytest.fixture
def staff(committed_app: Flask) -> dict[str, Any]:
    first = make_user("mod1", role=Role.MODERATOR)
    second = make_user("mod2", role=Role.MODERATOR)
    author = make_user("spammer")
    other = make_user("regular")
    board = make_board("general")
    db.session.commit()
    return {"mods": [first, second], "author": author, "other": other, "board": board}


def test_two_moderators_remove_the_same_post(committed_app, staff) -> None:
    thread, posts = make_thread(staff["other"], staff["board"], [staff["author"], staff["other"]])
    target_id = posts[1].id
    db.session.commit()
    # The thread row is locked right after the post's: pause there, holding the post's lock.
    with slow_after("FROM threads"):
        responses = run_together(
            committed_app, staff["mods"],
            lambda i, b: b.post(f"/moderation/posts/{target_id}/remove", {"reason": "Spam"}),
        )  # fmt: skip
    assert [r.status_code for r in responses] == [302, 302]
    db.session.expire_all()
    post = db.session.get(Post, target_id)
    assert post.removed_at is not None and post.body_source.startswith("Reply 1")
    rows = db.session.scalars(
        sa.select(ModerationAction).where(ModerationAction.action == "remove_post")
    ).all()
    assert len(rows) == 2
    assert {r.actor_id for r in rows} == {m.id for m in staff["mods"]}
    assert [r.changed for r in rows] == [True, False]
    assert rows[1].detail.startswith("no change: already removed by")
    assert post.removed_by_id == rows[0].actor_id
    thread = db.session.get(Thread, thread.id)
    assert thread.reply_count == 1
    assert_counters_consistent()


def test_remove_and_restore_at_once_leave_a_state_the_log_explains(committed_app, staff) -> None:
    thread, posts = make_thread(staff["other"], staff["board"], [staff["author"]])
    target_id = posts[1].id
    db.session.commit()
    paths = [f"/moderation/posts/{target_id}/remove", f"/moderation/posts/{target_id}/restore"]
    with slow_after("FROM threads"):
        run_together(
            committed_app, staff["mods"], lambda i, b: b.post(paths[i], {"reason": "Spam"})
        )
    db.session.expire_all()
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    assert len(rows) == 2
    post = db.session.get(Post, target_id)
    # Whatever order the database chose, the last act that changed something decides.
    changed = [r for r in rows if r.changed]
    assert changed, rows
    assert (post.removed_at is not None) == (changed[-1].action == "remove_post")
    assert_counters_consistent()


def test_two_moderators_remove_a_thread_and_a_reply_at_once(committed_app, staff) -> None:
    thread, posts = make_thread(
        staff["other"], staff["board"], [staff["author"], staff["author"], staff["other"]]
    )
    db.session.commit()
    targets = [posts[0].id, posts[2].id]
    thread_id = thread.id
    with slow_after("FROM threads"):
        run_together(
            committed_app, staff["mods"],
            lambda i, b: b.post(f"/moderation/posts/{targets[i]}/remove", {"reason": "Spam"}),
        )  # fmt: skip
    db.session.expire_all()
    assert db.session.get(Thread, thread_id).removed_at is not None
    assert db.session.get(Post, targets[1]).removed_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ModerationAction)) == 2
    assert_counters_consistent()


def test_two_moderators_sanction_the_same_member(committed_app, staff) -> None:
    member_id, name = staff["author"].id, staff["author"].username
    mod_ids = [m.id for m in staff["mods"]]
    until = [utcnow() + timedelta(days=3), utcnow() + timedelta(days=9)]
    forms = [{"suspend-until": u.strftime("%Y-%m-%dT%H:%M"), "suspend-reason": "rude"}
             for u in until]  # fmt: skip
    # The member's row is locked first: pause after that, holding the lock.
    with slow_after("FOR NO KEY UPDATE" if _postgresql() else "FROM users"):
        responses = run_together(
            committed_app, staff["mods"],
            lambda i, b: b.post(f"/moderation/members/{name}/suspend", forms[i]),
        )  # fmt: skip
    assert [r.status_code for r in responses] == [302, 302]
    db.session.expire_all()
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    assert [r.action for r in rows] == ["suspend", "suspend"]
    assert "replaces" in rows[1].detail
    member = db.session.get(User, member_id)
    # The act logged last is the one in force.
    last_until = until[mod_ids.index(rows[1].actor_id)]
    assert member.suspended_until == last_until.replace(second=0, microsecond=0)


def test_two_moderators_ban_the_same_member(committed_app, staff) -> None:
    member_id, name = staff["author"].id, staff["author"].username
    generation = staff["author"].session_generation
    with slow_after("FOR NO KEY UPDATE" if _postgresql() else "FROM users"):
        run_together(
            committed_app, staff["mods"],
            lambda i, b: b.post(f"/moderation/members/{name}/ban", {"ban-reason": "spam"}),
        )  # fmt: skip
    db.session.expire_all()
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    assert [(r.action, r.changed) for r in rows] == [("ban", True), ("ban", False)]
    member = db.session.get(User, member_id)
    assert member.is_banned
    assert member.session_generation == generation + 1


def test_a_reply_racing_a_removal_of_its_thread_keeps_counts_true(committed_app, staff) -> None:
    thread, posts = make_thread(staff["other"], staff["board"], [staff["author"]])
    thread_id, first_id = thread.id, posts[0].id
    db.session.commit()
    actors = [staff["mods"][0], staff["other"]]

    def _act(index: int, browser: Browser):  # noqa: ANN202
        if index == 1:
            return browser.post(f"/t/{thread_id}/reply", {"body": "me too"})
        return browser.post(f"/moderation/posts/{first_id}/remove", {"reason": "Spam"})

    with slow_after("FROM threads"):
        run_together(committed_app, actors, _act)
    assert_counters_consistent()


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _reported_post(staff: dict[str, Any]) -> int:
    """A reply by the author with two open reports; return its id (committed)."""
    from forum.moderation import reports

    _, posts = make_thread(staff["other"], staff["board"], [staff["author"]])
    for name in ("reporter1", "reporter2"):
        reports.file_report(db.session, make_user(name), posts[1], "spam", "")
    db.session.commit()
    return posts[1].id


def _open_reports(post_id: int) -> int:
    from forum.moderation.models import Report

    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Report)
        .where(Report.post_id == post_id, Report.status == "open")
    )


def test_two_moderators_resolve_the_same_reports(committed_app, staff) -> None:
    post_id = _reported_post(staff)
    outcomes = ["dismissed", "action_taken"]
    forms = [{f"r{post_id}-resolution": o, f"r{post_id}-note": f"by {i}",
              f"r{post_id}-up_to": "999999999"} for i, o in enumerate(outcomes)]  # fmt: skip
    # The reports' rows are taken by the first UPDATE: pause there, holding them.
    with slow_after("UPDATE reports"):
        responses = run_together(
            committed_app, staff["mods"],
            lambda i, b: b.post(f"/moderation/reports/{post_id}/resolve", forms[i]),
        )  # fmt: skip
    assert [r.status_code for r in responses] == [302, 302]
    db.session.expire_all()
    from forum.moderation.models import Report

    statuses = db.session.scalars(sa.select(Report.status).where(Report.post_id == post_id))
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    assert [(r.action, r.changed) for r in rows] == [
        ("resolve_reports", True), ("resolve_reports", False),
    ]  # fmt: skip
    assert {r.actor_id for r in rows} == {m.id for m in staff["mods"]}
    # Both reports were closed together, by the act that changed something.
    winner = outcomes[[m.id for m in staff["mods"]].index(rows[0].actor_id)]
    assert set(statuses) == {winner}
    assert rows[0].detail == f"2 reports {winner.replace('_', ' ')}"
    assert rows[1].detail.startswith("no change: no open reports left")


def test_a_resolution_racing_a_removal_from_the_queue(committed_app, staff) -> None:
    post_id = _reported_post(staff)
    resolve = {f"r{post_id}-resolution": "dismissed", f"r{post_id}-note": "looks fine",
               f"r{post_id}-up_to": "999999999"}  # fmt: skip
    remove = {f"x{post_id}-reason": "Spam"}

    def _act(index: int, browser: Browser):  # noqa: ANN202
        if index == 0:
            return browser.post(f"/moderation/reports/{post_id}/resolve", resolve)
        return browser.post(f"/moderation/reports/{post_id}/remove", remove)

    with slow_after("UPDATE reports"):
        responses = run_together(committed_app, staff["mods"], _act)
    assert [r.status_code for r in responses] == [302, 302]
    db.session.expire_all()
    assert db.session.get(Post, post_id).is_removed
    assert _open_reports(post_id) == 0
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    resolver, remover = (m.id for m in staff["mods"])
    # Both moderators' acts are in the log, whichever came first.
    assert [r.action for r in rows if r.actor_id == resolver] == ["resolve_reports"]
    assert "remove_post" in [r.action for r in rows if r.actor_id == remover]
    # The reports were closed exactly once: by the resolution or by the removal.
    assert len([r for r in rows if r.action == "resolve_reports" and r.changed]) == 1
    assert_counters_consistent()


def test_a_ban_and_a_lift_at_once_leave_a_state_the_log_explains(committed_app, staff) -> None:
    member_id, name = staff["author"].id, staff["author"].username
    staff["author"].suspended_until = utcnow() + timedelta(days=2)
    db.session.commit()
    paths = [f"/moderation/members/{name}/ban", f"/moderation/members/{name}/lift"]
    forms = [{"ban-reason": "scam"}, {"lift-reason": "appeal"}]
    with slow_after("FOR NO KEY UPDATE" if _postgresql() else "FROM users"):
        responses = run_together(
            committed_app, staff["mods"], lambda i, b: b.post(paths[i], forms[i])
        )
    assert [r.status_code for r in responses] == [302, 302]
    db.session.expire_all()
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    assert sorted(r.action for r in rows) == ["ban", "lift"]
    member = db.session.get(User, member_id)
    # The act logged last is the one in force: lifted last, nothing is; banned last, banned.
    assert member.is_banned == (rows[-1].action == "ban")
    if rows[-1].action == "lift":
        assert not member.is_suspended()


def test_a_promotion_racing_a_ban_never_makes_a_banned_moderator(committed_app, staff) -> None:
    admin = make_user("root", role=Role.ADMIN)
    db.session.commit()
    member_id, name = staff["author"].id, staff["author"].username
    actors = [admin, staff["mods"][0]]

    def _act(index: int, browser: Browser):  # noqa: ANN202
        if index == 0:
            return browser.post("/admin/roles", {"username": name, "role": "moderator"})
        return browser.post(f"/moderation/members/{name}/ban", {"ban-reason": "scam"})

    with slow_after("FOR NO KEY UPDATE" if _postgresql() else "FROM users"):
        responses = run_together(committed_app, actors, _act)
    db.session.expire_all()
    member = db.session.get(User, member_id)
    rows = db.session.scalars(sa.select(ModerationAction).order_by(ModerationAction.id)).all()
    # Whichever locked the member first won; the other was refused on its form, not a 500.
    assert sorted(r.status_code for r in responses) in ([302, 403], [302, 422])
    assert not (member.is_banned and member.is_moderator)
    assert len(rows) == 1 and rows[0].changed
    assert (rows[0].action == "ban") == member.is_banned
    assert (rows[0].action == "set_role") == (member.role == "moderator")
