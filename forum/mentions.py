"""@mentions: which members a post names, so that their names link to them and they hear of it.

The Markdown renderer (forum.markup) finds "@name" outside code and links and asks a
``Mentions`` object for each; only existing members (any case) become links, and only they
are notified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import User
from forum.accounts.service import username_key
from forum.markup import MENTION_PATTERN

# Names looked up per post; a post naming more is not a conversation. Every one of these
# that exists is linked and notified.
MAX_MENTIONS = 30


def profile_path(username: str) -> str:
    """Return the path of a member's profile (accounts.profile; a test checks they agree).

    Domain code may not call url_for, and a post's HTML is rendered once, when it is saved.
    """
    return f"/u/{username}"


def candidate_keys(source: str) -> list[str]:
    """Return the username keys written as "@name" anywhere in ``source`` (code included).

    A superset of the real mentions, used only to look members up in one query.
    """
    keys: list[str] = []
    for match in MENTION_PATTERN.finditer(source):
        key = username_key(match.group(1))
        if key not in keys:
            keys.append(key)
            if len(keys) == MAX_MENTIONS:
                break
    return keys


@dataclass
class Mentions:
    """Members who may be mentioned in one post, and those the rendered post did mention."""

    members: dict[str, User]
    mentioned_ids: list[int] = field(default_factory=list)

    def resolve(self, name: str) -> str | None:
        """Return the profile path for "@name" if such a member exists (recording them)."""
        user = self.members.get(username_key(name))
        if user is None:
            return None
        if user.id not in self.mentioned_ids:
            self.mentioned_ids.append(user.id)
        return profile_path(user.username)


def lookup(session: Session, source: str) -> Mentions:
    """Return the Mentions for a body: one query, none when it names nobody."""
    keys = candidate_keys(source)
    if not keys:
        return Mentions({})
    users = session.scalars(sa.select(User).where(User.username_key.in_(keys)))
    return Mentions({user.username_key: user for user in users})
