"""Every route of the application, called as every kind of person, with someone else's ids.

The table is checked against the app's URL map, so a new route cannot be forgotten: a route
missing here fails ``test_every_route_is_in_the_table``, and so does a route whose ``any(…)``
part (lock, unlock, pin, unpin…) has a value no row calls.

Moderators' and admins' acts are sent with valid forms and expect their exact status, so the
walk shows the act itself goes through for staff (not only that a form error comes back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing.converters import AnyConverter

from forum.accounts import sessions
from forum.accounts.models import Role, User
from forum.boards import posting
from forum.database import utcnow
from forum.extensions import db
from forum.moderation import reports
from forum.notifications import fanout
from forum.notifications.preferences import unsubscribe_token
from referrals import affiliates
from tests.conftest import Browser, csrf_token, make_board, make_user
from tests.referrals.factories import make_link, make_program

# A suspension's end: a week ahead of whenever the suite runs.
IN_A_WEEK = (utcnow() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")

ROLES = ("anonymous", "member", "suspended", "banned", "affiliate", "moderator", "admin")

# What a response may be: "login" a redirect to the sign-in page; "allowed" the action was
# authorized and handled (2xx, a redirect elsewhere, or 422 for a form that wanted more);
# or an exact status.
LOGIN, ALLOWED = "login", "allowed"


def everyone(outcome: Any) -> dict[str, Any]:
    return dict.fromkeys(ROLES, outcome)


def signed_in(outcome: Any, suspended: Any = None) -> dict[str, Any]:
    """Anonymous (and banned, whose session died) must sign in; everyone else gets outcome."""
    expected = dict.fromkeys(ROLES, outcome)
    expected["anonymous"] = expected["banned"] = LOGIN
    if suspended is not None:
        expected["suspended"] = suspended
    return expected


def staff(outcome: Any = ALLOWED, moderator: Any = None) -> dict[str, Any]:
    """Moderators and admins only (admin only when moderator=403)."""
    expected = signed_in(403)
    expected["moderator"] = outcome if moderator is None else moderator
    expected["admin"] = outcome
    return expected


@dataclass
class World:
    victim: User
    board_slug: str
    lounge_slug: str
    thread_id: int
    first_post_id: int
    reply_id: int
    removed_post_id: int
    reported_post_id: int
    lounge_id: int
    notification_id: int
    session_id: int
    link_code: str
    unsubscribe: str
    ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, Any]
    # The form, or a function of the world making it (forms whose fields carry an id).
    data: dict[str, Any] | Callable[[World], dict[str, Any]] | None = None
    name: str = ""
    # Whether the route needs the referral things of the world (World.ids); made only then.
    referrals: bool = False

    def form(self, world: World) -> dict[str, Any]:
        return (self.data(world) if callable(self.data) else self.data) or {}

    @property
    def id(self) -> str:
        return f"{self.method} {self.endpoint}{'[' + self.name + ']' if self.name else ''}"


ROUTES = [
    # reading
    Route("boards.index", "GET", lambda w: "/", everyone(200)),
    Route("boards.board", "GET", lambda w: f"/b/{w.board_slug}", everyone(200)),
    Route("boards.board", "GET", lambda w: f"/b/{w.lounge_slug}",
          {**signed_in(404), "anonymous": 404, "banned": 404, "moderator": 200, "admin": 200},
          name="moderators only"),
    Route("boards.thread", "GET", lambda w: f"/t/{w.thread_id}", everyone(200)),
    Route("boards.permalink", "GET", lambda w: f"/posts/{w.reply_id}", everyone(302)),
    Route("boards.revisions", "GET", lambda w: f"/posts/{w.reply_id}/revisions", everyone(200)),
    Route("boards.revisions", "GET", lambda w: f"/posts/{w.removed_post_id}/revisions",
          {**everyone(404), "moderator": 200, "admin": 200}, name="removed post"),
    Route("accounts.profile", "GET", lambda w: "/u/victim", everyone(200)),
    Route("search.search", "GET", lambda w: "/search?q=payment", everyone(200)),
    Route("referrals.follow", "GET", lambda w: f"/r/{w.link_code}", everyone(302)),
    Route("static", "GET", lambda w: "/static/townhall.css", everyone(200)),
    # accounts
    Route("accounts.sign_up", "GET", lambda w: "/sign-up",
          {**everyone(302), "anonymous": 200, "banned": 200}),
    Route("accounts.sign_up", "POST", lambda w: "/sign-up",
          {**everyone(302), "anonymous": 422, "banned": 422}, data={"username": "x"}),
    Route("accounts.sign_in", "GET", lambda w: "/sign-in",
          {**everyone(302), "anonymous": 200, "banned": 200}),
    Route("accounts.sign_in", "POST", lambda w: "/sign-in",
          {**everyone(302), "anonymous": 422, "banned": 422}, data={"login": "x"}),
    Route("accounts.sign_out", "POST", lambda w: "/sign-out", signed_in(302)),
    Route("accounts.account", "GET", lambda w: "/account", signed_in(200)),
    Route("accounts.account", "POST", lambda w: "/account", signed_in(422),
          data={"current_password": "wrong"}),
    Route("accounts.end_session", "POST",
          lambda w: f"/account/sessions/{w.session_id}/end", signed_in(404)),
    Route("accounts.end_other_sessions", "POST", lambda w: "/account/sessions/end-others",
          signed_in(302)),
    # writing
    Route("boards.new_thread", "GET", lambda w: f"/b/{w.board_slug}/new",
          signed_in(200, suspended=403)),
    Route("boards.new_thread", "POST", lambda w: f"/b/{w.board_slug}/new",
          signed_in(302, suspended=403), data={"title": "A new thread", "body": "Body"}),
    Route("boards.new_thread", "POST", lambda w: f"/b/{w.lounge_slug}/new",
          {**signed_in(404), "moderator": 302, "admin": 302},
          data={"title": "A new thread", "body": "Body"}, name="moderators only"),
    Route("boards.reply", "GET", lambda w: f"/t/{w.thread_id}/reply",
          signed_in(200, suspended=403)),
    Route("boards.reply", "POST", lambda w: f"/t/{w.thread_id}/reply",
          signed_in(302, suspended=403), data={"body": "A reply"}),
    Route("boards.edit_post", "GET", lambda w: f"/posts/{w.reply_id}/edit", staff(200)),
    Route("boards.edit_post", "POST", lambda w: f"/posts/{w.reply_id}/edit", staff(302),
          data={"body": "Edited by someone else", "reason": "tidy"}),
    Route("boards.kudos", "POST", lambda w: f"/posts/{w.reply_id}/kudos",
          signed_in(302, suspended=403)),
    Route("boards.accept", "POST", lambda w: f"/posts/{w.reply_id}/accept", staff(302)),
    Route("boards.unaccept", "POST", lambda w: f"/t/{w.thread_id}/unaccept", staff(302)),
    # notifications and watching
    Route("notifications.index", "GET", lambda w: "/notifications", signed_in(200)),
    Route("notifications.follow", "GET", lambda w: f"/notifications/{w.notification_id}",
          signed_in(404)),
    # Marks only the caller's own notifications: someone else's stays as it was.
    Route("notifications.mark_read", "POST",
          lambda w: f"/notifications/{w.notification_id}/read", signed_in(302)),
    Route("notifications.mark_all_read", "POST", lambda w: "/notifications/read-all",
          signed_in(302)),
    Route("notifications.settings", "GET", lambda w: "/settings/notifications", signed_in(200)),
    Route("notifications.settings", "POST", lambda w: "/settings/notifications",
          signed_in(ALLOWED)),
    Route("notifications.watch_thread", "POST", lambda w: f"/t/{w.thread_id}/watch",
          signed_in(302), data={"watching": "on"}),
    Route("notifications.watch_board", "POST", lambda w: f"/b/{w.board_slug}/watch",
          signed_in(302), data={"watching": "on"}),
    Route("notifications.unsubscribe", "GET", lambda w: f"/unsubscribe/{w.unsubscribe}",
          everyone(200)),
    Route("notifications.unsubscribe", "GET", lambda w: "/unsubscribe/forged.token",
          everyone(404), name="forged token"),
    # The signed link is the authority (it is what a mail client follows in one click).
    Route("notifications.unsubscribe", "POST", lambda w: f"/unsubscribe/{w.unsubscribe}",
          everyone(200)),
    Route("notifications.unsubscribe", "POST", lambda w: "/unsubscribe/forged.token",
          everyone(404), name="forged token"),
    # moderation
    Route("moderation.report", "GET", lambda w: f"/posts/{w.reply_id}/report",
          signed_in(200, suspended=403)),
    Route("moderation.report", "POST", lambda w: f"/posts/{w.reply_id}/report",
          signed_in(302, suspended=403), data={"reason": "spam", "note": ""}),
    Route("moderation.queue", "GET", lambda w: "/moderation/", staff(200)),
    Route("moderation.action_log", "GET", lambda w: "/moderation/log", staff(200)),
    Route("moderation.member", "GET", lambda w: "/moderation/members/victim", staff(200)),
    Route("moderation.sanction", "POST", lambda w: "/moderation/members/victim/suspend",
          staff(302), data={"suspend-until": IN_A_WEEK, "suspend-reason": "spam"},
          name="suspend"),
    Route("moderation.sanction", "POST", lambda w: "/moderation/members/victim/ban",
          staff(302), data={"ban-reason": "spam"}, name="ban"),
    Route("moderation.sanction", "POST", lambda w: "/moderation/members/victim/lift",
          staff(302), data={"lift-reason": ""}, name="lift"),
    Route("moderation.remove_post", "GET", lambda w: f"/moderation/posts/{w.reply_id}/remove",
          staff(200)),
    Route("moderation.remove_post", "POST", lambda w: f"/moderation/posts/{w.reply_id}/remove",
          staff(302), data={"reason": "spam"}),
    Route("moderation.restore_post", "POST",
          lambda w: f"/moderation/posts/{w.removed_post_id}/restore", staff(302)),
    Route("moderation.remove_reported", "POST",
          lambda w: f"/moderation/reports/{w.reported_post_id}/remove", staff(302),
          data=lambda w: {f"x{w.reported_post_id}-reason": "spam"}),
    Route("moderation.resolve", "POST",
          lambda w: f"/moderation/reports/{w.reported_post_id}/resolve", staff(302),
          data=lambda w: {f"r{w.reported_post_id}-resolution": "dismissed",
                          f"r{w.reported_post_id}-note": "fine",
                          f"r{w.reported_post_id}-up_to": str(10**9)}),
    Route("moderation.thread_flag", "POST", lambda w: f"/moderation/threads/{w.thread_id}/lock",
          staff(302), name="lock"),
    Route("moderation.thread_flag", "POST",
          lambda w: f"/moderation/threads/{w.thread_id}/unlock", staff(302), name="unlock"),
    Route("moderation.thread_flag", "POST", lambda w: f"/moderation/threads/{w.thread_id}/pin",
          staff(302), name="pin"),
    Route("moderation.thread_flag", "POST",
          lambda w: f"/moderation/threads/{w.thread_id}/unpin", staff(302), name="unpin"),
    Route("moderation.move_thread", "GET", lambda w: f"/moderation/threads/{w.thread_id}/move",
          staff(200)),
    Route("moderation.move_thread", "POST",
          lambda w: f"/moderation/threads/{w.thread_id}/move", staff(302),
          data=lambda w: {"board": str(w.lounge_id), "reason": "tidy"}),
    Route("moderation.manage_roles", "GET", lambda w: "/admin/roles", staff(200, moderator=403)),
    Route("moderation.manage_roles", "POST", lambda w: "/admin/roles",
          staff(302, moderator=403), data={"username": "victim", "role": "moderator"}),
    # the API answers to bearer tokens only, never to a signed-in browser
    Route("api-docs.openapi_json", "GET", lambda w: "/api/v1/openapi.json", everyone(200)),
    Route("spend-events.post_spend_events", "POST", lambda w: "/api/v1/spend-events",
          everyone(401)),
    Route("rewards.list_rewards", "GET", lambda w: "/api/v1/rewards", everyone(401)),
    Route("rewards.fulfil_reward", "POST", lambda w: "/api/v1/rewards/1/fulfil", everyone(401)),
    Route("members.put_member", "PUT", lambda w: "/api/v1/members/X-1", everyone(401)),
    Route("me.me_stats", "GET", lambda w: "/api/v1/me/stats", everyone(401)),
    Route("me.me_referrals", "GET", lambda w: "/api/v1/me/referrals", everyone(401)),
    Route("me.me_rewards", "GET", lambda w: "/api/v1/me/rewards", everyone(401)),
    Route("fees.fee_quote", "GET",
          lambda w: "/api/v1/fees/quote?client=C&freelancer=F&amount_cents=5", everyone(401)),
    # referral pages: one's own things; someone else's ids are not found
    Route("referral_pages.dashboard_page", "GET", lambda w: "/referrals/", signed_in(200)),
    Route("referral_pages.create_link", "POST", lambda w: "/referrals/links", signed_in(ALLOWED),
          data={"link-program": "0", "link-target": "/"}),
    Route("referral_pages.disable_link", "POST",
          lambda w: f"/referrals/links/{w.ids['link']}/disable", signed_in(404), referrals=True),
    Route("referral_pages.referral", "GET", lambda w: f"/referrals/{w.ids['referral']}",
          signed_in(404), referrals=True),
    Route("referral_pages.export_referrals", "GET", lambda w: "/referrals/export/referrals.csv",
          signed_in(200)),
    Route("referral_pages.export_rewards", "GET", lambda w: "/referrals/export/rewards.csv",
          signed_in(200)),
    Route("referral_pages.api_tokens", "GET", lambda w: "/referrals/tokens", signed_in(200)),
    Route("referral_pages.api_tokens", "POST", lambda w: "/referrals/tokens", signed_in(ALLOWED),
          data={"name": "mine"}),
    Route("referral_pages.revoke_token", "POST",
          lambda w: f"/referrals/tokens/{w.ids['member_token']}/revoke", signed_in(404),
          referrals=True),
    Route("referral_pages.affiliate", "GET", lambda w: "/referrals/affiliate", signed_in(200)),
    Route("referral_pages.affiliate", "POST", lambda w: "/referrals/affiliate",
          signed_in(ALLOWED), data={"audience": "Readers", "promotion": "A blog"}),
    Route("referral_pages.talent", "GET", lambda w: "/referrals/talent", signed_in(200)),
    Route("referral_pages.invite", "POST", lambda w: "/referrals/talent/invite/talent",
          signed_in(ALLOWED, suspended=403),
          data={"talent-first_name": "Dana", "talent-last_name": "Scully",
                "talent-email": "dana@example.com", "talent-purpose": "offer"}),
    Route("referral_pages.resend_invitation", "POST",
          lambda w: f"/referrals/talent/{w.ids['invitation']}/resend", signed_in(404),
          referrals=True),
    Route("referral_pages.revoke_invitation", "POST",
          lambda w: f"/referrals/talent/{w.ids['invitation']}/revoke", signed_in(404),
          referrals=True),
    # an invitation link is for someone without an account
    Route("referral_pages.accept_invitation", "GET", lambda w: "/invitations/inv_authz",
          {**everyone(409), "anonymous": 200, "banned": 200}, referrals=True),
    Route("referral_pages.accept_invitation", "POST", lambda w: "/invitations/inv_authz",
          {**everyone(409), "anonymous": 422, "banned": 422}, data={"username": "x"},
          referrals=True),
    # an admin's override invitation is for one existing account: sign in as it, others 403
    Route("referral_pages.accept_invitation", "GET", lambda w: "/invitations/inv_override",
          {**everyone(403), "anonymous": 200, "banned": 200}, name="override", referrals=True),
    Route("referral_pages.accept_invitation", "POST", lambda w: "/invitations/inv_override",
          {**everyone(403), "anonymous": LOGIN, "banned": LOGIN}, name="override",
          referrals=True),
    # the referral console: admins only (moderators too get 403)
    Route("referral_admin.index", "GET", lambda w: "/admin/referrals/",
          staff(200, moderator=403)),
    Route("referral_admin.program_list", "GET", lambda w: "/admin/referrals/programs",
          staff(200, moderator=403)),
    Route("referral_admin.program", "GET",
          lambda w: f"/admin/referrals/programs/{w.ids['program']}", staff(200, moderator=403),
          referrals=True),
    Route("referral_admin.program", "POST",
          lambda w: f"/admin/referrals/programs/{w.ids['program']}",
          staff(302, moderator=403), referrals=True,
          data={"name": "Renamed", "attribution_days": "30", "hold_days": "14"}),
    Route("referral_admin.tier", "POST",
          lambda w: f"/admin/referrals/programs/{w.ids['program']}/tiers/{w.ids['tier']}",
          staff(302, moderator=403), referrals=True,
          data=lambda w: {f"tier{w.ids['tier']}-threshold_cents": "60000",
                          f"tier{w.ids['tier']}-reward_amount": "10000"}),
    Route("referral_admin.program_state", "POST",
          lambda w: f"/admin/referrals/programs/{w.ids['program']}/deactivate",
          staff(302, moderator=403), referrals=True, name="deactivate"),
    Route("referral_admin.program_state", "POST",
          lambda w: f"/admin/referrals/programs/{w.ids['program']}/activate",
          staff(302, moderator=403), referrals=True, name="activate"),
    Route("referral_admin.fee_bands", "GET", lambda w: "/admin/referrals/fees",
          staff(200, moderator=403)),
    Route("referral_admin.fee_bands", "POST", lambda w: "/admin/referrals/fees",
          staff(302, moderator=403), data={"bands": "0 2000\n50000 1000"}),
    Route("referral_admin.reviews", "GET", lambda w: "/admin/referrals/reviews",
          staff(200, moderator=403)),
    Route("referral_admin.review", "POST",
          lambda w: f"/admin/referrals/reviews/{w.ids['referral']}",
          staff(302, moderator=403), referrals=True,
          data=lambda w: {f"r{w.ids['referral']}-decision": "approve",
                          f"r{w.ids['referral']}-note": "looked fine"}),
    Route("referral_admin.reward_list", "GET", lambda w: "/admin/referrals/rewards",
          staff(200, moderator=403)),
    Route("referral_admin.reverse", "POST",
          lambda w: f"/admin/referrals/rewards/{w.ids['reward']}/reverse",
          staff(302, moderator=403), referrals=True, data={"reason": "refunded"}),
    Route("referral_admin.payout_list", "GET", lambda w: "/admin/referrals/payouts",
          staff(200, moderator=403)),
    Route("referral_admin.create_payout", "POST", lambda w: "/admin/referrals/payouts",
          staff(302, moderator=403), referrals=True,
          data=lambda w: {"rewards": str(w.ids["reward"]), "note": "June"}),
    Route("referral_admin.payout", "GET",
          lambda w: f"/admin/referrals/payouts/{w.ids['batch']}", staff(200, moderator=403),
          referrals=True),
    Route("referral_admin.payout_csv", "GET",
          lambda w: f"/admin/referrals/payouts/{w.ids['batch']}.csv", staff(200, moderator=403),
          referrals=True),
    Route("referral_admin.pay_payout", "POST",
          lambda w: f"/admin/referrals/payouts/{w.ids['batch']}/paid", staff(302, moderator=403),
          referrals=True),
    Route("referral_admin.affiliate_list", "GET", lambda w: "/admin/referrals/affiliates",
          staff(200, moderator=403)),
    Route("referral_admin.decide_affiliate", "POST",
          lambda w: f"/admin/referrals/affiliates/{w.ids['applicant']}",
          staff(302, moderator=403), referrals=True,
          data=lambda w: {f"a{w.ids['applicant']}-decision": "approve",
                          f"a{w.ids['applicant']}-note": "a real audience"}),
    Route("referral_admin.token_list", "GET", lambda w: "/admin/referrals/tokens",
          staff(200, moderator=403)),
    # A new token is shown once, on the page itself.
    Route("referral_admin.token_list", "POST", lambda w: "/admin/referrals/tokens",
          staff(200, moderator=403), data={"name": "ops", "scopes": "events:write"}),
    Route("referral_admin.revoke_token", "POST",
          lambda w: f"/admin/referrals/tokens/{w.ids['member_token']}/revoke",
          staff(302, moderator=403), referrals=True),
    Route("referral_admin.invitation_overrides", "GET", lambda w: "/admin/referrals/invitations",
          staff(200, moderator=403)),
    Route("referral_admin.invitation_overrides", "POST",
          lambda w: "/admin/referrals/invitations", staff(ALLOWED, moderator=403),
          data={"inviter": "victim", "invitation": "talent:offer", "first_name": "Walter",
                "last_name": "Skinner", "email": "dormant@example.com", "reason": "authz"},
          referrals=True),
    Route("mailbox.index", "GET", lambda w: "/admin/mailbox", staff(200, moderator=403)),
]  # fmt: skip


def _world(app: Flask, referral_things: bool = False) -> World:
    victim = make_user("victim", works=True)
    board = make_board("general")
    lounge = make_board("lounge", moderators_only=True)
    thread = posting.create_thread(db.session, victim, board, "About payments", "payment?")
    reply = posting.reply(db.session, make_user("helper"), thread, "A helpful answer")
    removed = posting.reply(db.session, victim, thread, "Something rude")
    removed.removed_at, removed.removal_reason = utcnow(), "rude"
    reported = posting.reply(db.session, victim, thread, "Pay me outside the platform")
    reports.file_report(db.session, make_user("reporter"), reported, "circumvention", "")
    fanout.notify(db.session, victim.id, "mention", post_id=reply.id, thread_id=thread.id)
    from forum.notifications.models import Notification

    notification = (
        db.session.query(Notification).filter_by(recipient_id=victim.id).order_by(Notification.id)
    ).first()
    sessions.start(db.session, victim, "victim's browser", remember=False)
    link = make_link(make_program(), code="victimlink")
    ids = _referral_world(victim) if referral_things else {}
    db.session.commit()
    return World(
        victim=victim, board_slug=board.slug, lounge_slug=lounge.slug, thread_id=thread.id,
        first_post_id=thread.id, reply_id=reply.id, removed_post_id=removed.id,
        reported_post_id=reported.id, lounge_id=lounge.id, notification_id=notification.id,
        session_id=sessions.active(db.session, victim)[0].id, link_code=link.code,
        unsubscribe=unsubscribe_token(app.config["SECRET_KEY"], victim.id, "mention"),
        ids=ids,
    )  # fmt: skip


def _referral_world(victim: User) -> dict[str, int]:
    """The victim's referral things (a link, a referral, rewards in and out of a payout batch,
    an invitation with the known link /invitations/inv_authz, a token) and an applicant."""
    from referrals import invitations, overrides, payouts, tokens
    from referrals.models import Reward
    from tests.referrals.factories import rewarded_referral

    referral = rewarded_referral(referrer=victim)
    batched = db.session.query(Reward).filter_by(referral_id=referral.id).one()
    other = rewarded_referral(referral.program, referrer=victim)
    reward = db.session.query(Reward).filter_by(referral_id=other.id).one()
    batch = payouts.create_batch(db.session, make_user("payer", role=Role.ADMIN),
                                 [batched.id], "", utcnow())  # fmt: skip
    invitation = invitations.invite(
        db.session, victim, "talent", "offer", "Fox", "Mulder", "fox@example.com", utcnow(),
        "http://townhall.test/invitations/",
    )  # fmt: skip
    invitation.token_hash = invitations.hash_secret("inv_authz")
    make_user("dormant", email="dormant@example.com")
    override = overrides.override(db.session, victim.username, "talent", "offer", "Walter",
                                  "Skinner", "dormant@example.com", utcnow(),
                                  "http://townhall.test/invitations/").invitation  # fmt: skip
    override.token_hash = invitations.hash_secret("inv_override")
    token, _ = tokens.create_token(db.session, "stats", ["me:read"], utcnow(), owner=victim)
    applicant = make_user("applicant")
    affiliates.apply(db.session, applicant, "Readers", utcnow())
    return {
        "link": referral.link_id, "referral": referral.id, "reward": reward.id,
        "batch": batch.id, "invitation": invitation.id, "member_token": token.id,
        "program": referral.program_id, "tier": referral.program.tiers[0].id,
        "applicant": applicant.id,
    }  # fmt: skip


def _client_as(app: Flask, role: str) -> Browser:
    browser = Browser(app.test_client())
    if role == "anonymous":
        # A real CSRF token, so that what is tested is authorization, not CSRF.
        browser._token = csrf_token(browser.client, "/sign-in")
        return browser
    person = make_user(
        f"as-{role}",
        role={"moderator": Role.MODERATOR, "admin": Role.ADMIN}.get(role, Role.MEMBER),
    )
    if role == "affiliate":
        affiliates.decide(db.session, person, approve=True, admin=None, now=utcnow())
    browser.sign_in(person)
    browser.token()
    if role == "suspended":
        person.suspended_until = utcnow() + timedelta(days=3)
    if role == "banned":
        person.banned_at = utcnow()
    db.session.commit()
    return browser


def _outcome(response) -> Any:  # noqa: ANN001
    if response.status_code == 302 and "/sign-in" in response.location:
        return LOGIN
    return response.status_code


def _matches(outcome: Any, expected: Any) -> bool:
    if expected == ALLOWED:
        return outcome != LOGIN and (outcome < 400 or outcome == 422)
    return outcome == expected


API_ENDPOINTS = ("spend-events.", "rewards.", "members.")


def _call(browser: Browser, route: Route, world: World):  # noqa: ANN202
    path = route.path(world)
    if route.method == "GET":
        return browser.get(path)
    if route.endpoint.startswith(API_ENDPOINTS):
        return browser.client.open(path, method=route.method, json={})
    return browser.client.open(
        path, method=route.method, data={"csrf_token": browser.token(), **route.form(world)}
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_route_answers_each_role_as_expected(app, route: Route, role: str) -> None:
    world = _world(app, referral_things=route.referrals)
    response = _call(_client_as(app, role), route, world)
    outcome = _outcome(response)
    response.close()
    expected = route.expected[role]
    assert _matches(outcome, expected), f"{route.id} as {role}: got {outcome}, expected {expected}"


def test_every_route_is_in_the_table(app) -> None:
    covered = {(r.endpoint, r.method) for r in ROUTES}
    named = {(r.endpoint, r.method, r.name) for r in ROUTES}
    missing = []
    for rule in app.url_map.iter_rules():
        # Each value of an any(…) part is its own act: /lock and /unlock are both walked.
        variants = sorted(
            value
            for converter in rule._converters.values()
            if isinstance(converter, AnyConverter)
            for value in converter.items
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in covered:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
            missing += [
                f"{method} {rule.rule} ({rule.endpoint}[{value}])"
                for value in variants
                if (rule.endpoint, method, value) not in named
            ]
    assert missing == [], "routes missing from the authorization table:\n" + "\n".join(missing)


# Every form an admin may send (a route that is a 404 whoever asks has nothing to protect).
FORM_ROUTES = [
    r
    for r in ROUTES
    if r.method != "GET" and not r.endpoint.startswith(API_ENDPOINTS) and r.expected["admin"] != 404
]


@pytest.mark.parametrize("route", FORM_ROUTES, ids=[r.id for r in FORM_ROUTES])
def test_every_form_refuses_a_request_without_its_csrf_token(app, route: Route) -> None:
    """CSRF on every form: the same request as above, as an admin, minus the token."""
    world = _world(app, referral_things=route.referrals)
    browser = _client_as(app, "admin")
    response = browser.client.open(route.path(world), method=route.method, data=route.form(world))
    assert response.status_code == 400, f"{route.id}: {response.status_code}"
    assert "The form expired" in response.get_data(as_text=True) or route.endpoint == (
        "notifications.unsubscribe"
    )
