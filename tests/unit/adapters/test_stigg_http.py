"""Budgeted retries and error classification (upstream-api.md §6, §7), over httpx.MockTransport."""
from __future__ import annotations

import gzip
import json
from typing import Any, Callable

import httpx
import pytest

from adapters.outbound.stigg_http import RetryPolicy, StiggHttp, error_type, first_graphql_error
from domain.model.budget import Budget
from ports.clock import Clock
from ports.errors import (
    UpstreamAuthError, UpstreamError, UpstreamInvalidInputError, UpstreamNotFoundError,
    UpstreamRateLimitedError, UpstreamRejectedError, UpstreamUnavailableError,
)

API_KEY = "server-key-SECRET"
URL = "http://stigg.test/graphql"


class FakeTime(Clock):
    """Monotonic time that moves only when the code under test sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return 1_752_161_400_000

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MaxJitter:
    """``uniform(a, b)`` that returns ``b`` and records the caps asked for."""

    def __init__(self) -> None:
        self.caps: list[float] = []

    def __call__(self, low: float, high: float) -> float:
        assert low == 0.0
        self.caps.append(high)
        return high


def ok(data: Any = None) -> httpx.Response:
    return httpx.Response(200, json={"data": data if data is not None else {"x": 1}})


def gql_error(code: str | None, message: str = "boom", trace: str | None = "t-1", status: int = 200) -> httpx.Response:
    ext: dict[str, Any] = {}
    if code:
        ext["code"] = code
    if trace:
        ext["traceId"] = trace
    return httpx.Response(status, json={"data": None, "errors": [{"message": message, "extensions": ext},
                                                                   {"message": "second", "extensions": {"code": "Other"}}]})


class Upstream:
    """Answers from a script; each entry is a Response, an exception, or a callable(request)."""

    def __init__(self, *script: Any, time: FakeTime | None = None) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step(request) if callable(step) else step


def make(upstream: Upstream, time: FakeTime, jitter: Callable[[float, float], float] | None = None) -> StiggHttp:
    transport = httpx.MockTransport(upstream.handler)
    return StiggHttp(transport, api_key=API_KEY, instance_id="inst-1", user_agent="stigg-sidecar-py/test",
                     clock=time, sleep=time.sleep, uniform=jitter or MaxJitter())


async def call(http: StiggHttp, time: FakeTime, seconds: float = 10.0) -> Any:
    return await http.graphql(URL, "query Q { a }", "Q", {"v": 1}, Budget.starting(time.now, seconds))


@pytest.mark.parametrize("status,code,expected", [
    (None, "Unauthenticated", UpstreamAuthError),
    (None, "IdentityForbidden", UpstreamAuthError),
    (None, "ApiKeyNotFound", UpstreamAuthError),
    (401, None, UpstreamAuthError),
    (403, None, UpstreamAuthError),
    (429, None, UpstreamRateLimitedError),
    (None, "RateLimitExceeded", UpstreamRateLimitedError),
    (500, None, UpstreamUnavailableError),
    (502, None, UpstreamUnavailableError),
    (503, None, UpstreamUnavailableError),
    (504, None, UpstreamUnavailableError),
    (None, "OperationTimeout", UpstreamUnavailableError),
    (None, "CustomerNotFound", UpstreamNotFoundError),
    (None, "CustomerResourceNotFound", UpstreamNotFoundError),
    (None, "FeatureNotFound", UpstreamNotFoundError),
    (None, "PlanNotFound", UpstreamNotFoundError),
    (None, "BadUserInput", UpstreamInvalidInputError),
    (None, "InvalidArgumentError", UpstreamInvalidInputError),
    (None, "CannotReportUsageForEntitlementWithMeterError", UpstreamInvalidInputError),
    (None, "MeteringNotAvailableForFeatureType", UpstreamInvalidInputError),
    (None, "UsageMeasurementDiffOutOfRangeError", UpstreamInvalidInputError),
    (None, "EntitlementUsageOutOfRangeError", UpstreamInvalidInputError),
    (None, "GRAPHQL_VALIDATION_FAILED", UpstreamInvalidInputError),
    (None, "BAD_USER_INPUT", UpstreamInvalidInputError),
    (400, None, UpstreamInvalidInputError),
    (400, "CustomerNotFound", UpstreamNotFoundError),
    (400, "Unauthenticated", UpstreamAuthError),
    (404, None, UpstreamRejectedError),
    (409, None, UpstreamRejectedError),
    (None, "SomethingElse", UpstreamRejectedError),
    (None, None, UpstreamRejectedError),
])
def test_error_classification(status: int | None, code: str | None, expected: type) -> None:
    assert error_type(status, code) is expected


def test_first_graphql_error_carries_message_code_and_trace_id_of_the_first() -> None:
    body = {"errors": [{"message": "m1", "extensions": {"code": "C1", "traceId": "t1"}},
                       {"message": "m2", "extensions": {"code": "C2", "traceId": "t2"}}]}
    assert first_graphql_error(body) == ("m1", "C1", "t1")
    assert first_graphql_error({"errors": [{}]}) == ("GraphQL error", None, None)
    assert first_graphql_error({"errors": []}) is None
    assert first_graphql_error(None) is None


def test_backoff_caps_double_from_250_ms_up_to_2_s() -> None:
    assert [RetryPolicy().backoff_cap_s(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


async def test_sends_the_headers_and_body() -> None:
    time, upstream = FakeTime(), Upstream(ok({"a": 1}))
    assert await call(make(upstream, time), time) == {"a": 1}
    (request,) = upstream.requests
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.headers["X-API-VERSION"] == "1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-graphql-operation-name"] == "Q"
    assert request.headers["User-Agent"] == "stigg-sidecar-py/test"
    assert request.headers["X-SDK-INSTANCE-ID"] == "inst-1"
    assert json.loads(request.content) == {"query": "query Q { a }", "operationName": "Q", "variables": {"v": 1}}


class ClosingStream(httpx.AsyncByteStream):
    """A response body in chunks that records whether it was closed."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks, self.closed = chunks, False

    async def __aiter__(self):  # type: ignore[override]
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def test_does_what_the_httpx_client_did_for_each_request() -> None:
    """StiggHttp calls the transport itself (no httpx.AsyncClient): the timeout extension
    is the remaining budget, the client's default Accept headers are sent, a gzip body is
    decoded, a streamed body is read whole and the response is closed."""
    body = gzip.compress(json.dumps({"data": {"a": 1}}).encode())
    stream = ClosingStream(body[:10], body[10:])
    time = FakeTime()
    upstream = Upstream(lambda request: httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=stream))
    http = make(upstream, time)
    assert await http.get("http://edge.test/x", "Edge", Budget.starting(time.now, 3.5)) == {"a": 1}
    (request,) = upstream.requests
    assert request.extensions["timeout"] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    assert request.headers["Accept"] == "*/*"
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
    assert stream.closed


