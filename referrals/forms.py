"""The forms of the referral pages and the admin console. They only collect input: the
domain modules validate it and their errors come back as field messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from referrals.invitations import PURPOSES
from referrals.tables import InvitationKind
from referrals.tokens import SCOPES


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# --- members -------------------------------------------------------------------------------


class LinkForm(FlaskForm):
    program = SelectField("Program", choices=[], validate_choice=False)
    campaign = StringField(
        "Campaign label",
        validators=[Optional(), Length(max=80)],
        description="Optional: where you share this link, to tell your links apart.",
    )
    target = StringField(
        "Page it leads to",
        default="/",
        validators=[Length(max=500)],
        description="A page of this site, such as / or /b/getting-started.",
    )


class TokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[InputRequired(), Length(max=40)],
        description="Letters, digits, spaces, dots, dashes or underscores.",
    )


class AffiliateForm(FlaskForm):
    website = StringField(
        "Website or channel",
        validators=[Optional(), Length(max=300)],
        description="Optional: the full address, starting with https://.",
    )
    audience = TextAreaField(
        "Your audience",
        validators=[InputRequired(), Length(max=1000)],
        description="Who follows you, and how many.",
    )
    promotion = TextAreaField(
        "How you will promote the marketplace",
        validators=[InputRequired(), Length(max=1000)],
    )


class InvitationForm(FlaskForm):
    first_name = StringField("First name", validators=[InputRequired(), Length(max=60)])
    last_name = StringField("Last name", validators=[InputRequired(), Length(max=60)])
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    purpose = RadioField("Invite them to", choices=[], validators=[InputRequired()])


class AcceptForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[InputRequired(), Length(max=30)],
        description="3–30 letters, digits, dots, dashes or underscores. Shown on your posts.",
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


# --- admins --------------------------------------------------------------------------------


class ProgramForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Length(max=1000)])
    attribution_days = IntegerField(
        "Attribution window (days)",
        validators=[InputRequired(message="Give a whole number of days.")],
        description="How long after a click a sign-up still counts.",
    )
    hold_days = IntegerField(
        "Hold (days)",
        validators=[InputRequired(message="Give a whole number of days.")],
        description="0 to 365: how long a reward stays pending before it is approved.",
    )
    referrer_cap_cents = IntegerField(
        "Cap per referrer (cents)",
        validators=[Optional()],
        description="Empty for no cap. 50000 is $500.",
    )
    referee_cap_cents = IntegerField(
        "Cap per referee (cents)", validators=[Optional()], description="Empty for no cap."
    )


class TierForm(FlaskForm):
    threshold_cents = IntegerField(
        "Threshold (cents)",
        validators=[InputRequired(message="Give a whole number of cents.")],
        description="The referee's net spend or earnings that earns this tier.",
    )
    reward_amount = IntegerField(
        "Reward amount",
        validators=[InputRequired(message="Give a whole number.")],
        description="Cents for cash and credit, Connects, or basis points for fee and share.",
    )
    share_months = IntegerField("Revenue share months", validators=[Optional()])
    share_cap_cents = IntegerField("Revenue share cap (cents)", validators=[Optional()])


class FeeBandsForm(FlaskForm):
    bands = TextAreaField(
        "Fee bands",
        validators=[InputRequired()],
        description="One band a line: lifetime billings in cents where it starts, then its "
        "rate in basis points (2000 = 20%). The first starts at 0.",
    )


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[SelectChoice("approve", "Approve"), SelectChoice("reject", "Reject")],
        validators=[InputRequired(message="Choose approve or reject.")],
    )
    note = TextAreaField(
        "Reason",
        validators=[InputRequired(message="Give a reason: it is kept in the log."),
                    Length(max=500)],
    )  # fmt: skip


class ReverseForm(FlaskForm):
    reason = StringField(
        "Reason",
        validators=[InputRequired(message="Give a reason: the referrer sees it."),
                    Length(max=500)],
    )  # fmt: skip


class PayoutForm(FlaskForm):
    rewards = MultiCheckboxField("Rewards to pay", coerce=int, choices=[], validate_choice=False)
    note = StringField("Note", validators=[Optional(), Length(max=500)])


class AdminTokenForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=60)])
    scopes = MultiCheckboxField(
        "Scopes",
        choices=[SelectChoice(scope, f"{scope}: {what}") for scope, what in SCOPES.items()],
        validators=[InputRequired(message="Choose at least one scope.")],
    )


class OverrideForm(FlaskForm):
    inviter = StringField(
        "Inviter's username",
        validators=[InputRequired(), Length(max=30)],
        description="The client (or freelancer) whose invitation was refused.",
    )
    invitation = SelectField(
        "Invitation",
        choices=[
            SelectChoice(f"{kind}:{purpose}", f"{who}: {label}")
            for kind, who in (("talent", "Their own freelancer"), ("client", "Their own client"))
            for purpose, label in PURPOSES[InvitationKind(kind)].items()
        ],
        validators=[InputRequired()],
    )
    first_name = StringField("First name", validators=[InputRequired(), Length(max=60)])
    last_name = StringField("Last name", validators=[InputRequired(), Length(max=60)])
    email = EmailField(
        "Email",
        validators=[InputRequired(), Length(max=254)],
        description="The address of the existing account; it must never have been active.",
    )
    reason = TextAreaField(
        "Reason",
        validators=[InputRequired(message="Give a reason: it is kept in the log."),
                    Length(max=500)],
    )  # fmt: skip
