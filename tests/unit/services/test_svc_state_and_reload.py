"""Bulk reads (decision-rules.md §8.5, §9.5) and ReloadEntitlements (§8.6)."""
from __future__ import annotations

import pytest

from domain.model.answers import CreditAnswer
from domain.model.budget import Budget
from domain.model.decide import FeatureQuery
from domain.model.fallback import FallbackTable, FallbackValues
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import ResetPeriod
from domain.services.check_entitlement import CheckTypedEntitlement
from domain.services.get_entitlements_state import GetEntitlementsState
from domain.services.reload_entitlements import ReloadEntitlements
from adapters.outbound.memory_cache import MemoryEntitlementCache
from ports.errors import CacheUnavailableError, UpstreamAuthError, UpstreamUnavailableError
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import ACME, boolean, credit, entitlement_set, enum, metered, numeric
from tests.unit.services.timeouts import READ_TIMEOUT_S

V14_TABLE = FallbackTable(
    {
        "seats": FallbackValues(has_access=True, value=10),
        "exports": FallbackValues(has_access=True, usage_limit=500),
        "beta-ui": FallbackValues(has_access=False),
        "region": FallbackValues(has_access=True, enum_values=("eu",)),
    }
)
RPC = "GetEntitlementsStateV2"


@pytest.fixture
def state(make_context):
    def build(fallbacks=FallbackTable({})):
        return GetEntitlementsState(make_context(fallbacks))

    return build


@pytest.fixture
def reload(read_context, cache, source, telemetry):
    return ReloadEntitlements(read_context, cache, source, telemetry)


def ids_of(answer):
    return [i.currency.currency_id if isinstance(i, CreditAnswer) else i.data.feature.id
            for i in answer.items]


# --- bulk reads -------------------------------------------------------------------------------------

async def test_bulk_items_in_upstream_order_with_credits(state, source):
    source.serve(entitlement_set(metered("b", 10, 3), boolean("a"), numeric("c", 2),
                                 enum("d", ("x",)), credit("cred", 5, 1)))
    answer = await state().execute(ACME, None, rpc=RPC)
    assert ids_of(answer) == ["b", "a", "c", "d", "cred"]
    assert answer.reason is None and answer.is_fallback is False
    assert all(i.is_fallback is False and i.has_access for i in answer.items)


async def test_v6_bulk_read_shows_rolled_over_values(state, source):
    source.serve(entitlement_set(metered(
        "messages", 10, 10, reset=ResetPeriod.WEEK, anchor="2025-05-14T08:00:00Z",
        start="2025-07-02T08:00:00Z", end="2025-07-09T08:00:00Z")))
    (item,) = (await state().execute(ACME, None, rpc=RPC)).items
    assert item.has_access and item.data.usage.current_usage == 0
    assert item.data.usage.period_start_ms == ms("2025-07-09T08:00:00Z")
    assert item.data.usage.period_end_ms == ms("2025-07-16T08:00:00Z")


async def test_v11_bulk_customer_not_found(state):
    answer = await state().execute(CustomerKey("ghost"), None, rpc=RPC)
    assert answer.items == () and answer.reason is R.CUSTOMER_NOT_FOUND
    assert answer.is_fallback is False


async def test_v14_bulk_load_failure_gives_the_fallback_list(state, source, telemetry):
    source.fail()
    answer = await state(V14_TABLE).execute(CustomerKey("newco"), None, rpc=RPC)
    assert answer.reason is None and answer.is_fallback is True
    assert ids_of(answer) == ["seats", "exports", "beta-ui", "region"]
    assert [i.data.kind for i in answer.items] == [K.NUMERIC, K.METERED, K.BOOLEAN, K.ENUM]
    assert [(i.has_access, i.reason) for i in answer.items] == [
        (True, None), (True, None), (False, R.UNKNOWN), (True, None)]
    assert telemetry.upstream_errors == [False]
    assert len(telemetry.fallbacks) == 1 and telemetry.fallbacks[0][0] == RPC


async def test_v14_bulk_empty_customer_makes_no_request(state, source, telemetry):
    answer = await state(V14_TABLE).execute(CustomerKey(""), None, rpc=RPC)
    assert ids_of(answer) == ["seats", "exports", "beta-ui", "region"]
    assert source.calls == [] and telemetry.invalid_requests == ["customer_id"]


