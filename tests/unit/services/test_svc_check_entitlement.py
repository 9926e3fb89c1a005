"""Single-entitlement use cases: typed, generic and V2 (decision-rules.md §8.2-§8.4, §8.8)."""
from __future__ import annotations

import asyncio

import pytest

from domain.model.answers import CreditAnswer, FeatureAnswer
from domain.model.budget import Budget
from domain.model.decide import FeatureQuery
from domain.model.entitlement import Usage
from domain.model.fallback import FallbackTable, FallbackValues
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import ResetPeriod
from domain.model.reports import UsageTarget
from domain.services.check_entitlement import CheckCredit, CheckEntitlement, CheckTypedEntitlement
from domain.services.check_entitlement_v2 import CheckEntitlementV2
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import ACME, boolean, credit, entitlement_set, metered
from tests.unit.services.timeouts import READ_TIMEOUT_S

V12_TABLE = FallbackTable({"exports": FallbackValues(has_access=True, usage_limit=500)})
GHOST = CustomerKey("ghost")


def flags(answer):
    return answer.has_access, answer.is_fallback, answer.reason


@pytest.fixture
def typed(read_context):
    return CheckTypedEntitlement(read_context)


@pytest.fixture
def v2(make_context):
    def build(fallbacks=FallbackTable({})):
        context = make_context(fallbacks)
        return CheckEntitlementV2(context, CheckEntitlement(context), CheckCredit(context))

    return build


# --- typed ------------------------------------------------------------------------------------

async def test_v1_second_identical_call_makes_no_upstream_request(typed, source, cache):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    for _ in range(2):
        answer = await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), None)
        assert flags(answer) == (True, False, None)
    assert len(source.calls) == 1


async def test_v6_rolled_over_usage_then_realtime_update(typed, source, cache):
    cache.set_live(True)
    source.serve(entitlement_set(metered(
        "messages", 10, 10, reset=ResetPeriod.WEEK, anchor="2025-05-14T08:00:00Z",
        start="2025-07-02T08:00:00Z", end="2025-07-09T08:00:00Z")))
    query = FeatureQuery("messages", requested_usage=5)
    answer = await typed.execute(K.METERED, ACME, query, None)
    assert flags(answer) == (True, False, None) and answer.data.usage.current_usage == 0
    stored = (await cache.get(ACME)).entitlements
    assert stored.feature("messages").usage.current_usage == 10
    await cache.set_usage(ACME, UsageTarget.FEATURE, "messages", Usage(
        3, ms("2025-07-09T08:00:00Z"), ms("2025-07-16T08:00:00Z"), ms("2025-07-10T15:29:00Z")))
    updated = await typed.execute(K.METERED, ACME, query, None)
    assert updated.data.usage.current_usage == 3 and updated.has_access
    assert len(source.calls) == 1


async def test_v11_customer_not_found_is_a_denial(typed, source):
    answer = await typed.execute(K.METERED, GHOST, FeatureQuery("api-calls", 2), None)
    assert flags(answer) == (False, False, R.CUSTOMER_NOT_FOUND)
    assert answer.requested_usage == 2 and answer.data.usage.current_usage == 0


async def test_v12_cold_cache_upstream_down(make_context, source, telemetry):
    typed = CheckTypedEntitlement(make_context(V12_TABLE))
    source.fail()
    answer = await typed.execute(K.METERED, CustomerKey("newco"),
                                 FeatureQuery("exports", requested_usage=2), None)
    assert flags(answer) == (True, True, None)
    assert answer.data.usage_limit == 500 and answer.requested_usage == 2
    other = await typed.execute(K.METERED, CustomerKey("newco"), FeatureQuery("reports"), None)
    assert flags(other) == (False, True, R.UNKNOWN) and other.data.usage_limit is None
    assert telemetry.upstream_errors == [False, False]
    assert telemetry.fallbacks == [("GetMeteredEntitlement", "granted"),
                                   ("GetMeteredEntitlement", "UNKNOWN")]


