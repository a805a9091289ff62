"""The domain error of moderation: input a moderator or member must correct."""

from __future__ import annotations


class ModerationError(ValueError):
    """Invalid input, tied to the form field it concerns (views turn it into a 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