async def test_a_body_that_is_not_json_is_classified_by_its_status() -> None:
    time = FakeTime()
    upstream = Upstream(httpx.Response(200, content=b"\xef\xbb\xbf{\"data\": {\"bom\": true}}"),
                        httpx.Response(404, content=b"<html>not found</html>"))
    http = make(upstream, time)
    # A UTF-8 BOM is accepted as json.loads accepts it (fast_json falls back to it).
    assert await http.get("http://edge.test/x", "Edge", Budget.starting(time.now, 5)) == {"bom": True}
    with pytest.raises(UpstreamRejectedError, match="HTTP 404"):
        await http.get("http://edge.test/x", "Edge", Budget.starting(time.now, 5))


async def test_a_body_nested_too_deeply_is_a_malformed_response_not_a_crash() -> None:
    time = FakeTime()
    deep = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    http = make(Upstream(httpx.Response(200, content=deep)), time)
    with pytest.raises(UpstreamRejectedError, match="malformed response"):
        await http.get("http://edge.test/x", "Edge", Budget.starting(time.now, 5))


async def test_get_sends_no_graphql_headers() -> None:
    time, upstream = FakeTime(), Upstream(ok())
    await make(upstream, time).get("http://edge.test/x", "Edge", Budget.starting(time.now, 5), {"resourceId": "r"})
    (request,) = upstream.requests
    assert request.method == "GET" and request.url.params["resourceId"] == "r"
    assert "x-graphql-operation-name" not in request.headers
    assert request.headers["X-API-KEY"] == API_KEY and request.headers["X-API-VERSION"] == "1"


@pytest.mark.parametrize("failure", [
    httpx.Response(503), httpx.Response(502), httpx.Response(504), httpx.Response(429),
    gql_error("RateLimitExceeded"), httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
    httpx.RemoteProtocolError("reset"),
])
async def test_retryable_failures_are_retried_then_succeed(failure: Any) -> None:
    time, upstream, jitter = FakeTime(), Upstream(failure, failure, ok()), MaxJitter()
    assert await call(make(upstream, time, jitter), time) == {"x": 1}
    assert len(upstream.requests) == 3
    assert jitter.caps == [0.25, 0.5] and time.sleeps == [0.25, 0.5]


