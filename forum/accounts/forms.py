"""Sign-up and sign-in forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, EqualTo, InputRequired, Length

KIND_CHOICES = [
    SelectChoice("hire", "I hire freelancers"),
    SelectChoice("work", "I work as a freelancer"),
    SelectChoice("both", "Both"),
]


class SignUpForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[InputRequired(), Length(max=30)],
        description="3–30 letters, digits, dots, dashes or underscores. Shown on your posts.",
    )
    email = EmailField(
        "Email", validators=[InputRequired(), Length(max=254), Email(check_deliverability=False)]
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired(), Length(max=200)],
        description="At least 10 characters.",
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[InputRequired(), EqualTo("password", message="The passwords differ.")],
    )
    kind = RadioField("I am here because", choices=KIND_CHOICES, validators=[InputRequired()])


class SignInForm(FlaskForm):
    login = StringField("Username or email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])
    remember = BooleanField("Remember me")


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired(), Length(max=200)]
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired(), Length(max=200)],
        description="At least 10 characters. Your other sessions will be signed out.",
    )  # fmt: skip
    confirm = PasswordField(
        "Repeat new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
