"""Small form pieces shared by every part: the CSRF-only action form, error transfer, choices."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms before 3.3 takes (value, label) tuples
    SelectChoice = None


class ActionForm(FlaskForm):
    """A form with no fields: a button that changes something, protected by CSRF."""


def add_field_error(form: FlaskForm, field: str, message: str) -> None:
    """Attach a domain error to the named field (or to the form when it has no such field)."""
    target: Field | None = getattr(form, field, None)
    if isinstance(target, Field):
        target.errors = [*target.errors, message] if isinstance(target.errors, list) else [message]
    else:
        form.form_errors.append(message)


def choices(pairs: Iterable[tuple[Any, str]]) -> list[Any]:
    """Return (value, label) pairs as select or radio choices for the installed WTForms.

    WTForms 3.3 deprecates tuples (and the test suite turns warnings into errors).
    """
    if SelectChoice is None:  # pragma: no cover
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]