async def test_last_known_good_answer_is_not_a_fallback(typed, source, telemetry):
    source.serve(entitlement_set(metered("api-calls", 100, 40)))
    await typed.execute(K.METERED, ACME, FeatureQuery("api-calls"), None)
    source.fail()
    answer = await typed.execute(K.METERED, ACME, FeatureQuery("api-calls", 5), None)
    assert flags(answer) == (True, False, None)
    assert answer.data.usage.current_usage == 40
    assert telemetry.last_known_good_reads == 1 and telemetry.fallbacks == []


async def test_expired_entry_gives_a_fallback_when_the_refetch_fails(typed, source, clock):
    source.serve(entitlement_set(boolean("sso", valid_until=clock.now_ms() + 60_000)))
    assert (await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), None)).has_access
    clock.advance(60_000)
    source.fail()
    answer = await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), None)
    assert flags(answer) == (False, True, R.UNKNOWN)


@pytest.mark.parametrize(
    "fallback, expected, counted",
    [(None, (False, True, R.FEATURE_TYPE_MISMATCH), "FEATURE_TYPE_MISMATCH"),
     (FallbackValues(has_access=True), (True, True, None), "granted")],
    ids=["no-fallback", "granting-fallback"],
)
async def test_v10_type_mismatch_is_counted(typed, source, telemetry, fallback, expected, counted):
    source.serve(entitlement_set(metered("api-calls", 100, 95)))
    answer = await typed.execute(K.BOOLEAN, ACME, FeatureQuery("api-calls", fallback=fallback),
                                 None)
    assert flags(answer) == expected and answer.mismatched_kind is K.METERED
    assert telemetry.fallbacks == [("GetBooleanEntitlement", counted)]


@pytest.mark.parametrize(
    "key, feature_id, field",
    [(CustomerKey(""), "sso", "customer_id"), (ACME, "", "feature_id"),
     (CustomerKey("x" * 1025), "sso", "customer_id"), (CustomerKey("acme", "r" * 1025), "sso",
                                                       "resource_id")],
    ids=["empty-customer", "empty-feature", "long-customer", "long-resource"],
)
@pytest.mark.parametrize("kind", list(K), ids=lambda k: k.value)
async def test_typed_bad_input_is_a_fallback_without_fetch(typed, source, telemetry, key,
                                                           feature_id, field, kind):
    answer = await typed.execute(kind, key, FeatureQuery(feature_id), None)
    assert flags(answer) == (False, True, R.UNKNOWN) and answer.data.kind is kind
    assert source.calls == []
    assert telemetry.invalid_requests == [field]


async def test_typed_empty_customer_uses_the_global_entry(make_context, source):
    typed = CheckTypedEntitlement(make_context(V12_TABLE))
    answer = await typed.execute(K.METERED, CustomerKey(""), FeatureQuery("exports", 2), None)
    assert flags(answer) == (True, True, None) and answer.data.usage_limit == 500
    assert source.calls == []


async def test_empty_resource_id_is_the_global_customer(typed, source):
    source.serve(entitlement_set(boolean("sso")))
    answer = await typed.execute(K.BOOLEAN, CustomerKey.of("acme", ""), FeatureQuery("sso"), None)
    assert answer.has_access and source.keys_fetched == [ACME]


async def test_resource_entry_is_fetched_separately(typed, source):
    resource = CustomerKey("acme", "site-1")
    source.serve(entitlement_set(boolean("sso")), entitlement_set(key=resource))
    assert (await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), None)).has_access
    answer = await typed.execute(K.BOOLEAN, resource, FeatureQuery("sso"), None)
    assert flags(answer) == (False, False, R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION)
    assert source.keys_fetched == [ACME, resource]