@pytest.mark.parametrize("failure,expected", [
    (httpx.Response(503), UpstreamUnavailableError),
    (httpx.Response(429), UpstreamRateLimitedError),
    (gql_error("RateLimitExceeded"), UpstreamRateLimitedError),
    (httpx.ConnectError("refused"), UpstreamUnavailableError),
])
async def test_at_most_four_attempts(failure: Any, expected: type) -> None:
    time, upstream, jitter = FakeTime(), Upstream(failure), MaxJitter()
    with pytest.raises(expected):
        await call(make(upstream, time, jitter), time)
    assert len(upstream.requests) == 4
    assert time.sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("failure,expected", [
    (httpx.Response(400), UpstreamInvalidInputError),
    (httpx.Response(401), UpstreamAuthError),
    (httpx.Response(403), UpstreamAuthError),
    (httpx.Response(404), UpstreamRejectedError),
    (httpx.Response(500), UpstreamUnavailableError),
    (gql_error("Unauthenticated"), UpstreamAuthError),
    (gql_error("CustomerNotFound"), UpstreamNotFoundError),
    (gql_error("OperationTimeout"), UpstreamUnavailableError),
    (gql_error("BadUserInput"), UpstreamInvalidInputError),
    (gql_error("GRAPHQL_VALIDATION_FAILED", status=400), UpstreamInvalidInputError),
    (gql_error(None), UpstreamRejectedError),
    (httpx.Response(200, text="<html>not json</html>"), UpstreamRejectedError),
    (httpx.Response(200, json={"data": None}), UpstreamRejectedError),
    (httpx.Response(200, json=[1, 2]), UpstreamRejectedError),
])
async def test_not_retried(failure: Any, expected: type) -> None:
    time, upstream = FakeTime(), Upstream(failure, ok())
    with pytest.raises(expected):
        await call(make(upstream, time), time)
    assert len(upstream.requests) == 1 and time.sleeps == []


async def test_graphql_error_keeps_message_code_and_trace_id_of_the_first_error() -> None:
    time = FakeTime()
    with pytest.raises(UpstreamNotFoundError) as caught:
        await call(make(Upstream(gql_error("FeatureNotFound", "no such feature", "tr-42")), time), time)
    assert (caught.value.message, caught.value.code, caught.value.trace_id) == ("no such feature", "FeatureNotFound", "tr-42")


async def test_http_error_without_graphql_body_names_the_status() -> None:
    time = FakeTime()
    with pytest.raises(UpstreamUnavailableError, match="HTTP 500"):
        await call(make(Upstream(httpx.Response(500, text="oops")), time), time)


async def test_the_api_key_never_appears_in_a_message() -> None:
    time = FakeTime()
    echo = gql_error("Unauthenticated", f"key {API_KEY} is not valid")
    with pytest.raises(UpstreamAuthError) as caught:
        await call(make(Upstream(echo), time), time)
    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.message
    with pytest.raises(UpstreamUnavailableError) as caught2:
        await call(make(Upstream(httpx.ConnectError(f"refused {API_KEY}")), time), time)
    assert API_KEY not in str(caught2.value)


async def test_retry_after_is_honoured_when_it_fits() -> None:
    time, jitter = FakeTime(), MaxJitter()
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": "1.5"}), ok())
    await call(make(upstream, time, jitter), time)
    assert time.sleeps == [1.5] and jitter.caps == []


async def test_retry_after_that_does_not_fit_ends_the_call() -> None:
    time = FakeTime()
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "30"}), ok())
    with pytest.raises(UpstreamUnavailableError):
        await call(make(upstream, time), time, seconds=10)
    assert len(upstream.requests) == 1 and time.sleeps == []


async def test_an_unreadable_retry_after_falls_back_to_backoff() -> None:
    time = FakeTime()
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), ok())
    await call(make(upstream, time), time)
    assert time.sleeps == [0.25]


async def test_never_sleeps_past_the_budget() -> None:
    time = FakeTime()
    upstream = Upstream(httpx.Response(503))
    with pytest.raises(UpstreamUnavailableError):
        await call(make(upstream, time), time, seconds=0.6)
    # 0.25 fits (0.6 left), 0.5 does not (0.35 left): two attempts, one sleep.
    assert time.sleeps == [0.25] and len(upstream.requests) == 2
    assert sum(time.sleeps) <= 0.6


