"""The HTTP/JSON API through a real sidecar: off by default, the committed OpenAPI
document, validation and its 400s, the deadline header, body limits, metrics.

Decisions and data are compared with gRPC in test_transport_parity.py; the status table
is unit-tested in tests/unit/adapters/test_http_api_unit.py.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from support.http_api import http_sidecar
from support.sidecar import base_env, metric, running_sidecar
from support.upstream import API_CALLS_V2, feature

OPENAPI = Path(__file__).parents[2] / "docs" / "openapi.json"
BOOLEAN = "/api/v1/entitlements/boolean"
METERED = "/api/v1/entitlements/metered"
USAGE = "/api/v1/usage"


@pytest.fixture
async def api(monkeypatch, emulator):
    emulator.set_customer("acme", [feature("sso"),
                                   feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2)])
    async with http_sidecar(monkeypatch, emulator) as pair:
        yield pair


async def test_the_api_is_off_by_default(monkeypatch, emulator):
    async with running_sidecar(monkeypatch, base_env(emulator.base_url)) as app:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}", trust_env=False) as http:
            assert (await http.post(BOOLEAN, json={"customerId": "acme", "featureId": "sso"})).status_code == 404
            assert (await http.get("/openapi.json")).status_code == 404
            assert (await http.get("/livez")).status_code == 200


async def test_the_served_openapi_document_is_the_committed_one(api):
    app, http = api
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(OPENAPI.read_text())


async def test_probes_still_answer_next_to_the_api(api):
    app, http = api
    assert (await http.get("/readyz")).json()["status"] == "UP"
    assert (await http.get("/metrics")).status_code == 200


async def test_a_check_answers_in_camel_case_with_graphql_names(api):
    app, http = api
    r = await http.post(METERED, json={"customerId": "acme", "featureId": "api-calls",
                                       "options": {"requestedUsage": 6}})
    assert r.status_code == 200
    body = r.json()
    assert (body["hasAccess"], body["isFallback"], body["accessDeniedReason"]) == (
        False, False, "RequestedUsageExceedingLimit")
    e = body["entitlement"]
    assert e["feature"] == {"id": "api-calls", "featureType": "NUMBER", "meterType": "Incremental",
                            "isMetered": True}
    assert (e["usageLimit"], e["currentUsage"], e["resetPeriod"]) == (100, 95, "MONTH")
    assert e["usagePeriodStart"] == "2025-07-01T00:00:00.000Z"


async def test_a_granted_answer_has_no_reason_field(api):
    app, http = api
    body = (await http.post(BOOLEAN, json={"customerId": "acme", "featureId": "sso"})).json()
    assert body["hasAccess"] is True and "accessDeniedReason" not in body


@pytest.mark.parametrize("path,body,field", [
    (BOOLEAN, {"customerId": "acme", "featureId": "sso", "featureID": "x"}, "featureID"),
    (BOOLEAN, {"customerId": 5, "featureId": "sso"}, "customerId"),
    (BOOLEAN, {"customerId": "acme", "featureId": "sso", "options": {"fallback": {"hasAccess": "yes"}}},
     "options.fallback.hasAccess"),
    (BOOLEAN, {"customerId": "acme", "featureId": "sso", "options": {"requestedUsage": 1}},
     "options.requestedUsage"),
    ("/api/v1/entitlements/numeric", {"featureId": "s", "options": {"fallback": {"value": 2 ** 31}}},
     "options.fallback.value"),
    (METERED, {"featureId": "a", "options": {"requestedUsage": True}}, "options.requestedUsage"),
    ("/api/v1/entitlements/enum", {"featureId": "r", "options": {"requestedValues": "eu"}},
     "options.requestedValues"),
    ("/api/v2/entitlements", {"customerId": ["acme"]}, "customerId"),
    (USAGE, {"customerId": "acme", "featureId": "api-calls", "value": 1, "updateBehavior": "ADD"},
     "updateBehavior"),
    (USAGE, {"customerId": "acme", "featureId": "api-calls", "value": "1"}, "value"),
    (USAGE, {"customerId": "acme", "featureId": "api-calls", "value": 1, "timestamp": "yesterday"},
     "timestamp"),
    (USAGE, {"customerId": "acme", "featureId": "api-calls", "value": 1,
             "timestamp": "2025-07-10T15:00:00"}, "timestamp"),
    (USAGE, {"customerId": "acme", "featureId": "api-calls", "value": 1, "dimensions": {"a": None}},
     "dimensions['a']"),
    ("/api/v1/usage/bulk", {"usages": [{"customerId": "acme", "featureId": "api-calls", "value": 1}, 3]},
     "usages[1]"),
    ("/api/v1/usage/bulk", {"usages": [{"customerId": "", "featureId": "api-calls", "value": 1}]},
     "usages[0].customerId"),
    ("/api/v1/events", {"events": [{"eventName": "e", "customerId": "acme"}]}, "events[0].idempotencyKey"),
])
async def test_invalid_requests_are_400_naming_the_field(api, path, body, field):
    app, http = api
    r = await http.post(path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["field"] == field
    assert error["message"].startswith(field + " ")


async def test_a_number_beyond_double_range_is_400(api):
    app, http = api
    raw = b'{"customerId": "acme", "featureId": "api-calls", "value": 1e400}'
    r = await http.post(USAGE, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "value"


@pytest.mark.parametrize("raw", [b"{", b"[1]", b'{"value": NaN}', b'"text"', b"\xff\xfe{"])
async def test_a_body_that_is_not_a_json_object_is_400(api, raw):
    app, http = api
    r = await http.post(USAGE, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"


async def test_an_empty_body_is_every_field_at_its_default(api, emulator):
    app, http = api
    emulator.reset_counters()
    r = await http.post("/api/v2/entitlements", content=b"")
    assert r.status_code == 200 and r.json() == {"entitlements": []}  # fallback list, no upstream call
    assert emulator.count(kind="edge") == 0
    r = await http.post(USAGE, content=b"")
    assert r.status_code == 400 and r.json()["error"]["field"] == "customerId"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "9" * 20])
async def test_an_invalid_timeout_header_is_400(api, value):
    app, http = api
    r = await http.post(BOOLEAN, json={"customerId": "acme", "featureId": "sso"},
                        headers={"X-Request-Timeout-Ms": value})
    assert r.status_code == 400 and r.json()["error"]["field"] == "X-Request-Timeout-Ms"


async def test_the_timeout_header_bounds_a_read_like_a_grpc_deadline(monkeypatch, emulator):
    async with http_sidecar(monkeypatch, emulator,
                            ENTITLEMENTS_FALLBACK='{"sso":{"hasAccess":true}}') as (app, http):
        emulator.set_fault("slow", delay_ms=3000)
        started = time.monotonic()
        r = await http.post(BOOLEAN, json={"customerId": "slowco", "featureId": "sso"},
                            headers={"X-Request-Timeout-Ms": "300"})
        elapsed = time.monotonic() - started
        assert r.status_code == 200 and r.json()["isFallback"] is True and r.json()["hasAccess"] is True
        assert elapsed < 0.3 + 0.5
        emulator.clear_faults()


async def test_a_write_upstream_rejects_maps_to_its_status(api, emulator):
    app, http = api
    r = await http.post(USAGE, json={"customerId": "ghost", "featureId": "api-calls", "value": 1})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    emulator.set_fault("unauthorized", target="graphql")
    r = await http.post(USAGE, json={"customerId": "acme", "featureId": "api-calls", "value": 1})
    assert r.status_code == 424 and r.json()["error"]["code"] == "FAILED_PRECONDITION"
    emulator.set_fault("status", target="graphql", status=429)
    r = await http.post(USAGE, json={"customerId": "acme", "featureId": "api-calls", "value": 1},
                        headers={"X-Request-Timeout-Ms": "500"})
    assert r.status_code in (429, 503) and r.json()["error"]["code"] in ("RESOURCE_EXHAUSTED", "UNAVAILABLE")


async def test_a_read_never_fails_because_upstream_failed(api, emulator):
    app, http = api
    emulator.set_fault("status", status=500)
    r = await http.post(METERED, json={"customerId": "newco", "featureId": "api-calls"},
                        headers={"X-Request-Timeout-Ms": "500"})
    assert r.status_code == 200 and r.json()["isFallback"] is True


async def test_a_body_over_16_mib_is_413(api):
    app, http = api
    huge = b'{"customerId": "' + b"a" * (16 * 1024 * 1024) + b'"}'
    r = await http.post(USAGE, content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "RESOURCE_EXHAUSTED"


async def test_a_large_bulk_within_the_limit_is_accepted(api, emulator):
    app, http = api
    events = [{"eventName": "export", "customerId": "acme", "idempotencyKey": f"k-{i}",
               "dimensions": {"pad": "x" * 1500}} for i in range(1000)]  # ~1.6 MB
    r = await http.post("/api/v1/events", json={"events": events})
    assert r.status_code == 200 and r.json() == {}
    assert len(emulator.events_received) == 1000


async def test_requests_are_counted_under_the_grpc_twins_name(api):
    app, http = api
    labels = {"rpc": "GetBooleanEntitlement", "code": "OK"}
    before = metric(app, "sidecar_rpc_duration_seconds_count", labels)
    await http.post(BOOLEAN, json={"customerId": "acme", "featureId": "sso"})
    assert metric(app, "sidecar_rpc_duration_seconds_count", labels) == before + 1
    await http.post(USAGE, json={"customerId": "", "featureId": "x", "value": 1})
    assert metric(app, "sidecar_rpc_duration_seconds_count",
                  {"rpc": "ReportUsage", "code": "INVALID_ARGUMENT"}) == 1



@pytest.mark.parametrize("value,enabled", [("true", True), ("1", True), ("FALSE", False), ("", False)])
def test_http_api_enabled_is_a_strict_boolean(monkeypatch, value, enabled):
    from bootstrap.settings import load_sidecar_settings

    for name, env_value in (base_env("http://127.0.0.1:9") | {"HTTP_API_ENABLED": value}).items():
        monkeypatch.setenv(name, env_value)
    settings, _, _ = load_sidecar_settings()
    assert settings.http_api_enabled is enabled


def test_an_invalid_http_api_enabled_stops_start_up_naming_it(monkeypatch):
    from bootstrap.settings import ConfigurationError, load_sidecar_settings

    for name, env_value in (base_env("http://127.0.0.1:9") | {"HTTP_API_ENABLED": "yes"}).items():
        monkeypatch.setenv(name, env_value)
    with pytest.raises(ConfigurationError) as raised:
        load_sidecar_settings()
    assert any(line.startswith("invalid configuration: HTTP_API_ENABLED:") for line in raised.value.lines)
