"""Moderation: reports, removals that keep everything, sanctions, roles and the moderation log."""