@pytest.mark.parametrize("seconds,attempts", [(0.255, 1), (0.265, 2)])
async def test_a_retry_needs_time_left_after_its_delay(seconds: float, attempts: int) -> None:
    # With 0.25 s of backoff, 0.255 s leaves 5 ms for the retry: below the 10 ms minimum,
    # so the call ends with the real failure, not an attempt timed out at once.
    time = FakeTime()
    upstream = Upstream(httpx.ConnectError("refused"), ok())
    if attempts == 1:
        with pytest.raises(UpstreamUnavailableError, match="^connection failed: "):
            await call(make(upstream, time), time, seconds=seconds)
    else:
        await call(make(upstream, time), time, seconds=seconds)
    assert len(upstream.requests) == attempts and time.sleeps == [0.25] * (attempts - 1)


async def test_a_retry_woken_too_late_is_not_made() -> None:
    # The delay fitted with 10 ms to spare, but the sleep overran by 8 ms: 2 ms are left
    # when the retry would start, so the refused connection stays the error.
    time = FakeTime()

    async def late_sleep(seconds: float) -> None:
        await time.sleep(seconds + 0.008)

    upstream = Upstream(httpx.ConnectError("refused"), ok())
    http = StiggHttp(httpx.MockTransport(upstream.handler), api_key=API_KEY, instance_id="inst-1",
                     user_agent="stigg-sidecar-py/test", clock=time, sleep=late_sleep, uniform=MaxJitter())
    with pytest.raises(UpstreamUnavailableError, match="^connection failed: "):
        await call(http, time, seconds=0.26)
    assert len(upstream.requests) == 1


async def test_full_jitter_uses_the_random_draw() -> None:
    time = FakeTime()
    draws = iter([0.01, 0.02, 0.03])
    upstream = Upstream(httpx.Response(503), httpx.Response(503), httpx.Response(503), ok())
    await call(make(upstream, time, lambda low, high: next(draws)), time)
    assert time.sleeps == [0.01, 0.02, 0.03]


async def test_each_attempt_times_out_at_the_remaining_budget() -> None:
    time = FakeTime()
    seen: list[dict[str, float]] = []

    def record(status: int) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request.extensions["timeout"])
            time.now += 1.0  # each attempt takes one second
            return httpx.Response(status) if status != 200 else ok()
        return answer

    upstream = Upstream(record(503), record(200))
    await call(make(upstream, time), time, seconds=5)
    assert [t["read"] for t in seen] == [pytest.approx(5.0), pytest.approx(5.0 - 1.0 - 0.25)]
    assert all(t["connect"] == t["read"] == t["write"] == t["pool"] for t in seen)


async def test_an_exhausted_budget_makes_no_call() -> None:
    time, upstream = FakeTime(), Upstream(ok())
    with pytest.raises(UpstreamUnavailableError, match="budget"):
        await make(upstream, time).graphql(URL, "q", "Q", {}, Budget(time.now - 1))
    assert upstream.requests == []


async def test_all_failures_are_upstream_errors() -> None:
    time = FakeTime()
    for failure in (httpx.Response(418), httpx.UnsupportedProtocol("ftp"), httpx.TooManyRedirects("loop")):
        with pytest.raises(UpstreamError):
            await call(make(Upstream(failure), time), time, seconds=1)


def _caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("failure,message", [
    (httpx.ReadTimeout("slow"), "timed out after 10.000 s"),
    (_caused(httpx.ReadTimeout("slow"), _caused(RuntimeError("httpcore"), TimeoutError())),
     "timed out after 10.000 s"),
    # httpx-aiohttp's mapping: every aiohttp connection error becomes ConnectTimeout
    (_caused(httpx.ConnectTimeout("Server disconnected"), ConnectionResetError("Server disconnected")),
     "connection failed: ConnectionResetError: Server disconnected"),
    (_caused(httpx.ConnectTimeout("t"), TimeoutError("sock_read")), "timed out after 10.000 s"),
    (httpx.ConnectError("refused"), "connection failed: ConnectError: refused"),
])
async def test_timeouts_and_connection_failures_are_told_apart_by_their_cause(
        failure: Exception, message: str) -> None:
    time = FakeTime()
    transport = httpx.MockTransport(Upstream(failure).handler)
    http = StiggHttp(transport, api_key=API_KEY, instance_id="inst-1", user_agent="ua", clock=time,
                     sleep=time.sleep, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await call(http, time)
    assert caught.value.message == message
