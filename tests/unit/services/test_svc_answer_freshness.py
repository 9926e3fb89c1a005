"""Read use cases hand out a freshness only for reusable answers, and ``still_current``
says no as soon as anything but the passing of time could change the answer."""
from __future__ import annotations

import math

import pytest

from domain.model.decide import FeatureQuery
from domain.model.entitlement import Usage
from domain.model.fallback import FallbackTable, FallbackValues
from domain.model.freshness import UNCHANGED
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind as K
from domain.model.reports import UsageTarget
from domain.services.check_entitlement import CheckCredit, CheckEntitlement, CheckTypedEntitlement
from domain.services.check_entitlement_v2 import CheckEntitlementV2
from domain.services.get_entitlements_state import GetEntitlementsState
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import ACME, boolean, credit, entitlement_set, metered

END = "2025-07-31T23:59:59Z"


@pytest.fixture
def typed(read_context):
    return CheckTypedEntitlement(read_context)


async def warm(typed, cache, source, *entitlements):
    cache.set_live(True)
    source.serve(entitlement_set(*entitlements))
    await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)  # fills the cache


async def test_a_trusted_hit_has_a_freshness_that_stays_current_and_counts_hits(
        typed, cache, source, telemetry):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    answer, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    assert answer.has_access and freshness is not None
    assert freshness.until_ms == ms(END) + 1
    hits = telemetry.cache_hits
    assert typed.still_current(freshness) and typed.still_current(freshness)
    assert telemetry.cache_hits == hits + 2


async def test_a_live_fetch_a_fallback_or_a_type_mismatch_has_none(typed, cache, source):
    cache.set_live(True)
    source.serve(entitlement_set(metered("api-calls", 10)))
    _, live = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    _, mismatch = await typed.answer(K.BOOLEAN, ACME, FeatureQuery("api-calls"), None)
    _, invalid = await typed.answer(K.METERED, CustomerKey(""), FeatureQuery("api-calls"), None)
    assert live is None and mismatch is None and invalid is None


async def test_a_usage_update_a_new_set_or_lost_trust_ends_it(typed, cache, source, clock):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    _, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(4, None, ms(END), 5))
    assert not typed.still_current(freshness)

    _, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    await cache.apply_update(entitlement_set(metered("api-calls", 20, 4, end=END), timestamp=9))
    assert not typed.still_current(freshness)

    _, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    cache.set_live(False)
    assert not typed.still_current(freshness)


async def test_time_ends_it_at_its_bound(typed, cache, source, clock):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    _, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    clock.set(ms(END))
    assert typed.still_current(freshness)  # rollover only once period_end < now
    clock.set(ms(END) + 1)
    assert not typed.still_current(freshness)


async def test_a_purged_entry_ends_it(typed, cache, source):
    await warm(typed, cache, source, metered("api-calls", 10))
    _, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    await cache.purge(ACME)
    assert not typed.still_current(freshness)


async def test_generic_v2_credit_and_state_answers_carry_their_own_bounds(
        read_context, typed, cache, source):
    await warm(typed, cache, source, metered("api-calls", 10, end=END),
               boolean("sso", valid_until="2025-07-20T00:00:00Z"),
               credit("cred", 100, valid_until="2025-08-02T00:00:00Z"))
    generic = CheckEntitlement(read_context)
    v2 = CheckEntitlementV2(read_context, generic, CheckCredit(read_context))
    _, by_generic = await generic.answer(ACME, FeatureQuery("sso"), None, rpc="GetEntitlement")
    _, by_credit = await v2.answer(ACME, FeatureQuery(""), "cred", None)
    _, by_state = await GetEntitlementsState(read_context).answer(ACME, None, rpc="GetEntitlements")
    assert by_generic.until_ms == ms("2025-07-20T00:00:00Z")
    assert by_credit.until_ms == ms("2025-08-02T00:00:00Z")
    assert by_state.until_ms == ms("2025-07-20T00:00:00Z")
    _, neither = await v2.answer(ACME, FeatureQuery(""), "", None)
    assert neither is None


