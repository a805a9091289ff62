"""Mentions reach people: one member mentions another, who sees the bell go up and follows it.

Runs on each test database (``live_server_on``): the bell, unread marks and search are each
database's own queries."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import screenshot as save_screenshot


def _sign_in(page, base: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def _bell_count(page) -> int:  # noqa: ANN001
    name = page.get_by_role("link", name=re.compile(r"^Notifications")).inner_text()
    match = re.search(r"\((\d+)\)", name)
    return int(match.group(1)) if match else 0


def test_a_mention_rings_the_bell_and_leads_to_the_post(
    chromium,
    phone,
    live_server_on,
    database_kind: str,  # noqa: ANN001
) -> None:
    base = live_server_on

    def screenshot(page, name: str) -> None:  # noqa: ANN001 - one set of pictures per database
        save_screenshot(page, name if database_kind == "sqlite" else f"{name}-{database_kind}")

    alice = chromium.new_context(viewport={"width": 1200, "height": 900}).new_page()
    _sign_in(alice, base, "alice", "alice-password")
    alice.get_by_role("link", name="Freelancing").click()
    alice.get_by_role("link", name=re.compile("Pricing a fixed-price project")).click()
    thread_url = alice.url
    before = _bell_count(alice)

    carol = chromium.new_context().new_page()
    _sign_in(carol, base, "carol", "carol-password")
    carol.get_by_role("link", name="Freelancing").click()
    carol.get_by_role("link", name=re.compile("Pricing a fixed-price project")).click()
    carol.get_by_label("Your reply").fill("@Alice, as a client: how much risk would you accept?")
    carol.get_by_role("button", name="Post reply").click()
    mention = carol.locator("a.mention", has_text="@Alice")
    assert mention.last.get_attribute("href") == "/u/alice"

    alice.goto(f"{base}/b/freelancers")
    new_posts = alice.get_by_role("link", name=re.compile(r"^1 new"))
    expect(new_posts).to_be_visible()
    screenshot(alice, "board-unread")
    new_posts.click()
    assert alice.url == thread_url + "#p2"
    assert _bell_count(alice) == before + 1
    bell = alice.get_by_role("link", name=f"Notifications ({before + 1})")
    expect(bell).to_be_visible()
    bell.click()
    expect(alice.get_by_role("heading", name="Notifications")).to_be_visible()
    item = alice.get_by_role(
        "link", name="carol mentioned you in “Pricing a fixed-price project: share your formula”"
    )
    expect(item).to_be_visible()
    screenshot(alice, "notifications-page")

    item.click()
    assert re.search(r"/t/\d+(\?page=\d+)?#post-\d+$", alice.url), alice.url
    post_id = alice.url.rsplit("#post-", 1)[1]
    post = alice.locator(f"#post-{post_id}")
    expect(post.get_by_role("link", name="@Alice")).to_be_visible()
    screenshot(alice, "thread-after-following-the-mention")
    assert _bell_count(alice) == before
    expect(alice.get_by_role("button", name="Stop watching")).to_have_count(0)

    alice.get_by_label("Search the forum").fill("risk client")
    alice.get_by_role("button", name="Search", exact=True).first.click()
    expect(
        alice.get_by_role("heading", name=re.compile(r"results? for “risk client”"))
    ).to_be_visible()
    expect(alice.locator(".search-hit mark").first).to_be_visible()
    screenshot(alice, "search-results")

    alice.get_by_role("link", name=re.compile(r"^Notifications")).click()
    alice.get_by_role("link", name="Settings").click()
    alice.get_by_label("Someone mentions you").select_option("daily")
    alice.get_by_role("button", name="Save settings").click()
    expect(alice.get_by_text("Your notification settings are saved.")).to_be_visible()
    assert alice.get_by_label("Someone mentions you").input_value() == "daily"
    screenshot(alice, "notification-settings")

    phone_context_page = phone
    _sign_in(phone_context_page, base, "alice", "alice-password")
    for path, name in (
        ("/notifications", "notifications-phone"),
        ("/search?q=fee", "search-phone"),
    ):
        phone_context_page.goto(base + path)
        width = phone_context_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
        screenshot(phone_context_page, name)
