"""Freshness bounds: until when an answer from one cached set stays right (freshness.py)."""
from __future__ import annotations

import gc
import math

from domain.model.freshness import (
    Freshness,
    credit_answer_until,
    feature_answer_until,
    state_answer_until,
)
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import boolean, credit, entitlement_set, metered

END = "2025-07-31T23:59:59Z"
VALID = "2025-07-20T00:00:00Z"


def test_a_metered_answer_holds_until_the_earlier_of_expiry_and_the_first_ms_after_period_end():
    s = entitlement_set(metered("api-calls", 10, end=END, valid_until=VALID))
    assert feature_answer_until(s, "api-calls") == ms(VALID)
    s = entitlement_set(metered("api-calls", 10, end=END))
    # Rollover happens once period_end < now, so the answer holds through period_end itself.
    assert feature_answer_until(s, "api-calls") == ms(END) + 1


def test_a_period_end_on_a_boolean_or_an_absent_feature_puts_no_bound():
    s = entitlement_set(boolean("sso"))
    assert feature_answer_until(s, "sso") == math.inf
    assert feature_answer_until(s, "absent") == math.inf


def test_a_credit_answer_holds_until_its_expiry_only():
    s = entitlement_set(credit("cred", 100, end=END, valid_until=VALID), credit("free"))
    assert credit_answer_until(s, "cred") == ms(VALID)
    assert credit_answer_until(s, "free") == math.inf
    assert credit_answer_until(s, "absent") == math.inf


def test_a_state_answer_holds_until_the_earliest_bound_in_the_set():
    s = entitlement_set(metered("api-calls", 10, end=END), boolean("sso", valid_until=VALID),
                        credit("cred", valid_until="2025-08-05T00:00:00Z"))
    assert state_answer_until(s) == ms(VALID)
    assert state_answer_until(entitlement_set()) == math.inf


def test_freshness_holds_its_set_weakly():
    s = entitlement_set(boolean("sso"))
    freshness = Freshness.of(s, math.inf)
    assert freshness.entitlements() is s and freshness.key == s.key
    del s
    gc.collect()
    assert freshness.entitlements() is None
