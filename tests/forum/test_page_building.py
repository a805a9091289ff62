"""Shortcuts the pages take for speed build exactly what the slow way built."""

from __future__ import annotations

import re

from forum.boards import posting
from forum.extensions import db
from tests.conftest import Browser, make_user


def _form_fields(html: str) -> str:
    """The reply form of a page, tokens and submission keys blanked, whitespace folded."""
    form = re.search(r'<form method="post" action="/t/\d+/reply"[^>]*>(.*?)</form>', html, re.S)
    assert form is not None
    fields = re.sub(r'value="[^"]*"', 'value=""', form.group(1))
    fields = re.sub(r'<input id="quote_id"[^>]*>', "", fields)
    return " ".join(fields.split())


def test_thread_page_reply_box_is_the_reply_forms(app, member, board) -> None:
    thread = posting.create_thread(db.session, make_user(), board, "A thread", "first")
    db.session.commit()
    browser = Browser(app.test_client()).sign_in(member)
    page = browser.get(f"/t/{thread.id}").get_data(as_text=True)
    reply_page = browser.get(f"/t/{thread.id}/reply").get_data(as_text=True)
    # The reply page has the same fields, a bigger text area and room for form errors.
    expected = _form_fields(reply_page).replace('rows="12"', 'rows="6"')
    assert _form_fields(page) == expected
    # The thread page's box posts like the reply page's form.
    token = re.search(r'name="submission_key" type="hidden" value="([0-9a-f]{32})"', page)
    assert token is not None
    response = browser.post(
        f"/t/{thread.id}/reply", {"body": "from the box", "submission_key": token.group(1)}
    )
    assert response.status_code == 302
    assert "from the box" in browser.get(f"/t/{thread.id}").get_data(as_text=True)


def test_template_urls_follow_the_script_root(app, board) -> None:
    thread = posting.create_thread(db.session, make_user(), board, "A thread", "first")
    db.session.commit()
    client = app.test_client()
    plain = client.get(f"/t/{thread.id}").get_data(as_text=True)
    mounted = client.get(f"/t/{thread.id}", environ_overrides={"SCRIPT_NAME": "/forum"}).get_data(
        as_text=True
    )
    assert 'href="/b/general"' in plain
    assert 'href="/forum/b/general"' in mounted and 'href="/b/general"' not in mounted
    again = client.get(f"/t/{thread.id}").get_data(as_text=True)
    assert 'href="/forum/' not in again


def test_pagination_links_ignore_query_arguments_named_like_url_for_options(app, board) -> None:
    author = make_user()
    thread = posting.create_thread(db.session, author, board, "A long thread", "first")
    for number in range(app.config["POSTS_PER_PAGE"]):
        posting.reply(db.session, author, thread, f"reply {number}")
    db.session.commit()
    hostile = "?_external=1&_scheme=javascript&_anchor=%0Aalert(1)&_method=x"
    response = app.test_client().get(f"/t/{thread.id}{hostile}")
    assert response.status_code == 200  # url_for refused "_method" with a 500 before
    html = response.get_data(as_text=True)
    assert f'href="/t/{thread.id}?page=2"' in html
    assert not re.search(r"href=\"[^\"/]*:", html.replace('href="http://', 'href="/'))