@pytest.mark.parametrize(
    "deadline, expected",
    [(None, 1000.0 + READ_TIMEOUT_S), (Budget(1000.1), 1000.0 + READ_TIMEOUT_S),
     (Budget(5000.0), 1000.0 + READ_TIMEOUT_S)],
    ids=["configured", "caller-shorter", "caller-longer"],
)
async def test_shared_fetch_budget_is_the_configured_timeout_whatever_the_caller(
    typed, source, deadline, expected
):
    """A caller's short deadline only shortens its own wait (the fetch is shared)."""
    await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), deadline)
    assert source.calls[0].budget.deadline == pytest.approx(expected)


async def test_1000_concurrent_typed_checks_share_one_fetch(typed, source, telemetry):
    source.serve(entitlement_set(metered("api-calls", 100, 40)))
    gate = source.hold()
    checks = [asyncio.ensure_future(typed.execute(K.METERED, ACME, FeatureQuery("api-calls", 1),
                                                  None)) for _ in range(1000)]
    for _ in range(200_000):  # until every check has missed...
        if telemetry.cache_misses == 1000:
            break
        await asyncio.sleep(0)
    for _ in range(20):  # ...and its wait on the shared fetch has started
        await asyncio.sleep(0)
    gate.set()
    answers = await asyncio.gather(*checks)
    assert len(source.calls) == 1
    assert all(flags(a) == (True, False, None) for a in answers)


# --- generic GetEntitlement ---------------------------------------------------------------------

async def test_generic_absent_is_a_fallback_with_the_real_reason(read_context, source, telemetry):
    check = CheckEntitlement(read_context)
    answer = await check.execute(GHOST, FeatureQuery("sso"), None, rpc="GetEntitlement")
    assert flags(answer) == (False, True, R.CUSTOMER_NOT_FOUND)
    assert telemetry.fallbacks == [("GetEntitlement", "CUSTOMER_NOT_FOUND")]


async def test_generic_present_is_evaluated(read_context, source, telemetry):
    source.serve(entitlement_set(metered("api-calls", 100, 95)))
    check = CheckEntitlement(read_context)
    answer = await check.execute(ACME, FeatureQuery("api-calls", requested_values=("x",)), None,
                                 rpc="GetEntitlement")
    assert flags(answer) == (True, False, None) and answer.data.kind is K.METERED
    assert telemetry.fallbacks == []


async def test_generic_empty_customer_is_a_fallback_without_fetch(make_context, source, telemetry):
    check = CheckEntitlement(make_context(V12_TABLE))
    answer = await check.execute(CustomerKey(""), FeatureQuery("exports"), None,
                                 rpc="GetEntitlement")
    assert flags(answer) == (True, True, None) and answer.data.kind is K.METERED
    assert source.calls == [] and telemetry.invalid_requests == ["customer_id"]


async def test_generic_load_failure(read_context, source):
    source.fail()
    check = CheckEntitlement(read_context)
    answer = await check.execute(ACME, FeatureQuery("x", requested_usage=3), None,
                                 rpc="GetEntitlement")
    assert flags(answer) == (False, True, R.UNKNOWN)
    assert answer.data.kind is K.METERED and answer.requested_usage == 3


# --- GetEntitlementV2 ----------------------------------------------------------------------------

async def test_v2_feature_lookup(v2, source):
    source.serve(entitlement_set(boolean("sso")))
    answer = await v2().execute(ACME, FeatureQuery("sso"), "", None)
    assert isinstance(answer, FeatureAnswer) and flags(answer) == (True, False, None)


async def test_v2_feature_absent_is_a_fallback(v2, source, telemetry):
    source.serve(entitlement_set(boolean("other")))
    answer = await v2().execute(ACME, FeatureQuery("sso"), "", None)
    assert flags(answer) == (False, True, R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION)
    assert telemetry.fallbacks == [("GetEntitlementV2", "NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION")]


async def test_v2_credit_lookup(v2, source):
    source.serve(entitlement_set(credit("cred", 100, 130, soft=True)))
    answer = await v2().execute(ACME, FeatureQuery("", requested_usage=5), "cred", None)
    assert isinstance(answer, CreditAnswer)
    assert flags(answer) == (True, False, None) and answer.remaining == -30


