"""View decorators that let only some members in: visitors are sent to sign in, members
without the role get 403 with a sentence saying who the page is for."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user

from forum.accounts.models import User
from forum.extensions import login_manager


def role_required(
    has_role: Callable[[User], bool], refusal: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator that admits signed-in members for whom ``has_role`` holds."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not has_role(current_user):
                abort(403, refusal)
            return view(*args, **kwargs)

        return wrapped

    return decorator


moderator_required = role_required(lambda user: user.is_moderator, "This page is for moderators.")
admin_required = role_required(lambda user: user.is_admin, "This page is for admins.")