async def test_a_denial_for_an_absent_feature_is_reusable_without_a_time_bound(
        make_context, cache, source):
    typed = CheckTypedEntitlement(make_context(FallbackTable({"x": FallbackValues(has_access=True)})))
    await warm(typed, cache, source, boolean("sso"))
    answer, freshness = await typed.answer(K.BOOLEAN, ACME, FeatureQuery("absent"), None)
    assert not answer.has_access and not answer.is_fallback
    assert freshness is not None and freshness.until_ms == math.inf


# --- ``known``: the caller's previous answer to the same request, after a read ---

async def test_known_answers_unchanged_after_a_read_of_the_same_set(typed, cache, source, telemetry):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    first, known = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    hits = telemetry.cache_hits
    again, freshness = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None, known)
    assert again is UNCHANGED and freshness is known
    assert telemetry.cache_hits == hits + 1  # the read was made and counted


async def test_known_is_ignored_once_the_set_or_the_time_changed(typed, cache, source, clock):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    _, known = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(4, None, ms(END), 5))
    changed, _ = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None, known)
    assert changed is not UNCHANGED and changed.data.usage.current_usage == 4

    _, known = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    clock.set(ms(END) + 1)
    rolled, _ = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None, known)
    assert rolled is not UNCHANGED and rolled.data.usage.current_usage == 0


async def test_known_never_stands_in_for_a_fallback_or_a_live_fetch(typed, cache, source):
    await warm(typed, cache, source, metered("api-calls", 10, 3, end=END))
    _, known = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None)
    invalid, _ = await typed.answer(K.METERED, CustomerKey(""), FeatureQuery("api-calls"), None,
                                    known)
    assert invalid is not UNCHANGED and invalid.is_fallback
    cache.set_live(False)  # untrusted: the next read is a live fetch of a new set
    fetched, _ = await typed.answer(K.METERED, ACME, FeatureQuery("api-calls"), None, known)
    assert fetched is not UNCHANGED and fetched.has_access


async def test_generic_v2_credit_and_state_take_known_too(read_context, typed, cache, source):
    await warm(typed, cache, source, metered("api-calls", 10, end=END), boolean("sso"),
               credit("cred", 100, valid_until="2025-08-02T00:00:00Z"))
    generic = CheckEntitlement(read_context)
    v2 = CheckEntitlementV2(read_context, generic, CheckCredit(read_context))
    state = GetEntitlementsState(read_context)
    _, g = await generic.answer(ACME, FeatureQuery("sso"), None, rpc="GetEntitlement")
    _, c = await v2.answer(ACME, FeatureQuery(""), "cred", None)
    _, f = await v2.answer(ACME, FeatureQuery("sso"), "", None)
    _, s = await state.answer(ACME, None, rpc="GetEntitlementsStateV2")
    assert (await generic.answer(ACME, FeatureQuery("sso"), None, rpc="GetEntitlement",
                                 known=g))[0] is UNCHANGED
    assert (await v2.answer(ACME, FeatureQuery(""), "cred", None, c))[0] is UNCHANGED
    assert (await v2.answer(ACME, FeatureQuery("sso"), "", None, f))[0] is UNCHANGED
    assert (await state.answer(ACME, None, rpc="GetEntitlementsStateV2", known=s))[0] is UNCHANGED


def test_with_known_the_input_checks_are_not_run_again(read_context, telemetry):
    """``known`` stands for an earlier answer to this very request, which had a
    freshness, so it was no fallback and its ids passed the checks (read_context)."""
    key = CustomerKey("acme")
    fresh = type("Known", (), {"key": key})()
    assert read_context.input_problem("GetMeteredEntitlement", key, fresh, feature_id="") is None
    assert telemetry.invalid_requests == []
    # A known of another customer is no proof: the checks run (and find the empty id).
    other = type("Known", (), {"key": CustomerKey("other")})()
    problem = read_context.input_problem("GetMeteredEntitlement", key, other, feature_id="")
    assert problem is not None and problem.startswith("feature_id")
    assert telemetry.invalid_requests == ["feature_id"]
