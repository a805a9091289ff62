"""The search form: words, and filters for board, author, solved threads and dates."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SearchField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional


class SearchForm(FlaskForm):
    # A GET form: bookmarkable, shareable, and nothing to protect with CSRF.
    class Meta:
        csrf = False

    q = SearchField("Search for")
    board = SelectField("Board", choices=[SelectChoice("", "All boards")], validate_choice=False)
    author = StringField("Author", validators=[Optional(), Length(max=30)])
    solved = BooleanField("Solved threads only")
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    sort = SelectField(
        "Order",
        choices=[SelectChoice("relevance", "Best match"), SelectChoice("newest", "Newest first")],
        default="relevance",
    )
