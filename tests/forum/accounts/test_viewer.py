"""Thread and board pages load the signed-in member with their own first query: the session
still ends at once, and nobody is taken for anyone else."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from forum.accounts import sessions
from forum.accounts.models import Role
from forum.boards import posting, reading
from forum.database import utcnow
from forum.extensions import db
from forum.notifications import notify
from forum.notifications.inbox import unread_count
from forum.permissions import NotFound
from tests.conftest import (
    Browser,
    cookies_of,
    count_queries,
    make_board,
    make_user,
    replay_cookies,
)


@pytest.fixture
def pages(app, board) -> dict[str, str]:  # noqa: ANN001
    thread = posting.create_thread(db.session, make_user(), board, "A thread", "first post")
    db.session.commit()
    return {"thread": f"/t/{thread.id}", "board": f"/b/{board.slug}"}


def _signed_in_as(html: str) -> str | None:
    if "Sign out" not in html:
        return None
    match = re.search(r'href="/u/([^"]+)">\1</a>', html)
    return match.group(1) if match else "?"


@pytest.mark.parametrize("page", ["thread", "board"])
def test_the_page_loads_the_member_with_its_own_query(app, member, pages, page) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    browser.get(pages[page])  # (a thread page's first visit writes the read mark)
    with count_queries(prepared=True) as statements:
        html = browser.get(pages[page]).get_data(as_text=True)
    assert _signed_in_as(html) == "ann"
    assert not any(s.lstrip().startswith("SELECT users.id") for s in statements[1:])
    # The page's rows come in the same statement on PostgreSQL (reading.HeadAndRows).
    assert len(statements) == (1 if db.engine.dialect.name == "postgresql" else 2), statements


@pytest.mark.parametrize("page", ["thread", "board"])
@pytest.mark.parametrize("ending", ["sign-out", "ban", "password change"])
def test_an_ended_session_ends_on_these_pages_at_once(app, member, pages, page, ending) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    assert _signed_in_as(browser.get(pages[page]).get_data(as_text=True)) == "ann"
    stolen = cookies_of(browser.client)
    if ending == "sign-out":
        browser.post("/sign-out")
    elif ending == "ban":
        member.banned_at = utcnow()
        db.session.commit()
    else:
        member.session_generation += 1  # as a password change does for other sessions
        db.session.commit()
    response = replay_cookies(app, stolen).get(pages[page])
    assert response.status_code == 200
    assert _signed_in_as(response.get_data(as_text=True)) is None


def test_a_claim_must_name_one_session_of_its_own_member(app, member, other_member, board) -> None:
    thread = posting.create_thread(db.session, member, board, "A thread", "first post")
    sessions.start(db.session, member, "pytest", remember=False)
    theirs = sessions.claim_of(member.get_id())
    sessions.start(db.session, other_member, "pytest", remember=False)
    mine = sessions.claim_of(other_member.get_id())
    assert theirs is not None and mine is not None
    found: list = []

    def accept(claim, user):  # noqa: ANN001, ANN202
        found.append(user)
        return sessions.accept(claim, user)

    # Someone's member id with another member's token names no session: a guest.
    forged = sessions.Claim(f"{member.id}.0.{mine.token}", member.id, 0, mine.token)
    viewer, shown = reading.thread_for_claim(db.session, forged, thread.id, accept)
    assert viewer is None and found == [None]
    assert shown.unread_notifications is None
    viewer, _ = reading.thread_for_claim(db.session, theirs, thread.id, accept)
    assert viewer is member
    viewer, _ = reading.board_for_claim(db.session, mine, board.slug, accept)
    assert viewer is other_member
    # The pages that read their rows with the member: a forged claim reads them for a guest.
    found.clear()
    viewer, shown, _posts = reading.thread_page_for_claim(
        db.session, forged, thread.id, 1, 20, accept
    )
    assert viewer is None and found == [None] and shown.unread_notifications is None
    viewer, board_page = reading.board_page_for_claim(db.session, forged, board.slug, 1, 30, accept)
    assert viewer is None and board_page.bell is None and not board_page.watching
    assert "last_read_number" not in board_page.threads.items[0]._fields


def test_a_missing_thread_still_knows_the_member(app, member) -> None:
    browser = Browser(app.test_client()).sign_in(member)
    response = browser.get("/t/999999")
    assert response.status_code == 404
    assert _signed_in_as(response.get_data(as_text=True)) == "ann"
    with pytest.raises(NotFound):
        reading.thread_for_claim(
            db.session, sessions.claim_of("1.0.x"), 999999, lambda *a: pytest.fail("accepted")
        )


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MODERATOR])
def test_the_bell_and_hidden_boards_follow_the_member_s_role(app, board, role) -> None:
    viewer = make_user("viewer", role=role)
    hidden = make_board("staff", moderators_only=True)
    author = make_user(role=Role.MODERATOR)
    staff_thread = posting.create_thread(db.session, author, hidden, "Staff", "first")
    thread = posting.create_thread(db.session, make_user(), board, "Open", "first")
    notify(db.session, viewer.id, "reply", actor_id=staff_thread.author_id,
           thread_id=staff_thread.id)  # fmt: skip
    notify(db.session, viewer.id, "reply", actor_id=thread.author_id, thread_id=thread.id)
    db.session.commit()
    expected = unread_count(db.session, viewer)
    assert expected == (2 if role == Role.MODERATOR else 1)
    browser = Browser(app.test_client()).sign_in(viewer)
    for path in (f"/t/{thread.id}", f"/b/{board.slug}"):
        html = browser.get(path).get_data(as_text=True)
        assert f'<span class="bell-count">({expected})</span>' in html, path
    moderator = role == Role.MODERATOR
    assert browser.get(f"/t/{staff_thread.id}").status_code == (200 if moderator else 404)
    assert browser.get("/b/staff").status_code == (200 if moderator else 404)


def test_the_member_read_as_columns_is_the_session_entity(app, member) -> None:
    # A page reads the member as plain columns (sessions.MEMBER_COLUMNS); member_of_row makes
    # them the entity a query would have given: the session's own if it holds one (what it
    # let expire filled in from the row), else a new one with nothing to write back.
    row = db.session.execute(
        sa.select(*sessions.MEMBER_COLUMNS).where(sessions.MEMBER_COLUMNS[0] == member.id)
    ).one()
    values = tuple(row)
    db.session.commit()  # expires the member the session holds
    assert sessions.member_of_row(db.session, values) is member
    with count_queries() as statements:
        assert member.username == "ann" and member.role == values[6]
    assert statements == []
    assert sessions.member_of_row(db.session, (None,) * len(values)) is None
    db.session.expunge_all()
    fresh = sessions.member_of_row(db.session, values)
    assert fresh is not member and fresh.id == member.id
    assert sa.inspect(fresh).persistent and not db.session.dirty
    assert [getattr(fresh, c.key) for c in sessions.MEMBER_COLUMNS] == list(values)
    with count_queries() as statements:
        db.session.flush()
        assert fresh.username == "ann"
    assert statements == []
