"""The moderation log: every act appended, browsable by actor, action and member, unchangeable."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role
from forum.boards import posting
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import log, removals, reports, roles, sanctions, threads
from forum.moderation.models import Action, AppendOnlyError, ModerationAction
from tests.conftest import Browser, make_board, make_user
from tests.forum.moderation.conftest import log_rows, make_thread


def test_every_kind_of_act_is_logged_with_actor_target_reason_and_time(moderator, admin, board):
    author = make_user("author")
    thread, posts = make_thread(author, board, [author])
    elsewhere = make_board("elsewhere")
    reports.file_report(db.session, make_user("reporter"), posts[1], "spam", "")
    before = utcnow()
    removals.remove_post(db.session, moderator, posts[1].id, "Spam")
    removals.restore_post(db.session, moderator, posts[1].id, "Mistake")
    posting.edit_post(db.session, moderator, posts[1], "cleaned up", reason="Removed a phone no.")
    for action in (Action.LOCK_THREAD, Action.UNLOCK_THREAD, Action.PIN_THREAD,
                   Action.UNPIN_THREAD):  # fmt: skip
        threads.set_flag(db.session, moderator, thread.id, action, "house rules")
    threads.move(db.session, moderator, thread.id, elsewhere.id, "Better fit")
    reports.file_report(db.session, make_user("second"), posts[0], "off_topic", "")
    reports.resolve(db.session, moderator, posts[0].id, "dismissed", "Fine", 10**9)
    sanctions.suspend(db.session, moderator, author.id, utcnow() + timedelta(days=1), "Rude")
    sanctions.ban(db.session, moderator, author.id, "Scam")
    sanctions.lift(db.session, moderator, author.id, "Appeal")
    roles.set_role(db.session, admin, make_user("helper").id, "moderator", "Helpful")
    rows = log_rows()
    assert [r.action for r in rows] == [
        "resolve_reports", "remove_post", "restore_post", "edit_post", "lock_thread",
        "unlock_thread", "pin_thread", "unpin_thread", "move_thread", "resolve_reports",
        "suspend", "ban", "lift", "set_role",
    ]  # fmt: skip
    referral_console = {  # covered in tests/referrals/test_admin_views.py
        "edit_program", "edit_tier", "deactivate_program", "activate_program", "edit_fees",
        "review_referral", "reverse_reward", "create_payout", "pay_payout", "decide_affiliate",
        "create_token", "revoke_token",
        "override_invitation",  # covered in tests/referrals/test_override_views.py
    }  # fmt: skip
    assert {a.value for a in Action} - {r.action for r in rows} - referral_console == {
        "remove_thread",
        "restore_thread",  # covered in test_removals
    }
    for row in rows:
        assert row.actor_id in (moderator.id, admin.id)
        assert row.target_user_id is not None, row
        assert row.created_at >= before - timedelta(seconds=1)
        assert row.reason, row
    edit = next(r for r in rows if r.action == "edit_post")
    assert (edit.reason, edit.post_id, edit.target_user_id) == (
        "Removed a phone no.",
        posts[1].id,
        author.id,
    )


def test_the_log_page_filters_by_actor_action_and_member(app, moderator, admin, board):
    ann, ben = make_user("annie"), make_user("benny")
    other = make_user("othermod", role=Role.MODERATOR)
    sanctions.suspend(db.session, moderator, ann.id, utcnow() + timedelta(days=1), "Rude to ann")
    sanctions.ban(db.session, other, ben.id, "Spam by ben")
    sanctions.lift(db.session, moderator, ben.id, "Lifted ben")
    browser = Browser(app.test_client()).sign_in(moderator)

    def shown(query: str) -> list[str]:
        html = browser.get(f"/moderation/log{query}").get_data(as_text=True)
        return [r for r in ("Rude to ann", "Spam by ben", "Lifted ben") if r in html]

    assert shown("") == ["Rude to ann", "Spam by ben", "Lifted ben"]
    assert shown("?actor=MOD") == ["Rude to ann", "Lifted ben"]
    assert shown("?action=ban") == ["Spam by ben"]
    assert shown("?member=benny") == ["Spam by ben", "Lifted ben"]
    assert shown("?actor=mod&member=benny") == ["Lifted ben"]
    assert shown("?member=nobody") == []
    html = browser.get("/moderation/log").get_data(as_text=True)
    assert html.index("Lifted ben") < html.index("Rude to ann")  # newest first
    bad = browser.get("/moderation/log?action=explode")
    assert bad.status_code == 422 and "Choose an action" in bad.get_data(as_text=True)


def test_the_log_is_paginated(app, moderator, board):
    thread, _ = make_thread(make_user("author"), board)
    for n in range(51):
        threads.set_flag(db.session, moderator, thread.id, Action.PIN_THREAD, f"pin {n}")
    page = log.browse(db.session, log.LogFilter(), 2, 50)
    assert page.total == 51 and [r.reason for r in page.items] == ["pin 0"]
    browser = Browser(app.test_client()).sign_in(moderator)
    assert "Page 1 of 2" in browser.get("/moderation/log?action=pin_thread").get_data(as_text=True)


def test_log_rows_cannot_be_changed_or_deleted_through_the_application(moderator, board):
    thread, _ = make_thread(make_user("author"), board)
    threads.set_flag(db.session, moderator, thread.id, Action.LOCK_THREAD, "original reason")
    [row] = log_rows()
    with pytest.raises(AppendOnlyError), db.session.begin_nested():
        row.reason = "rewritten history"
        db.session.flush()
    with pytest.raises(AppendOnlyError), db.session.begin_nested():
        db.session.delete(row)
        db.session.flush()
    for statement in (
        sa.update(ModerationAction).values(reason="bulk rewrite"),
        sa.delete(ModerationAction),
    ):
        with pytest.raises(AppendOnlyError), db.session.begin_nested():
            db.session.execute(statement)
    db.session.expire_all()
    assert [r.reason for r in log_rows()] == ["original reason"]


def test_the_database_refuses_changes_to_the_log_for_every_client(moderator, board):
    thread, _ = make_thread(make_user("author"), board)
    threads.set_flag(db.session, moderator, thread.id, Action.LOCK_THREAD, "original")
    for sql in ("UPDATE moderation_actions SET reason = 'raw'", "DELETE FROM moderation_actions"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.session.begin_nested():
            db.session.execute(sa.text(sql))
    assert [r.reason for r in log_rows()] == ["original"]


def test_the_log_page_costs_the_same_queries_for_few_or_many_rows(app, moderator, board):
    from tests.conftest import count_queries

    browser = Browser(app.test_client()).sign_in(moderator)
    counts = []
    for members in (2, 12):
        while len(log_rows()) < members:
            thread, _ = make_thread(make_user(), board)
            sanctions.suspend(db.session, moderator, thread.author_id,
                              utcnow() + timedelta(days=1), "rude")  # fmt: skip
            threads.set_flag(db.session, moderator, thread.id, Action.LOCK_THREAD)
        with count_queries() as statements:
            assert browser.get("/moderation/log").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
