"""The notification settings form: an email choice per kind, and watching on posting."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from forum.notifications.models import EmailMode, NotificationKind

EMAIL_CHOICES = [SelectChoice(mode.value, mode.label) for mode in EmailMode]


class SettingsForm(FlaskForm):
    watch_on_post = BooleanField("Watch threads I start or reply to")

    def email_fields(self) -> list[tuple[NotificationKind, SelectField]]:
        return [(kind, getattr(self, field_name(kind))) for kind in NotificationKind]


def field_name(kind: NotificationKind) -> str:
    return f"email_{kind.value}"


for _kind in NotificationKind:
    setattr(SettingsForm, field_name(_kind), SelectField(_kind.label, choices=EMAIL_CHOICES))
