"""The referral engine: programs, links, attribution, spend events and rewards."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_login import user_logged_in

from forum.signals import demo_loaded, member_signed_up


def init_app(app: Flask) -> None:
    """Attach the referral engine to the app (signals, blueprints, commands)."""
    from forum.templating import add_nav_link
    from referrals import (  # noqa: F401 - models, tables: metadata; *_views: routes
        admin_views,
        api,
        cli,
        member_views,
        models,
        override_views,
        payout_views,
        tables,
        views,
    )
    from referrals.rewards_text import format_cents

    # More clicks than this from one address within a minute are a flood: recorded, not counted.
    app.config.setdefault(
        "REFERRALS_CLICK_FLOOD_LIMIT", int(os.environ.get("REFERRALS_CLICK_FLOOD_LIMIT", 20))
    )
    # How long an address a referrer used counts as "theirs" for self-referral checks.
    app.config.setdefault(
        "REFERRALS_SELF_ADDRESS_DAYS", int(os.environ.get("REFERRALS_SELF_ADDRESS_DAYS", 30))
    )
    # Invitations one member may send per hour (Flask-Limiter notation).
    app.config.setdefault(
        "REFERRALS_INVITATIONS_LIMIT",
        os.environ.get("REFERRALS_INVITATIONS_LIMIT", "20 per hour"),
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(member_views.bp)
    app.register_blueprint(admin_views.bp)
    app.add_template_filter(format_cents, "money")
    add_nav_link(app, "referral_pages.dashboard_page", "Referrals")
    add_nav_link(app, "referral_admin.index", "Referral console", audience="admin")
    api.init_app(app)
    cli.init_app(app)
    member_signed_up.connect(views.on_member_signed_up)
    user_logged_in.connect(views.on_signed_in)
    demo_loaded.connect(cli.on_demo_loaded)


def click_lane(app: Flask, wsgi_app: Any) -> Any:
    """Wrap ``wsgi_app`` so that a session-less visitor's ``/r/<code>`` is answered before
    Flask (``following.ClickLane``)."""
    from referrals.following import ClickLane

    return ClickLane(app, wsgi_app)
