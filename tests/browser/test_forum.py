"""What a person does in the forum, in a real browser, with screenshots to look at."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import screenshot


def _sign_in(page, base: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_board_list_and_thread_screens(page, phone, live_server) -> None:  # noqa: ANN001
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Community forum")).to_be_visible()
    assert page.locator("main").count() == 1 and page.locator("header").count() >= 1
    screenshot(page, "forum-board-list")
    page.get_by_role("link", name="Hiring and managing work").click()
    screenshot(page, "forum-board")
    page.get_by_role("link", name=re.compile("job post that gets good proposals")).click()
    expect(page.get_by_role("link", name="Go to solution")).to_be_visible()
    screenshot(page, "forum-thread")
    # Nothing on these pages comes from outside the service (fonts, scripts, images).
    assert requested and all(url.startswith(live_server + "/") for url in requested), requested
    phone.goto(live_server + "/")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the board list scrolls sideways on a phone ({width}px)"
    screenshot(phone, "forum-board-list-phone")
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "forum-thread-phone")


def test_a_member_signs_up_posts_is_quoted_gets_kudos_and_accepts(  # noqa: ANN001
    chromium, live_server
) -> None:
    base = live_server
    # The asker's browser runs no JavaScript: every step works with plain forms and links.
    asker = chromium.new_context(java_script_enabled=False).new_page()
    asker.goto(f"{base}/sign-up")
    asker.get_by_label("Username").fill("dana")
    asker.get_by_label("Email").fill("dana@example.com")
    asker.get_by_label("Password", exact=True).fill("dana-password")
    asker.get_by_label("Repeat password").fill("dana-password")
    asker.get_by_label("Both").check()
    asker.get_by_role("button", name="Create my account").click()
    assert "Welcome to Townhall, dana!" in asker.content()

    asker.goto(f"{base}/b/payments")
    asker.get_by_role("link", name="New thread").click()
    asker.get_by_label("Title").fill("x")
    asker.get_by_role("button", name="Post thread").click()
    expect(asker.get_by_text("A title needs 3 to 200 characters.")).to_be_visible()
    screenshot(asker, "forum-new-thread-error")
    asker.get_by_label("Title").fill("Can I be paid in two currencies?")
    asker.get_by_label("Your question or topic").fill("I bill **USD** and EUR clients.")
    asker.get_by_role("button", name="Post thread").click()
    thread_url = asker.url
    expect(asker.locator(".post-body strong", has_text="USD")).to_be_visible()

    helper = chromium.new_context().new_page()
    _sign_in(helper, base, "bob", "bob-password")
    helper.goto(thread_url)
    helper.get_by_role("link", name="Quote").first.click()
    body = helper.get_by_label("Your reply")
    assert "**dana** [wrote]" in body.input_value()
    body.press("End")
    body.fill(body.input_value() + "Yes: set a payout method per currency.")
    helper.get_by_role("button", name="Post reply").click()
    expect(helper.locator("blockquote").first).to_be_visible()
    helper.get_by_role("button", name="Give kudos").first.click()
    expect(helper.get_by_text("You gave kudos")).to_be_visible()

    asker.goto(thread_url)
    asker.get_by_role("button", name="Give kudos").click()
    asker.get_by_role("button", name="Accept as solution").click()
    expect(asker.get_by_role("link", name="Go to solution")).to_be_visible()
    asker.get_by_role("link", name="Edit").first.click()
    asker.get_by_label("Post").fill("I bill **USD** and EUR clients. (edited)")
    asker.get_by_label("Reason for the edit (optional)").fill("clarity")
    asker.get_by_role("button", name="Save changes").click()
    expect(asker.locator("p.edited", has_text=re.compile(r"Edited[\s\S]*by dana"))).to_be_visible()
    screenshot(asker, "forum-thread-solved")


def test_account_page_ends_other_sessions(chromium, live_server) -> None:  # noqa: ANN001
    laptop = chromium.new_context().new_page()
    phone = chromium.new_context().new_page()
    _sign_in(laptop, live_server, "carol", "carol-password")
    _sign_in(phone, live_server, "carol", "carol-password")
    laptop.goto(f"{live_server}/account")
    expect(laptop.get_by_text("(this browser)")).to_be_visible()
    screenshot(laptop, "account-sessions")
    laptop.get_by_role("button", name="Sign out all other sessions").click()
    phone.reload()
    expect(phone.get_by_role("link", name="Sign in")).to_be_visible()
