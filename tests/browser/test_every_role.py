"""A walk through every role in a real browser, with a screenshot of each step.

A visitor arrives through a referral link and signs up; posts, is quoted and accepts a
solution; the referrer sees the sign-up; a member reports a post; a moderator removes it and
suspends its author, who then cannot post. (A client inviting a freelancer who accepts, an
affiliate's dashboard and an admin's payout are walked in test_referral_journey.py.)
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PERSON, screenshot


def _sign_in(page, base: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/.*"))


def test_every_role_in_one_walk(chromium, live_server) -> None:  # noqa: ANN001
    base = live_server
    step = 0

    def shot(page, name: str) -> None:  # noqa: ANN001
        nonlocal step
        step += 1
        screenshot(page, f"walk-{step:02d}-{name}")

    # A visitor follows alice's referral link and signs up.
    visitor = chromium.new_context(user_agent=PERSON).new_page()
    visitor.goto(f"{base}/r/alice")
    assert visitor.url.rstrip("/") == base
    visitor.goto(f"{base}/sign-up")
    visitor.get_by_label("Username").fill("erin")
    visitor.get_by_label("Email").fill("erin@example.com")
    visitor.get_by_label("Password", exact=True).fill("erin-password")
    visitor.get_by_label("Repeat password").fill("erin-password")
    visitor.get_by_label("I hire freelancers").check()
    visitor.get_by_role("button", name="Create my account").click()
    assert "Welcome to Townhall, erin!" in visitor.content()
    shot(visitor, "visitor-signed-up")

    # alice, whose link it was, sees the sign-up on her referral dashboard.
    alice = chromium.new_context().new_page()
    _sign_in(alice, base, "alice", "alice-password")
    alice.goto(f"{base}/referrals/")
    expect(alice.get_by_role("link", name="erin", exact=True)).to_be_visible()
    shot(alice, "referrer-sees-the-sign-up")

    # She asks a question; bob answers quoting her; she accepts his answer.
    visitor.goto(f"{base}/b/clients/new")
    visitor.get_by_label("Title").fill("How do milestones work for a first contract?")
    visitor.get_by_label("Your question or topic").fill("Do I fund all milestones at once?")
    visitor.get_by_role("button", name="Post thread").click()
    thread_url = visitor.url
    shot(visitor, "question-posted")
    bob = chromium.new_context().new_page()
    _sign_in(bob, base, "bob", "bob-password")
    bob.goto(thread_url)
    bob.get_by_role("link", name="Quote").first.click()
    reply = bob.get_by_label("Your reply")
    reply.fill(reply.input_value() + "No: fund one milestone at a time.")
    bob.get_by_role("button", name="Post reply").click()
    shot(bob, "answer-with-quote")
    visitor.goto(thread_url)
    visitor.get_by_role("button", name="Accept as solution").click()
    expect(visitor.get_by_role("link", name="Go to solution")).to_be_visible()
    shot(visitor, "solution-accepted")

    # carol posts something against the rules; bob reports it.
    carol = chromium.new_context().new_page()
    _sign_in(carol, base, "carol", "carol-password")
    carol.goto(thread_url)
    carol.get_by_label("Your reply").fill("Skip the fees: pay me directly, deals@example.com")
    carol.get_by_role("button", name="Post reply").click()
    bob.goto(thread_url)
    bob.locator("article", has_text="deals@example.com").get_by_role("link", name="Report").click()
    bob.get_by_label(re.compile("Circumvention")).check()
    bob.get_by_role("button", name="Send report").click()
    shot(bob, "reported")

    # The moderator removes it from the queue and suspends carol, who then cannot post.
    moderator = chromium.new_context().new_page()
    _sign_in(moderator, base, "moderator", "moderator-password")
    moderator.goto(f"{base}/moderation/")
    shot(moderator, "queue")
    moderator.get_by_role("button", name="Remove post").first.click()
    moderator.goto(f"{base}/moderation/members/carol")
    moderator.get_by_label(re.compile("Reason")).first.fill("Asking to be paid off the platform")
    moderator.get_by_role("button", name=re.compile("Suspend")).click()
    shot(moderator, "suspended")
    visitor.goto(thread_url)
    assert "This post was removed by a moderator" in visitor.content()
    assert "deals@example.com" not in visitor.content()
    shot(visitor, "tombstone")
    carol.goto(thread_url)
    assert "suspended until" in carol.content()
    expect(carol.get_by_role("button", name="Post reply")).to_have_count(0)
    shot(carol, "suspended-member")

    # The live server is shared by every browser test: give carol her voice back.
    moderator.goto(f"{base}/moderation/members/carol")
    lift = moderator.locator("section", has_text="Lift sanctions")
    lift.get_by_label(re.compile("Reason")).fill("End of the walk")
    lift.get_by_role("button", name="Lift sanctions").click()
    carol.goto(thread_url)
    expect(carol.get_by_role("button", name="Post reply")).to_have_count(1)
