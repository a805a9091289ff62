"""Signals through which the forum tells other parts (referrals) what happened.

The forum never imports its listeners; the app factory connects them.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the app; kwargs: user (the new User), session (the SQLAlchemy session, same
# transaction as the sign-up, not yet committed)
member_signed_up = _signals.signal("member-signed-up")
# sender: the app; kwargs: post, moderator, reason, session
post_removed = _signals.signal("post-removed")
# sender: the app; kwargs: session (demo data added, not yet committed)
demo_loaded = _signals.signal("demo-loaded")