async def test_bulk_failure_without_configuration_is_an_empty_list(state, source):
    source.fail()
    answer = await state().execute(ACME, None, rpc="GetEntitlements")
    assert answer.items == () and answer.reason is None


async def test_bulk_last_known_good(state, source, telemetry):
    source.serve(entitlement_set(boolean("sso")))
    await state().execute(ACME, None, rpc=RPC)
    source.fail()
    answer = await state().execute(ACME, None, rpc=RPC)
    assert ids_of(answer) == ["sso"] and answer.is_fallback is False
    assert telemetry.last_known_good_reads == 1


async def test_bulk_never_uses_an_entry_with_any_expired_entitlement(state, source, clock):
    source.serve(entitlement_set(boolean("sso"), boolean("beta", valid_until=clock.now_ms() + 5)))
    await state(V14_TABLE).execute(ACME, None, rpc=RPC)
    clock.advance(5)
    source.fail()
    answer = await state(V14_TABLE).execute(ACME, None, rpc=RPC)
    assert answer.is_fallback is True and ids_of(answer) == ["seats", "exports", "beta-ui",
                                                             "region"]


# --- ReloadEntitlements -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "reason, exists",
    [(None, True), (R.NO_ACTIVE_SUBSCRIPTION, True), (R.CUSTOMER_IS_ARCHIVED, True),
     (R.CUSTOMER_NOT_FOUND, False)],
    ids=["no-reason", "no-subscription", "archived", "not-found"],
)
async def test_reload_entitled_entity_exists(reload, source, reason, exists):
    source.serve(entitlement_set(reason=reason))
    assert await reload.execute(ACME, None) is exists
    assert [(c.key, c.consistent) for c in source.calls] == [(ACME, True)]


async def test_v11_reload_unknown_customer(reload, source):
    assert await reload.execute(CustomerKey("ghost"), None) is False
    assert source.calls[0].consistent is True


@pytest.mark.parametrize(
    "error, auth", [(UpstreamUnavailableError("503"), False), (UpstreamAuthError("401"), True)],
    ids=["unavailable", "auth"],
)
async def test_reload_failure_is_false(reload, source, telemetry, cache, error, auth):
    source.fail(error)
    assert await reload.execute(ACME, None) is False
    assert telemetry.upstream_errors == [auth] and await cache.get(ACME) is None


@pytest.mark.parametrize(
    "key", [CustomerKey(""), CustomerKey("x" * 1025), CustomerKey("acme", "r" * 1025)],
    ids=["empty", "long-customer", "long-resource"],
)
async def test_reload_bad_customer_is_false_without_fetch(reload, source, key):
    assert await reload.execute(key, None) is False
    assert source.calls == []


async def test_reload_writes_the_cache(reload, source, cache, read_context):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    assert await reload.execute(ACME, None) is True
    entry = await cache.get(ACME)
    assert entry.trusted is True and entry.entitlements.feature("sso") is not None
    typed = CheckTypedEntitlement(read_context)
    assert (await typed.execute(K.BOOLEAN, ACME, FeatureQuery("sso"), None)).has_access
    assert len(source.calls) == 1


async def test_reload_follows_the_ordering_rule(reload, source, cache):
    await cache.apply_update(entitlement_set(metered("m", 50), timestamp=2_000))
    source.serve(entitlement_set(metered("m", 10), timestamp=1_000))
    assert await reload.execute(ACME, None) is True
    assert (await cache.get(ACME)).entitlements.feature("m").usage_limit == 50


async def test_reload_of_a_resource_fetches_that_resource(reload, source):
    resource = CustomerKey("acme", "site-1")
    await reload.execute(resource, None)
    assert source.keys_fetched == [resource]


@pytest.mark.parametrize(
    "deadline, expected",
    [(None, 1000.0 + READ_TIMEOUT_S), (Budget(1000.05), 1000.05)],
    ids=["configured", "caller-shorter"],
)
async def test_reload_budget(reload, source, deadline, expected):
    await reload.execute(ACME, deadline)
    assert source.calls[0].budget.deadline == pytest.approx(expected)


class UnwritableCache(MemoryEntitlementCache):
    async def put(self, entitlements, token):
        raise CacheUnavailableError("cache down")


async def test_reload_answers_even_when_the_cache_write_fails(read_context, source, telemetry):
    reload = ReloadEntitlements(read_context, UnwritableCache(max_bytes=1 << 20), source,
                                telemetry)
    source.serve(entitlement_set(boolean("sso")))
    assert await reload.execute(ACME, None) is True
