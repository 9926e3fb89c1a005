"""Schema-driven property test of the HTTP/JSON API (schemathesis) against a running
sidecar: real processes (the emulator with the demo scenario, the sidecar with
``HTTP_API_ENABLED=true``), the committed document, which the sidecar serves.

For every operation, generated requests (valid ones, and schemathesis' coverage cases,
invalid ones included) must get no 5xx, a documented status and content type, and a
body that matches the documented schema. The upstream stays healthy, so a 5xx would be
a sidecar defect — with one legitimate exception kept out of generation: a write whose
caller deadline (``X-Request-Timeout-Ms``) is shorter than the upstream round trip
fails with 503, as documented; write deadlines are therefore raised to 2 s here (reads
keep any deadline: they never fail).
"""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from stigg_emulator import DEMO_SCENARIO

from support.processes import start_emulator, start_sidecar

pytestmark = pytest.mark.slow

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
API_KEY = "schemathesis-key"
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
WRITES = {"/api/v1/usage", "/api/v1/usage/bulk", "/api/v1/events"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def base_url():
    emulator, upstream = start_emulator(API_KEY, Path(DEMO_SCENARIO))
    try:
        sidecar, ready = start_sidecar({
            "SERVER_API_KEY": API_KEY, "API_URL": upstream, "EDGE_API_URL": upstream,
            "WS_ENABLED": "false", "PORT": "0", "HTTP_PORT": "0", "BIND_ADDRESS": "127.0.0.1",
            "HTTP_API_ENABLED": "true", "ENTITLEMENTS_TIMEOUT_MS": "2000", "LOG_LEVEL": "info",
            "ENTITLEMENTS_FALLBACK": '{"sso":{"hasAccess":true},"seats":{"hasAccess":true,"value":3}}',
        })
        try:
            url = f"http://127.0.0.1:{ready['http_port']}"
            served = httpx.get(f"{url}/openapi.json", timeout=5).json()
            assert served == json.loads(COMMITTED.read_text())
            yield url
        finally:
            assert sidecar.stop() == 0, "".join(sidecar.lines)[-3000:]
    finally:
        emulator.stop()


#: The committed document; the fixture checks the sidecar serves exactly it. (Loaded
#: here, not through ``schemathesis.pytest.from_fixture``, whose lazy loader needs a
#: pytest attribute that pytest 9 removed.)
schema = schemathesis.openapi.from_path(str(COMMITTED))


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(case, base_url):
    if case.path in WRITES and case.headers and TIMEOUT_HEADER in case.headers:
        value = str(case.headers[TIMEOUT_HEADER])
        if value.isdigit() and int(value) < 2000:
            case.headers[TIMEOUT_HEADER] = "2000"
    response = case.call(base_url=base_url, timeout=15)
    case.validate_response(response, checks=CHECKS)
