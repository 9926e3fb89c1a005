"""The HTTP/JSON edge in isolation: the status table, the error body, the refusals the
edge decides itself (not serving, bugs), the deadline header and the JSON conventions."""
from __future__ import annotations

import types

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.inbound.error_policy import FailureKind
from adapters.inbound.http.api_app import DEADLINE_MARGIN_S, HttpApi
from adapters.inbound.http.errors import HTTP_STATUS, camel_field, error_reply
from adapters.inbound.http.json_fields import iso_utc
from domain.model.errors import InvalidRequestError
from ports.errors import (
    PartialWriteError,
    UpstreamAuthError,
    UpstreamInvalidInputError,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from tests.fakes import FixedClock, epoch_ms


@pytest.mark.parametrize("error,status,code", [
    (InvalidRequestError("usages[2].feature_id", "must not be empty"), 400, "INVALID_ARGUMENT"),
    (UpstreamInvalidInputError("bad input"), 400, "INVALID_ARGUMENT"),
    (UpstreamNotFoundError("no such customer"), 404, "NOT_FOUND"),
    (UpstreamAuthError("key rejected"), 424, "FAILED_PRECONDITION"),
    (UpstreamRateLimitedError("slow down"), 429, "RESOURCE_EXHAUSTED"),
    (UpstreamUnavailableError("timed out"), 503, "UNAVAILABLE"),
    (UpstreamRejectedError("odd"), 502, "UNKNOWN"),
])
def test_the_status_table(error, status, code):
    got_status, body = error_reply("ReportUsage", error)
    assert (got_status, body["error"]["code"]) == (status, code)


def test_every_failure_kind_has_a_status():
    assert set(HTTP_STATUS) == set(FailureKind)


def test_an_invalid_field_is_named_in_camel_case():
    status, body = error_reply("ReportUsageBulk", InvalidRequestError("usages[2].feature_id", "must not be empty"))
    assert body == {"error": {"code": "INVALID_ARGUMENT", "field": "usages[2].featureId",
                              "message": "usages[2].featureId must not be empty"}}


def test_a_partial_write_says_how_many_were_recorded():
    error = PartialWriteError("ReportUsageBulk", 100, 250, UpstreamUnavailableError("down"))
    status, body = error_reply("ReportUsageBulk", error)
    assert status == 503 and body["error"]["recordedCount"] == 100
    assert body["error"]["message"].startswith("ReportUsageBulk: 100 of 250 usages recorded")


def test_a_bug_is_not_classified():
    assert error_reply("ReportUsage", RuntimeError("bug")) is None


@pytest.mark.parametrize("field,camel", [
    ("customer_id", "customerId"), ("events[0].idempotency_key", "events[0].idempotencyKey"),
    ("dimensions['my_key'].number_value", "dimensions['my_key'].numberValue"),
    ("X-Request-Timeout-Ms", "X-Request-Timeout-Ms"), ("body", "body"),
])
def test_camel_field(field, camel):
    assert camel_field(field) == camel


@pytest.mark.parametrize("iso", ["2025-07-01T00:00:00.000Z", "0999-01-02T03:04:05.678Z",
                                 "1969-12-31T23:59:59.999Z"])
def test_times_are_iso_utc_with_milliseconds(iso):
    assert iso_utc(epoch_ms(iso)) == iso


class Exploding:
    async def execute(self, *args, **kwargs):
        raise RuntimeError("a bug")


def use_cases(**overrides):
    names = ("typed", "generic", "v2", "state", "reload", "usage", "events")
    return types.SimpleNamespace(**{n: overrides.get(n, Exploding()) for n in names})


async def client_for(api: HttpApi, accepting=lambda: True) -> TestClient:
    app = web.Application()
    app.router.add_routes(api.routes(accepting))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_not_serving_answers_503_before_any_use_case():
    calls = []
    api = HttpApi(use_cases(), FixedClock(), on_rpc=lambda *a: calls.append(a))
    client = await client_for(api, accepting=lambda: False)
    try:
        r = await client.post("/api/v1/entitlements/boolean", json={"customerId": "acme"})
        assert r.status == 503 and (await r.json())["error"]["code"] == "UNAVAILABLE"
    finally:
        await client.close()


async def test_a_bug_answers_500_with_a_generic_message(caplog):
    recorded = []
    api = HttpApi(use_cases(), FixedClock(), on_rpc=lambda rpc, code, s: recorded.append((rpc, code)))
    client = await client_for(api)
    try:
        r = await client.post("/api/v1/entitlements/boolean", json={"customerId": "acme", "featureId": "sso"})
        body = await r.json()
    finally:
        await client.close()
    assert r.status == 500
    assert body == {"error": {"code": "INTERNAL", "message": "internal error in the sidecar; see its log"}}
    assert "a bug" not in str(body)
    assert recorded == [("GetBooleanEntitlement", "INTERNAL")]
    assert any(rec.getMessage() == "unhandled error" for rec in caplog.records)


def test_the_timeout_header_is_a_budget_less_the_margin():
    clock = FixedClock(monotonic=50.0)
    api = HttpApi(use_cases(), clock)
    assert api.deadline({}) is None
    assert api.deadline({"X-Request-Timeout-Ms": "250"}).deadline == pytest.approx(50.25 - DEADLINE_MARGIN_S)
    with pytest.raises(InvalidRequestError):
        api.deadline({"X-Request-Timeout-Ms": "0"})
