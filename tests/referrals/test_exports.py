"""CSV exports: a referrer's own rows only, and cells that cannot run as formulas."""

from __future__ import annotations

import csv
import io

import pytest

from forum.database import utcnow
from forum.extensions import db
from referrals import exports, payouts
from referrals.models import Reward
from tests.conftest import make_user
from tests.referrals.factories import rewarded_referral


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain", "plain"),
        ("", ""),
        (None, ""),
        (-5, -5),
        (True, "yes"),
    ],
)
def test_formula_cells_are_neutralised(value, cell) -> None:
    assert exports.safe_cell(value) == cell


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_referrer_exports_their_own_referrals_and_rewards_only(app) -> None:
    mine = rewarded_referral()
    rewarded_referral()  # someone else's
    mine.referee.username = "=cmd"  # a hostile name cannot become a formula in the export
    db.session.flush()
    [row] = _rows(exports.referrals_csv(db.session, mine.referrer))
    assert row["referral_id"] == str(mine.id) and row["referee"] == "'=cmd"
    assert row["referee_net_usd"] == "100.00" and row["rewards_usd"] == "50.00"
    [reward] = _rows(exports.rewards_csv(db.session, mine.referrer))
    assert (reward["kind"], reward["amount"], reward["unit"], reward["status"]) == (
        "cash", "50.00", "USD", "approved",
    )  # fmt: skip
    assert _rows(exports.referrals_csv(db.session, make_user())) == []


def test_a_payout_batch_exports_who_to_pay(app) -> None:
    referral = rewarded_referral()
    reward = db.session.query(Reward).filter_by(referral_id=referral.id).one()
    batch = payouts.create_batch(db.session, make_user(), [reward.id], "", utcnow())
    [row] = _rows(exports.payout_csv(db.session, batch))
    assert row["referrer"] == referral.referrer.username
    assert row["referrer_email"] == referral.referrer.email
    assert (row["amount_usd"], row["currency"]) == ("50.00", "USD")
