"""Plain rows of a spend batch (referrals/referral_rows.py)."""

from __future__ import annotations

import dataclasses

from forum.database import utcnow
from referrals.referral_rows import ProgramRow, ReferralRow


def test_a_referrals_copy_has_every_field_and_changes_apart() -> None:
    program = ProgramRow(1, "client", 30, "USD", None, None, ())
    values = {field.name: index for index, field in enumerate(dataclasses.fields(ReferralRow))}
    values.update(clicked_at=utcnow(), blocked_tier_ids=[3], program=program)
    referral = ReferralRow(**values)

    copied = referral.copy()

    assert dataclasses.asdict(copied) == dataclasses.asdict(referral)
    copied.net_cents += 100
    assert referral.net_cents == values["net_cents"]