@pytest.mark.parametrize(
    "reason, expected",
    [(None, R.ENTITLEMENT_NOT_FOUND), (R.CUSTOMER_NOT_FOUND, R.CUSTOMER_NOT_FOUND)],
)
async def test_v2_credit_absent_is_a_fallback(v2, source, reason, expected):
    source.serve(entitlement_set(reason=reason))
    answer = await v2().execute(ACME, FeatureQuery(""), "cred", None)
    assert isinstance(answer, CreditAnswer) and flags(answer) == (False, True, expected)


async def test_v2_credit_load_failure_uses_only_the_per_request_fallback(v2, source):
    source.fail()
    table = FallbackTable({"cred": FallbackValues(has_access=True)})
    plain = await v2(table).execute(ACME, FeatureQuery(""), "cred", None)
    assert isinstance(plain, CreditAnswer) and flags(plain) == (False, True, R.UNKNOWN)
    granted = await v2(table).execute(
        ACME, FeatureQuery("", fallback=FallbackValues(True, usage_limit=9)), "cred", None)
    assert flags(granted) == (True, True, None) and granted.remaining == 9


async def test_v2_credit_expiry(v2, source, clock):
    source.serve(entitlement_set(credit("cred", 100, 0, valid_until=clock.now_ms() + 10)))
    assert (await v2().execute(ACME, FeatureQuery(""), "cred", None)).has_access
    clock.advance(10)
    source.fail()
    answer = await v2().execute(ACME, FeatureQuery(""), "cred", None)
    assert flags(answer) == (False, True, R.UNKNOWN)


async def test_v2_both_ids_is_a_feature_fallback_without_fetch(v2, source, telemetry):
    answer = await v2(V12_TABLE).execute(ACME, FeatureQuery("exports"), "cred", None)
    assert isinstance(answer, FeatureAnswer)
    assert flags(answer) == (True, True, None) and answer.data.usage_limit == 500
    assert source.calls == []
    assert telemetry.invalid_requests == ["feature_id"]
    assert telemetry.fallbacks == [("GetEntitlementV2", "granted")]


async def test_v2_neither_id_is_a_boolean_fallback_without_fetch(v2, source, telemetry):
    answer = await v2().execute(ACME, FeatureQuery(""), "", None)
    assert isinstance(answer, FeatureAnswer)
    assert flags(answer) == (False, True, R.UNKNOWN) and answer.data.kind is K.BOOLEAN
    assert source.calls == []
    assert telemetry.invalid_requests == ["currency_id"]
    assert telemetry.fallbacks == [("GetEntitlementV2", "UNKNOWN")]


async def test_v2_neither_id_is_boolean_kind_even_with_options(v2, source):
    # decision-rules.md §8.4: "a boolean-kind feature fallback for feature id "" if neither
    # was given"; the reason is UNKNOWN unless the per-request fallback grants.
    denied = await v2().execute(ACME, FeatureQuery("", requested_usage=5), "", None)
    assert flags(denied) == (False, True, R.UNKNOWN) and denied.data.kind is K.BOOLEAN
    granted = await v2().execute(
        ACME, FeatureQuery("", fallback=FallbackValues(True, usage_limit=5)), "", None)
    assert flags(granted) == (True, True, None) and granted.data.kind is K.BOOLEAN
    assert source.calls == []


async def test_v2_empty_customer_is_a_fallback_without_fetch(v2, source, telemetry):
    feature = await v2().execute(CustomerKey(""), FeatureQuery("sso"), "", None)
    wallet = await v2().execute(CustomerKey(""), FeatureQuery(""), "cred", None)
    assert flags(feature) == (False, True, R.UNKNOWN)
    assert isinstance(wallet, CreditAnswer) and flags(wallet) == (False, True, R.UNKNOWN)
    assert source.calls == [] and telemetry.invalid_requests == ["customer_id", "customer_id"]
