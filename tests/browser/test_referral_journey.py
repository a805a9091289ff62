"""A referral from end to end in a real browser: an affiliate applies and is approved, copies a
link, a visitor opens it and signs up, spend events arrive over the API, the affiliate watches
the progress bar fill and a reward appear, and an admin pays it out. Screenshots of the
dashboard, the timeline, the invitation list and the console land in test-artifacts/."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime

from playwright.sync_api import expect

from tests.browser.conftest import PERSON, screenshot


def _sign_in(page, base: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def _api(base: str, method: str, path: str, secret: str, body: object) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the live test server on 127.0.0.1
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _payment(event_id: str, cents: int) -> dict:
    return {
        "event_id": event_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "kind": "payment",
        "payer": {"external_id": "C-vera"},
        "payee": {"external_id": "F-someone"},
        "amount_cents": cents,
        "currency": "USD",
    }


def _no_sideways_scroll(page, name: str) -> None:  # noqa: ANN001
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name} scrolls sideways on a phone ({width}px)"


def test_a_referral_from_link_to_payout(chromium, phone, live_server) -> None:  # noqa: ANN001, PLR0915
    base = live_server
    admin = chromium.new_context(viewport={"width": 1200, "height": 900}).new_page()
    _sign_in(admin, base, "admin", "admin-password")
    alice = chromium.new_context(viewport={"width": 1200, "height": 900}).new_page()
    _sign_in(alice, base, "alice", "alice-password")

    # Alice applies to the affiliate program; the admin approves her with a note.
    alice.get_by_role("link", name="Referrals").click()
    expect(alice.get_by_text("Only approved affiliates can refer in this program.")).to_be_visible()
    alice.get_by_role("link", name="Apply to be an affiliate").click()
    alice.get_by_label("Website or channel").fill("https://alice.example/blog")
    alice.get_by_label("Your audience").fill("12,000 small-business owners")
    alice.get_by_label("How you will promote the marketplace").fill("A monthly newsletter")
    screenshot(alice, "referral-affiliate-application")
    alice.get_by_role("button", name="Send application").click()
    expect(alice.get_by_text("waiting for an admin")).to_be_visible()

    admin.get_by_role("link", name="Referral console").click()
    admin.get_by_role("link", name="Affiliate applications").click()
    card = admin.locator("section", has_text="alice")
    card.get_by_label("Approve").check()
    card.get_by_label("Reason").fill("Relevant audience")
    card.get_by_role("button", name="Decide").click()
    expect(admin.get_by_text("alice is approved.")).to_be_visible()
    # The affiliate program holds rewards 30 days; for this walk the admin makes it 0.
    admin.goto(f"{base}/admin/referrals/programs")
    admin.locator("table").get_by_role("link", name="Affiliates", exact=True).click()
    admin.get_by_label("Hold (days)").fill("400")
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_text("Use a whole number of days from 0 to 365.")).to_be_visible()
    screenshot(admin, "referral-console-program-error")
    admin.get_by_label("Hold (days)").fill("0")
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_text("is saved")).to_be_visible()
    # A token for the marketplace.
    admin.goto(f"{base}/admin/referrals/tokens")
    admin.get_by_label("Name").fill("marketplace")
    admin.get_by_label(re.compile("^events:write")).check()
    admin.get_by_label(re.compile("^members:write")).check()
    admin.get_by_role("button", name="Create token").click()
    secret = admin.locator("#new-token").input_value()
    assert secret.startswith("th_")

    # Alice makes an affiliate link for her newsletter and copies it.
    alice.goto(f"{base}/referrals/")
    expect(alice.locator(".badge-affiliate")).to_have_count(0)  # the header shows no badges
    alice.get_by_label("Program", exact=True).select_option(label="Affiliates")
    alice.get_by_label("Campaign label").fill("Newsletter")
    alice.get_by_role("button", name="Create link").click()
    expect(alice.get_by_text("is ready to share")).to_be_visible()
    row = alice.locator(".link-row", has_text="Newsletter")
    url = row.locator("input.copy-source").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/r/[a-z0-9]{{8}}", url)
    copy = row.get_by_role("button", name="Copy")
    expect(copy).to_be_visible()  # the script unhid it
    copy.click()
    expect(row.get_by_role("button", name="Copied")).to_be_visible()

    # A visitor opens the link and signs up (headless Chromium says so in its user agent,
    # and clicks by headless browsers count as bots: this visitor looks like a person).
    visitor = chromium.new_context(user_agent=PERSON).new_page()
    visitor.goto(url)
    visitor.goto(f"{base}/sign-up")
    visitor.get_by_label("Username").fill("vera")
    visitor.get_by_label("Email").fill("vera@example.com")
    visitor.get_by_label("Password", exact=True).fill("vera-password")
    visitor.get_by_label("Repeat password").fill("vera-password")
    visitor.get_by_label("I hire freelancers").check()
    visitor.get_by_role("button", name="Create my account").click()
    assert "Welcome to Townhall, vera!" in visitor.content()

    # The marketplace links vera and posts her first payment: $60 of the $100 tier.
    _api(base, "PUT", "/api/v1/members/C-vera", secret, {
        "client": True, "freelancer": False, "top_rated": False,
        "email": "vera@example.com", "email_verified": True,
    })  # fmt: skip
    _api(base, "POST", "/api/v1/spend-events", secret, _payment("journey-1", 6_000))
    alice.goto(f"{base}/referrals/")
    expect(alice.locator("#totals-heading")).to_be_visible()
    alice.get_by_role("link", name="vera").click()
    progress = alice.locator(".progress-list li", has_text="$25.00 cash")
    expect(progress.get_by_text("$60.00 of $100.00 (60%)")).to_be_visible()
    assert progress.locator("progress").get_attribute("value") == "6000"
    timeline_url = alice.url
    # Everyone here browses from 127.0.0.1, so the engine suspects self-referral.
    expect(alice.get_by_text("Under review:")).to_be_visible()
    expect(alice.get_by_text("signed up from a network you used recently")).to_be_visible()
    screenshot(alice, "referral-timeline-under-review")

    # The admin looks at the evidence and approves the referral.
    admin.goto(f"{base}/admin/referrals/reviews")
    review = admin.locator("section", has_text="alice → vera")
    expect(
        review.get_by_text("Signed up from an address the referrer used recently.")
    ).to_be_visible()
    screenshot(admin, "referral-console-review")
    review.get_by_label("Approve").check()
    review.get_by_label("Reason").fill("Shared office network; different people")
    review.get_by_role("button", name="Decide").click()
    expect(admin.get_by_text("is approved.")).to_be_visible()

    # A second payment crosses the threshold: the reward appears, approved (no hold).
    _api(base, "POST", "/api/v1/spend-events", secret, _payment("journey-2", 6_000))
    alice.reload()
    expect(progress.get_by_text("$100.00 of $100.00 (100%)")).to_be_visible()
    expect(progress.get_by_text("Reward approved")).to_be_visible()
    expect(alice.get_by_text("Reward earned and approved: $25.00 cash")).to_be_visible()
    screenshot(alice, "referral-timeline")
    alice.goto(f"{base}/referrals/?days=90")
    assert alice.locator("svg.chart title").first.text_content().endswith("last 90 days")
    screenshot(alice, "referral-dashboard")

    # The admin pays it out: a batch, its CSV, marked paid.
    admin.goto(f"{base}/admin/referrals/payouts")
    expect(admin.get_by_role("cell", name="alice").first).to_be_visible()
    admin.get_by_label("Note").fill("First affiliate payout")
    admin.get_by_role("button", name="Create payout batch").click()
    expect(admin.get_by_text("is ready: export it")).to_be_visible()
    with admin.expect_download() as download:
        admin.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), encoding="utf-8") as exported:  # noqa: PTH123
        text = exported.read()
    assert "alice" in text and "25.00" in text
    screenshot(admin, "referral-console-payout")
    admin.get_by_role("button", name="Mark batch paid").click()
    expect(admin.get_by_text("marked paid.")).to_be_visible()
    alice.goto(timeline_url)
    expect(alice.get_by_text("Reward paid: $25.00 cash")).to_be_visible()

    # Every console act is in the moderation log.
    admin.goto(f"{base}/moderation/log")
    for act in (
        "Decide affiliate",
        "Edit program",
        "Create token",
        "Review referral",
        "Create payout",
        "Pay payout",
    ):
        expect(admin.locator("table").get_by_text(act).first).to_be_visible()

    # Alice, a client, invites her own freelancer; the list shows the invitation.
    alice.goto(f"{base}/referrals/talent")
    alice.get_by_label("First name").fill("Dana")
    alice.get_by_label("Last name").fill("Scully")
    alice.get_by_label("Email").fill("bob@example.com")  # bob has an account
    alice.get_by_label("Review an offer").check()
    alice.get_by_role("button", name="Send invitation").click()
    expect(alice.get_by_text("Invite them to a job instead")).to_be_visible()
    alice.get_by_label("Email").fill("dana.scully@example.com")
    alice.get_by_role("button", name="Send invitation").click()
    expect(alice.get_by_text("Your invitation to Dana Scully is on its way.")).to_be_visible()
    expect(alice.get_by_role("cell", name="Dana Scully", exact=True)).to_be_visible()
    alice.get_by_label("First name").fill("Fox")
    alice.get_by_label("Last name").fill("Mulder")
    alice.get_by_label("Email").fill("fox.mulder@example.com")
    alice.get_by_label("Join my talent cloud").check()
    alice.get_by_role("button", name="Send invitation").click()
    alice.locator("tr", has_text="Fox Mulder").get_by_role("button", name="Revoke").click()
    expect(alice.get_by_text("The invitation to Fox Mulder is revoked")).to_be_visible()
    # One stays open, so the list (and its screenshot) shows the Resend and Revoke buttons.
    alice.get_by_label("First name").fill("Walter")
    alice.get_by_label("Last name").fill("Skinner")
    alice.get_by_label("Email").fill("walter.skinner@example.com")
    alice.get_by_label("Review an offer").check()
    alice.get_by_role("button", name="Send invitation").click()
    walter = alice.locator("tr", has_text="Walter Skinner")
    # Pressed moments after sending: one email, and the page says it is on its way.
    walter.get_by_role("button", name="Resend").click()
    expect(
        alice.get_by_text("sent to walter.skinner@example.com less than a minute ago")
    ).to_be_visible()

    # Without SMTP_URL the admin reads the email in the development mailbox; Dana follows it.
    admin.goto(f"{base}/admin/mailbox")
    body = admin.locator("article", has_text="To dana.scully@example.com").locator("pre")
    link = re.search(rf"{re.escape(base)}/invitations/\S+", body.inner_text())[0]
    dana = chromium.new_context().new_page()
    dana.goto(link)
    expect(dana.get_by_role("heading", name="Welcome, Dana")).to_be_visible()
    expect(dana.get_by_text("dana.scully@example.com")).to_be_visible()
    assert dana.get_by_label("Username").input_value() == "dana.scully"
    dana.get_by_label("Password", exact=True).fill("dana-password")
    dana.get_by_label("Repeat password").fill("dana-password")
    dana.get_by_role("button", name="Create my account").click()
    expect(dana.get_by_text("You and alice are connected.")).to_be_visible()
    dana.goto(link)
    expect(dana.get_by_text("cannot be used")).to_be_visible()

    alice.goto(f"{base}/referrals/talent")
    expect(alice.locator("tr", has_text="Dana Scully").get_by_text("Accepted")).to_be_visible()
    expect(alice.locator("tr", has_text="Fox Mulder").get_by_text("Revoked")).to_be_visible()
    expect(alice.locator("tr", has_text="Walter Skinner").get_by_text("Invited")).to_be_visible()
    screenshot(alice, "referral-invitations")

    # The same pages on a phone: nothing scrolls sideways.
    _sign_in(phone, base, "alice", "alice-password")
    for path, name in (
        ("/referrals/", "referral-dashboard-phone"),
        (timeline_url.removeprefix(base), "referral-timeline-phone"),
        ("/referrals/talent", "referral-invitations-phone"),
    ):
        phone.goto(base + path)
        _no_sideways_scroll(phone, path)
        if path == "/referrals/":
            # The chart scrolls in its own box on a phone; it opens on the newest days.
            today = datetime.now(UTC).strftime("%-d %b")
            newest = phone.locator("svg.chart text.chart-label", has_text=re.compile(f"^{today}$"))
            phone.locator(".chart-scroll").scroll_into_view_if_needed()
            expect(newest).to_be_in_viewport()
        screenshot(phone, name)
    phone.get_by_role("button", name="Sign out").click()
    _sign_in(phone, base, "admin", "admin-password")
    for path in ("/admin/referrals/payouts", "/admin/referrals/fees", "/admin/referrals/rewards"):
        phone.goto(base + path)
        _no_sideways_scroll(phone, path)
        screenshot(phone, "referral-console-" + path.rsplit("/", 1)[-1] + "-phone")
