"""Forms for reporting posts and for moderators' and admins' acts.

Required reasons and allowed values are checked by the services, so a rule lives in one
place; the forms only collect input. Forms repeated on one page (the report queue, the
member page) use a prefix so that every field keeps a unique id for its label.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from forum.accounts.models import Role
from forum.forms import choices
from forum.moderation.models import Action, ReportReason

REASON_HELP = "Kept in the moderation log."


class ReportForm(FlaskForm):
    reason = RadioField(
        "What is wrong with this post?",
        choices=choices((reason.value, reason.label) for reason in ReportReason),
        validate_choice=False,
    )
    note = TextAreaField(
        "Note for the moderators",
        description="Required with “Other”. Only moderators read it. Up to 1,000 characters.",
    )


class RemoveForm(FlaskForm):
    reason = StringField(
        "Reason shown to members",
        description="Members see “This post was removed by a moderator: <reason>.”",
    )


class ResolveForm(FlaskForm):
    resolution = RadioField(
        "Outcome",
        choices=choices([("action_taken", "Action taken"), ("dismissed", "Dismissed")]),
        default="dismissed",
        validate_choice=False,
    )
    note = StringField("Note (moderators only)")
    up_to = HiddenField()


class MoveForm(FlaskForm):
    board = SelectField("Move to board", coerce=int, validate_choice=False)
    reason = StringField("Reason", description=REASON_HELP)


class SuspendForm(FlaskForm):
    until = DateTimeLocalField(
        "Suspended until (UTC)",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
        description="Date and time in UTC. The member can read but not post until then.",
    )
    reason = StringField("Reason", description=REASON_HELP)


class BanForm(FlaskForm):
    reason = StringField("Reason", description=REASON_HELP)


class LiftForm(FlaskForm):
    reason = StringField("Reason (optional)", description=REASON_HELP)


class RoleForm(FlaskForm):
    username = StringField("Username")
    role = SelectField(
        "Role", choices=choices((role.value, role.value.capitalize()) for role in Role),
        validate_choice=False,
    )  # fmt: skip
    reason = StringField("Reason (optional)", description=REASON_HELP)


class LogFilterForm(FlaskForm):
    """The filters of the moderation log: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    actor = StringField("Moderator", validators=[Optional()])
    action = SelectField(
        "Action",
        choices=choices([("", "Any action"), *[(action.value, action.label) for action in Action]]),
        validate_choice=False,
    )
    member = StringField("Member", validators=[Optional()])
