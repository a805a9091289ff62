"""Townhall's app factory: the one place that knows both the forum and the referrals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, has_app_context, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from forum import config as config_module
from forum.extensions import csrf, db, limiter, login_manager, migrate
from forum.requests import IdConverter, TownhallRequest
from forum.sessions import CachedSerializerSessionInterface

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _request_may_write() -> bool:
    # Outside requests (commands, tests) a transaction held open while idle must not take
    # the write lock; a safe-method request that writes says so with start_writing(), and a
    # request that only reads for now (an API token lookup) by setting it to False.
    if not has_app_context():
        return False
    declared = g.get("writes_expected")  # (the click lane declares it outside a request)
    if declared is not None:
        return declared
    return has_request_context() and request.method not in SAFE_METHODS


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Return a configured Townhall application.

    ``test_config`` overrides the configuration read from the environment.
    """
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.request_class = TownhallRequest
    app.session_interface = CachedSerializerSessionInterface()
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(config_module.from_environment(Path(app.instance_path)))
    if test_config:
        app.config.from_mapping(test_config)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            from forum.database import configure_sqlite

            configure_sqlite(db.engine, writes_expected=_request_may_write)
        elif db.engine.dialect.name == "postgresql":
            from forum.connections import configure_postgresql

            configure_postgresql(db.engine, app.config["DATABASE_IDLE_PING_SECONDS"])

    from forum import cli, errors, fragments, mailbox, notifications, security, templating
    from forum.accounts import views as accounts_views
    from forum.boards import viewcounts
    from forum.boards import views as boards_views
    from forum.moderation import views as moderation_views
    from forum.search import views as search_views

    templating.init_app(app)
    fragments.init_app(app)
    viewcounts.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(boards_views.bp)
    app.register_blueprint(moderation_views.bp)
    app.register_blueprint(search_views.bp)
    app.register_blueprint(mailbox.bp)
    notifications.init_app(app)

    import referrals

    referrals.init_app(app)

    # Middleware, innermost first: the referral click lane (answers before Flask's request
    # machinery), the proxy fix (the lane needs the visitor's address too), then the
    # security headers (on every response, the lane's included).
    wsgi_app = referrals.click_lane(app, app.wsgi_app)
    if app.config.get("TRUSTED_PROXIES"):
        # Behind a load balancer the client's address is in X-Forwarded-For; per-address
        # rate limits would otherwise count every visitor as the balancer.
        hops = app.config["TRUSTED_PROXIES"]
        wsgi_app = ProxyFix(wsgi_app, x_for=hops, x_proto=hops)
    app.wsgi_app = security.SecurityHeaders(wsgi_app)  # type: ignore[method-assign]
    return app
