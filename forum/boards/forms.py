"""Forms for writing: new thread, reply, edit."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from forum.boards.posting import MAX_TITLE_CHARS

BODY_HELP = "Markdown works: **bold**, _italic_, `code`, ``` fenced code ```, tables and links."


def new_submission_key() -> str:
    return secrets.token_hex(16)


class ThreadForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=MAX_TITLE_CHARS + 50)])
    body = TextAreaField("Your question or topic", description=BODY_HELP)
    submission_key = HiddenField(default=new_submission_key)


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", description=BODY_HELP)
    quote_id = HiddenField()
    submission_key = HiddenField(default=new_submission_key)


class EditForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=MAX_TITLE_CHARS + 50)])
    body = TextAreaField("Post", description=BODY_HELP)
    reason = StringField("Reason for the edit (optional)", validators=[Optional(), Length(max=500)])
