"""Reports: members flag posts with a reason; moderators work the queue grouped by post."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import reports
from forum.moderation.errors import ModerationError
from forum.moderation.models import Report, ReportStatus
from forum.permissions import PermissionDenied
from tests.conftest import Browser, make_board, make_user
from tests.forum.moderation.conftest import log_rows, make_thread


def _open_reports() -> list[Report]:
    db.session.expire_all()  # requests changed rows in their own sessions
    return list(
        db.session.scalars(sa.select(Report).where(Report.status == "open").order_by(Report.id))
    )


@pytest.mark.parametrize(
    ("reason", "note"),
    [("spam", ""), ("harassment", ""), ("off_topic", ""), ("circumvention", "asked for PayPal"),
     ("other", "impersonates staff")],
)  # fmt: skip
def test_member_reports_a_post_with_each_reason(signed_in, other_member, board, reason, note):
    _, posts = make_thread(other_member, board)
    form = signed_in.get(f"/posts/{posts[0].id}/report").get_data(as_text=True)
    assert "Circumvention (asked to take work or payment off the platform)" in form
    response = signed_in.post(f"/posts/{posts[0].id}/report", {"reason": reason, "note": note})
    assert response.status_code == 302
    assert response.location.endswith(f"#post-{posts[0].id}")
    [report] = _open_reports()
    assert (report.reason, report.note, report.post_id) == (reason, note, posts[0].id)
    assert "Thank you for your report" in signed_in.get(response.location).get_data(as_text=True)


def test_other_needs_a_note_and_unknown_reasons_are_refused(signed_in, other_member, board):
    _, posts = make_thread(other_member, board)
    path = f"/posts/{posts[0].id}/report"
    response = signed_in.post(path, {"reason": "other", "note": "   "})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "a note is required" in html and 'aria-invalid="true"' in html
    assert signed_in.post(path, {"reason": "bogus"}).status_code == 422
    assert signed_in.post(path, {}).status_code == 422
    assert signed_in.post(path, {"reason": "spam", "note": "x" * 1001}).status_code == 422
    assert _open_reports() == []


def test_one_open_report_per_member_per_post(signed_in, member, other_member, board):
    _, posts = make_thread(other_member, board)
    path = f"/posts/{posts[0].id}/report"
    assert signed_in.post(path, {"reason": "spam"}).status_code == 302
    second = signed_in.post(path, {"reason": "harassment"})
    assert second.status_code == 422
    assert "You reported this post" in second.get_data(as_text=True)
    assert "You reported this post" in signed_in.get(path).get_data(as_text=True)
    with pytest.raises(ModerationError, match="already reported"):
        reports.file_report(db.session, member, posts[0], "other", "again")
    assert len(_open_reports()) == 1
    # Once resolved, the member may report the post again.
    moderator = make_user("judge", role=Role.MODERATOR)
    reports.resolve(db.session, moderator, posts[0].id, "dismissed", "fine", 10**9)
    assert signed_in.post(path, {"reason": "harassment"}).status_code == 302
    assert [r.reason for r in _open_reports()] == ["harassment"]


def test_the_database_refuses_a_second_open_report(member, other_member, board):
    _, posts = make_thread(other_member, board)
    db.session.add(Report(post_id=posts[0].id, reporter_id=member.id, reason="spam"))
    db.session.flush()
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(Report(post_id=posts[0].id, reporter_id=member.id, reason="other"))
        db.session.flush()


def test_reporting_ones_own_post_is_refused(signed_in, member, board):
    _, posts = make_thread(member, board)
    assert signed_in.get(f"/posts/{posts[0].id}/report").status_code == 403
    response = signed_in.post(f"/posts/{posts[0].id}/report", {"reason": "spam"})
    assert response.status_code == 403
    assert "your own post" in response.get_data(as_text=True)
    with pytest.raises(PermissionDenied):
        reports.file_report(db.session, member, posts[0], "spam", "")
    assert _open_reports() == []


def test_report_button_shows_on_others_posts_only(signed_in, member, other_member, board):
    thread, posts = make_thread(other_member, board, [member])
    html = signed_in.get(f"/t/{thread.id}").get_data(as_text=True)
    assert f'href="/posts/{posts[0].id}/report"' in html
    assert f'href="/posts/{posts[1].id}/report"' not in html
    anonymous = Browser(signed_in.client.application.test_client())
    assert "/report" not in anonymous.get(f"/t/{thread.id}").get_data(as_text=True)


def test_suspended_member_cannot_report(app, suspended, other_member, board):
    _, posts = make_thread(other_member, board)
    browser = Browser(app.test_client()).sign_in(suspended)
    response = browser.post(f"/posts/{posts[0].id}/report", {"reason": "spam"})
    assert response.status_code == 403
    assert "suspended until" in response.get_data(as_text=True)
    assert "/report" not in browser.get(f"/t/{posts[0].thread_id}").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client, other_member, board):
    _, posts = make_thread(other_member, board)
    response = client.get(f"/posts/{posts[0].id}/report")
    assert response.status_code == 302 and "/sign-in" in response.location


def test_queue_groups_by_post_oldest_first_with_counts_and_reasons(app, moderator, board):
    author = make_user("author")
    _, older = make_thread(author, board, title="Older problem")
    _, newer = make_thread(author, board, title="Newer problem")
    reporters = [make_user(f"rep{n}") for n in range(3)]
    now = utcnow()
    rows = [
        (newer[0], reporters[0], "spam", "", now - timedelta(hours=5)),
        (older[0], reporters[0], "circumvention", "wants Payoneer", now - timedelta(hours=3)),
        (older[0], reporters[1], "circumvention", "", now - timedelta(hours=2)),
        (older[0], reporters[2], "spam", "", now - timedelta(hours=1)),
    ]
    for post, reporter, reason, note, at in rows:
        db.session.add(Report(post_id=post.id, reporter_id=reporter.id, reason=reason,
                              note=note, created_at=at))  # fmt: skip
    db.session.flush()
    page = reports.queue(db.session, 1, 20)
    assert [g.post.id for g in page.items] == [newer[0].id, older[0].id]  # oldest report first
    assert page.items[1].count == 3
    assert page.items[1].reasons == [
        ("Circumvention (asked to take work or payment off the platform)", 2),
        ("Spam", 1),
    ]
    html = Browser(app.test_client()).sign_in(moderator).get("/moderation/").get_data(as_text=True)
    assert html.index("Newer problem") < html.index("Older problem")
    assert "3 reports" in html and "1 report<" in html and "wants Payoneer" in html
    assert "× 2" in html
    # The removal reason members would read is suggested from the top report reason.
    assert 'value="Asking to take work or payment off the platform"' in html


def test_queue_is_paginated(app, moderator, board):
    author = make_user("author")
    reporter = make_user("reporter")
    for n in range(21):
        _, posts = make_thread(author, board, title=f"Thread {n:02d}")
        reports.file_report(db.session, reporter, posts[0], "spam", "")
    mod = Browser(app.test_client()).sign_in(moderator)
    first = mod.get("/moderation/").get_data(as_text=True)
    assert "Page 1 of 2" in first and "21 posts waiting" in first
    assert "Thread 20" in mod.get("/moderation/?page=2").get_data(as_text=True)
    assert mod.get("/moderation/?page=3").status_code == 404


@pytest.mark.parametrize(("resolution", "label"), [("action_taken", "action taken"),
                                                   ("dismissed", "dismissed")])  # fmt: skip
def test_resolving_a_group_closes_it_with_a_note(app, moderator, board, resolution, label):
    author = make_user("author")
    _, posts = make_thread(author, board)
    for n in range(2):
        reports.file_report(db.session, make_user(f"reporter{n}"), posts[0], "off_topic", "")
    mod = Browser(app.test_client()).sign_in(moderator)
    group = reports.queue(db.session, 1, 20).items[0]
    prefix = f"r{posts[0].id}-"
    data = {prefix + "resolution": resolution, prefix + "note": "Talked to the author",
            prefix + "up_to": str(group.last_report_id)}  # fmt: skip
    response = mod.post(f"/moderation/reports/{posts[0].id}/resolve", data)
    assert response.status_code == 302
    assert f"2 reports {label}" in mod.get(response.location).get_data(as_text=True)
    assert _open_reports() == []
    closed = db.session.scalars(sa.select(Report)).all()
    assert {(r.status, r.resolution_note, r.resolved_by_id) for r in closed} == {
        (resolution, "Talked to the author", moderator.id)
    }
    [entry] = log_rows("resolve_reports")
    assert (entry.actor_id, entry.reason, entry.post_id) == (moderator.id, "Talked to the author",
                                                             posts[0].id)  # fmt: skip
    assert entry.detail == f"2 reports {label}" and entry.target_user_id == author.id


def test_resolving_needs_a_note_and_a_known_outcome(app, moderator, board):
    _, posts = make_thread(make_user("author"), board)
    reports.file_report(db.session, make_user("reporter"), posts[0], "spam", "")
    mod = Browser(app.test_client()).sign_in(moderator)
    prefix = f"r{posts[0].id}-"
    data = {prefix + "resolution": "dismissed", prefix + "up_to": "999999"}
    response = mod.post(f"/moderation/reports/{posts[0].id}/resolve", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'id="{prefix}note-error">Give a reason', html)
    with pytest.raises(ModerationError):
        reports.resolve(db.session, moderator, posts[0].id, "deleted", "note", 10**9)
    assert len(_open_reports()) == 1 and log_rows() == []


def test_reports_filed_after_the_moderator_looked_stay_open(app, moderator, board):
    _, posts = make_thread(make_user("author"), board)
    first = reports.file_report(db.session, make_user("early"), posts[0], "spam", "")
    reports.file_report(db.session, make_user("late"), posts[0], "harassment", "threats")
    outcome = reports.resolve(db.session, moderator, posts[0].id, "dismissed", "ok", first.id)
    assert outcome.changed
    assert [r.note for r in _open_reports()] == ["threats"]


def test_a_second_resolution_changes_nothing_and_is_logged(moderator, board):
    _, posts = make_thread(make_user("author"), board)
    reports.file_report(db.session, make_user("reporter"), posts[0], "spam", "")
    other = make_user("mod2", role=Role.MODERATOR)
    assert reports.resolve(db.session, moderator, posts[0].id, "dismissed", "ok", 10**9).changed
    late = reports.resolve(db.session, other, posts[0].id, "action_taken", "no", 10**9)
    assert not late.changed and "already resolved" in late.message
    assert [(e.actor_id, e.changed) for e in log_rows("resolve_reports")] == [
        (moderator.id, True),
        (other.id, False),
    ]
    assert db.session.scalar(sa.select(Report.status)) == ReportStatus.DISMISSED.value


def test_removing_from_the_queue_removes_the_post_and_closes_its_reports(app, moderator, board):
    author = make_user("author")
    thread, posts = make_thread(author, board, [author])
    reporter = make_user("reporter1")
    reports.file_report(db.session, reporter, posts[1], "circumvention", "asks for email")
    mod = Browser(app.test_client()).sign_in(moderator)
    data = {f"x{posts[1].id}-reason": "Asking to take payment off the platform"}
    response = mod.post(f"/moderation/reports/{posts[1].id}/remove", data)
    assert response.status_code == 302
    assert "No open reports" in mod.get("/moderation/").get_data(as_text=True)
    db.session.refresh(posts[1])
    assert posts[1].removal_reason == "Asking to take payment off the platform"
    [closed] = db.session.scalars(sa.select(Report)).all()
    assert closed.status == "action_taken"
    assert [e.action for e in log_rows()] == ["resolve_reports", "remove_post"]


def test_removing_from_the_queue_needs_a_reason(app, moderator, board):
    _, posts = make_thread(make_user("author"), board)
    reports.file_report(db.session, make_user("reporter1"), posts[0], "spam", "")
    mod = Browser(app.test_client()).sign_in(moderator)
    response = mod.post(f"/moderation/reports/{posts[0].id}/remove", {f"x{posts[0].id}-reason": ""})
    assert response.status_code == 422
    assert f'id="x{posts[0].id}-reason-error"' in response.get_data(as_text=True)
    db.session.refresh(posts[0])
    assert not posts[0].is_removed


def test_members_cannot_report_what_they_cannot_see(signed_in, other_member, board):
    lounge = make_board("lounge", moderators_only=True)
    _, hidden = make_thread(make_user("staffer", role=Role.MODERATOR), lounge)
    assert signed_in.get(f"/posts/{hidden[0].id}/report").status_code == 404
    assert signed_in.post(f"/posts/{hidden[0].id}/report", {"reason": "spam"}).status_code == 404
    _, posts = make_thread(other_member, board, [make_user("xavier")])
    posts[1].removed_at = utcnow()
    db.session.flush()
    assert signed_in.post(f"/posts/{posts[1].id}/report", {"reason": "spam"}).status_code == 403
    assert _open_reports() == []


def test_the_queue_costs_the_same_queries_for_two_posts_or_ten(app, moderator, board):
    from tests.conftest import count_queries

    author = make_user("author")
    mod = Browser(app.test_client()).sign_in(moderator)
    counts = []
    for total in (2, 10):
        while len(reports.queue(db.session, 1, 20).items) < total:
            _, posts = make_thread(author, board)
            for n in range(2):
                reporter = make_user()
                reports.file_report(db.session, reporter, posts[0], "spam", f"note {n}")
        with count_queries() as statements:
            assert mod.get("/moderation/").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_the_queue_says_when_a_reported_posts_thread_is_gone(app, moderator, board):
    from forum.moderation import removals

    author = make_user("author")
    _, posts = make_thread(author, board, [author])
    reports.file_report(db.session, make_user("reporter"), posts[1], "spam", "")
    removals.remove_post(db.session, moderator, posts[0].id, "Scam thread")
    html = Browser(app.test_client()).sign_in(moderator).get("/moderation/").get_data(as_text=True)
    assert "Its thread was removed by a moderator" in html
    assert "Remove post" in html  # the reply itself can still be removed
