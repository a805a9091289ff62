"""Every place user text is shown is safe: 200+ hostile strings through each, read as HTML.

Post bodies are covered in tests/forum/test_markup.py; here are the other places: thread
titles (board pages, thread pages, the board list, search results, profiles, notifications),
board descriptions, report notes and removal reasons (the queue, the log, tombstones),
browser names on the account page, email subjects and the API's JSON.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from markupsafe import escape

from forum import watching
from forum.accounts import sessions
from forum.accounts.models import Role
from forum.boards import posting
from forum.boards.models import Board, Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import removals, reports
from forum.outbox import OutboxEmail, enqueue
from referrals import tokens
from tests.conftest import Browser, make_board, make_user
from tests.hostile import HOSTILE_STRINGS, audit_html


def _submitted(text: str) -> str:
    """The string as a view receives it from a form (forum.requests drops NUL characters)."""
    return text.replace("\x00", "")


def _title(text: str) -> str:
    """The hostile string made into a valid title (3–200 characters)."""
    title = " ".join(text.split())[:200]
    return title if len(title) >= 3 else f"{title}...".strip()


def _get(browser: Browser, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, (path, response.status_code)
    html = response.get_data(as_text=True)
    assert audit_html(html) == [], (path, audit_html(html)[:5])
    return html


def test_corpus_has_at_least_200_strings() -> None:
    assert len(HOSTILE_STRINGS) >= 200


def test_thread_titles_everywhere(app) -> None:
    author = make_user("author")
    watcher = make_user("watcher")
    board = make_board("general")
    watching.set_board_watch(db.session, watcher, board, True)
    for text in HOSTILE_STRINGS:
        posting.create_thread(db.session, author, board, _title(text), "a hostile title here")
    db.session.commit()
    browser = Browser(app.test_client()).sign_in(watcher)
    pages = -(-len(HOSTILE_STRINGS) // app.config["THREADS_PER_PAGE"])
    shown = "".join(_get(browser, f"/b/general?page={n}") for n in range(1, pages + 1))
    for thread in db.session.scalars(sa.select(Thread)).all():
        assert str(escape(thread.title)) in shown, thread.title
        assert str(escape(thread.title)) in _get(browser, f"/t/{thread.id}")
    _get(browser, "/")
    _get(browser, "/u/author")
    for page in (1, 2, 3):
        _get(browser, f"/search?q=hostile&page={page}")
    _get(browser, "/notifications")


def test_board_descriptions_and_names(app, client) -> None:
    for n, text in enumerate(HOSTILE_STRINGS):
        db.session.add(
            Board(
                slug=f"b{n}",
                name=_title(_submitted(text))[:80],
                description=_submitted(text)[:500],
                position=n,
            )
        )
    db.session.commit()
    html = _get(Browser(client), "/")
    assert escape("<script>alert(1)</script>") in html
    for n in range(0, len(HOSTILE_STRINGS), 25):
        _get(Browser(client), f"/b/b{n}")


def test_report_notes_and_removal_reasons(app) -> None:
    moderator = make_user("mod", role=Role.MODERATOR)
    author = make_user("author")
    board = make_board("general")
    thread = posting.create_thread(db.session, author, board, "A thread", "first")
    posts = [posting.reply(db.session, author, thread, f"reply {n}") for n in range(40)]
    for n, text in enumerate(HOSTILE_STRINGS):
        reporter = make_user(f"reporter{n}")
        reports.file_report(
            db.session, reporter, posts[n % 40], "other", _submitted(text)[:1000] or "x"
        )
    for post, text in zip(posts[:20], HOSTILE_STRINGS[::10], strict=False):
        removals.remove_post(db.session, moderator, post.id, _title(_submitted(text)))
    db.session.commit()
    staff = Browser(app.test_client()).sign_in(moderator)
    queue = _get(staff, "/moderation/")
    assert str(escape("<script>alert(1)</script>")) in queue
    _get(staff, "/moderation/log")
    member = Browser(app.test_client()).sign_in(make_user("reader"))
    for page in (1, 2):
        html = _get(member, f"/t/{thread.id}?page={page}")
        assert "This post was removed by a moderator" in html


def test_browser_names_on_the_account_page(app) -> None:
    member = make_user("ann")
    for text in HOSTILE_STRINGS:
        sessions.start(db.session, member, text, remember=False)  # drops NUL itself
    browser = Browser(app.test_client()).sign_in(member)
    _get(browser, "/account")


@pytest.mark.parametrize("text", [s for s in HOSTILE_STRINGS if "\n" in s or "\r" in s])
def test_email_subjects_cannot_carry_headers(app, text: str) -> None:
    member = make_user()
    enqueue(
        db.session,
        to=member.email,
        subject=_submitted(text),
        text_body=_submitted(text),
        kind="test",
    )
    email = db.session.scalar(sa.select(OutboxEmail).order_by(OutboxEmail.id.desc()))
    assert "\n" not in email.subject and "\r" not in email.subject


def test_api_answers_are_json_whatever_the_input(app, client) -> None:
    _, secret = tokens.create_token(db.session, "hostile", ["events:write"], utcnow())
    db.session.commit()
    for text in HOSTILE_STRINGS[:60]:
        response = client.post(
            "/api/v1/spend-events",
            json={"event_id": text, "kind": text, "amount_cents": text, "currency": text},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert 400 <= response.status_code < 500
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_campaign_labels_and_invitation_names(app) -> None:
    from referrals import invitations, links
    from referrals.tables import InvitationKind
    from tests.referrals.factories import make_program

    client = make_user("client", hires=True)
    program = make_program()
    for n, text in enumerate(HOSTILE_STRINGS):
        label = " ".join(_submitted(text).split())[:80] or "x"
        links.create_link(db.session, client, program, utcnow(), code=f"camp{n}", campaign=label)
    for n, text in enumerate(HOSTILE_STRINGS[:60]):
        name = " ".join(_submitted(text).split())[:60] or "x"
        invitations.invite(
            db.session, client, InvitationKind.TALENT, "offer", name, name,
            f"person{n}@example.com", utcnow(), "http://townhall.test/invite/",
        )  # fmt: skip
    db.session.commit()
    browser = Browser(app.test_client()).sign_in(client)
    _get(browser, "/referrals/")
    _get(browser, "/referrals/talent")
    exported = browser.get("/referrals/export/referrals.csv").get_data(as_text=True)
    for line in exported.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.strip('"').startswith(("=", "+", "-", "@")), cell
