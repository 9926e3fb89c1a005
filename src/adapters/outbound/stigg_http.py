"""Shared httpx plumbing for Stigg: headers, budgeted retries, error classification.

reference: upstream-api.md §2 (headers), §6 (budgets and retries), §7 (classification).

Requests go straight to an httpx *transport* (``handle_async_request``, httpx's public
transport API), not through ``httpx.AsyncClient``: the client's per-request work —
URL merging, cookie extraction through ``http.cookiejar``, auth and redirect
machinery, none of which Stigg calls use — was ~0.5 M instructions of a cold miss's
4.8 M (callgrind, docs/performance.md "Cold miss"). What the client did that matters
is done here: the per-request timeout extension, the default ``Accept`` /
``Accept-Encoding`` headers, reading the body (decoded by httpx) and closing the
response. Not carried over: the client's cookie jar (one jar shared by every customer's
calls; Stigg's API does not use cookies). The production transport has no jar either
(``bootstrap.resources.http_transport``), so a ``Set-Cookie`` from upstream or a proxy
in front of it is neither kept nor sent back; redirects were not followed before either.

The retry loop is written out rather than built on tenacity: the budget rule couples
every decision (attempt timeout = remaining budget, a delay that does not fit ends the
call, Retry-After only if it fits), and an explicit loop of a dozen lines states that
more plainly than tenacity's stop/wait/retry combinators plus a custom wait callback.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
import httpx
from aiohttp.http_exceptions import HttpProcessingError

from adapters.outbound import fast_json
from domain.model.budget import Budget
from ports.clock import Clock
from ports.errors import (
    UpstreamAuthError, UpstreamError, UpstreamInvalidInputError, UpstreamNotFoundError,
    UpstreamRateLimitedError, UpstreamRejectedError, UpstreamUnavailableError,
)

log = logging.getLogger("sidecar.upstream.http")

AUTH_CODES = frozenset({"Unauthenticated", "IdentityForbidden", "ApiKeyNotFound"})
INPUT_CODES = frozenset({
    "BadUserInput", "InvalidArgumentError", "CannotReportUsageForEntitlementWithMeterError",
    "MeteringNotAvailableForFeatureType", "UsageMeasurementDiffOutOfRangeError",
    "EntitlementUsageOutOfRangeError", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT",
})
RATE_LIMIT_CODE = "RateLimitExceeded"
UNAVAILABLE_CODE = "OperationTimeout"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def error_type(status: int | None = None, code: str | None = None) -> type[UpstreamError]:
    """The port error for an HTTP status and/or a GraphQL ``extensions.code`` (§7).

    Checked in order: key rejected, rate limited, unavailable (5xx), ``…NotFound``,
    invalid input (incl. HTTP 400), else rejected. An HTTP 404 without a code is
    "rejected": it names a wrong URL, not a missing entity.
    """
    code = code or ""
    if status in (401, 403) or code in AUTH_CODES:
        return UpstreamAuthError
    if status == 429 or code == RATE_LIMIT_CODE:
        return UpstreamRateLimitedError
    if (status is not None and status >= 500) or code == UNAVAILABLE_CODE:
        return UpstreamUnavailableError
    if code.endswith("NotFound"):
        return UpstreamNotFoundError
    if code in INPUT_CODES or status == 400:
        return UpstreamInvalidInputError
    return UpstreamRejectedError


def first_graphql_error(body: Any) -> tuple[str, str | None, str | None] | None:
    """(message, extensions.code, extensions.traceId) of the first error, if any."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    ext = first.get("extensions") if isinstance(first.get("extensions"), Mapping) else {}
    message = first.get("message") if isinstance(first.get("message"), str) else "GraphQL error"
    code, trace = ext.get("code"), ext.get("traceId")
    return message, code if isinstance(code, str) else None, trace if isinstance(trace, str) else None


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds; ``None`` when absent or not a number of seconds."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


#: Transport errors that reach ``StiggHttp`` as themselves, not as httpx errors (the
#: aiohttp transport maps only its connection and timeout errors).
UNMAPPED_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, HttpProcessingError)


def cause_chain(error: BaseException) -> list[BaseException]:
    """``error``, its ``__cause__``, that one's cause… (at most 16 links)."""
    chain = [error]
    while chain[-1].__cause__ is not None and len(chain) < 16:
        chain.append(chain[-1].__cause__)
    return chain


def timed_out(error: BaseException) -> bool:
    """Whether a transport failure was a timeout rather than a failed connection.

    Decided by the cause chain, not by the httpx class alone: httpx-aiohttp maps every
    ``aiohttp.ClientConnectionError`` (refused, reset, "Server disconnected") to
    ``httpx.ConnectTimeout``. A timeout has a ``TimeoutError`` in its chain (asyncio's,
    aiohttp's ``ServerTimeoutError``, httpcore's via anyio), or is an httpx timeout with
    no cause at all (raised directly, as a test transport does).
    """
    if any(isinstance(link, TimeoutError) for link in cause_chain(error)):
        return True
    return isinstance(error, httpx.TimeoutException) and error.__cause__ is None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``max_attempts``; retry n (0-based) waits uniform(0, min(max, base·2^n)) s.

    A retry is made only if at least ``min_attempt_s`` of the budget is left, both before
    its delay (delay included) and when it starts (a late wake-up), our choice: an
    attempt started with next to nothing left could only time out, and its "timed out
    after 0.000 s" would replace the failure that caused the retry (a refused
    connection; a 429, which a write answers as ``RESOURCE_EXHAUSTED``). It covers only
    such near-empty attempts: a retry with more left that still times out (a real
    upstream, tens of ms per call) ends the call with its timeout (``UNAVAILABLE``).
    """

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 2.0
    min_attempt_s: float = 0.01

    def backoff_cap_s(self, retry: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2**retry)


class _Failed(Exception):
    def __init__(self, error: UpstreamError, retryable: bool, retry_after: float | None = None,
                 cause: BaseException | None = None) -> None:
        self.error, self.retryable, self.retry_after, self.cause = error, retryable, retry_after, cause


class StiggHttp:
    """One budgeted, retried JSON call to Stigg; returns the body's ``data`` object.

    ``transport`` is shared by every adapter of the process (``bootstrap.resources``;
    tests pass ``httpx.MockTransport``). ``sleep`` (seconds) and ``uniform(a, b)`` are
    injectable for tests. Raises an ``UpstreamError`` subclass; messages never contain
    the API key.
    """

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, api_key: str, instance_id: str, user_agent: str,
        clock: Clock, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
        policy: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._transport, self._api_key, self._clock = transport, api_key, clock
        self._sleep, self._uniform, self._policy = sleep, uniform, policy
        self._base_headers = {"X-API-KEY": api_key, "X-API-VERSION": "1",
                              "User-Agent": user_agent, "X-SDK-INSTANCE-ID": instance_id,
                              # What httpx.AsyncClient sent by default (httpx decodes both).
                              "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
        # Built once: httpx.Request copies a Headers object's list without re-validating
        # each name and value (35 → 30 µs per request).
        self._get_headers = httpx.Headers(self._base_headers)

    async def graphql(self, url: str, document: str, operation: str,
                      variables: Mapping[str, Any], budget: Budget) -> Mapping[str, Any]:
        """POST a GraphQL document to ``url`` (``…/graphql``)."""
        headers = {**self._base_headers, "Content-Type": "application/json",
                   "x-graphql-operation-name": operation}
        body = {"query": document, "operationName": operation, "variables": dict(variables)}
        return await self._call("POST", url, operation, budget, headers=headers, json=body)

    async def get(self, url: str, label: str, budget: Budget,
                  params: Mapping[str, str] | None = None) -> Mapping[str, Any]:
        """GET a GraphQL-shaped JSON document (Edge); ``label`` names it in logs."""
        return await self._call("GET", url, label, budget, headers=self._get_headers,
                                params=dict(params) if params else None)

    async def _call(self, method: str, url: str, label: str, budget: Budget, **kwargs: Any) -> Mapping[str, Any]:
        last: _Failed | None = None
        for attempt in range(self._policy.max_attempts):
            remaining = budget.remaining(self._clock.monotonic())
            if remaining <= 0 or (last is not None and remaining < self._policy.min_attempt_s):
                break
            try:
                return await self._attempt(method, url, remaining, **kwargs)
            except _Failed as failed:
                last = failed
            if not last.retryable or attempt + 1 >= self._policy.max_attempts:
                break
            delay = last.retry_after
            if delay is None:
                delay = self._uniform(0.0, self._policy.backoff_cap_s(attempt))
            if delay + self._policy.min_attempt_s > budget.remaining(self._clock.monotonic()):
                break
            log.info("upstream call failed; retrying", extra={
                "operation": label, "attempt": attempt + 1, "delay_s": round(delay, 3),
                "error": f"{type(last.error).__name__}: {last.error.message}"})
            await self._sleep(delay)
        if last is None:
            raise UpstreamUnavailableError(f"{label}: time budget exhausted")
        raise last.error from last.cause

    async def _attempt(self, method: str, url: str, remaining: float, **kwargs: Any) -> Mapping[str, Any]:
        try:
            async with asyncio.timeout(remaining):
                request = httpx.Request(method, url, extensions={
                    "timeout": httpx.Timeout(remaining).as_dict()}, **kwargs)
                response = await self._transport.handle_async_request(request)
                try:
                    content = await response.aread()
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TransportError) as exc:
            if timed_out(exc):
                raise _Failed(UpstreamUnavailableError(f"timed out after {remaining:.3f} s"), True, cause=exc)
            root = cause_chain(exc)[-1]
            raise _Failed(UpstreamUnavailableError(self._redact(f"connection failed: {type(root).__name__}: {root}")),
                          True, cause=exc)
        except UNMAPPED_TRANSPORT_ERRORS as exc:
            # aiohttp's own errors that httpx-aiohttp passes through unmapped: a response
            # its parser rejects (bad status line, header over 8190 bytes, > 128 headers,
            # bad Content-Length or chunk) — a protocol failure, retried like httpx's
            # RemoteProtocolError was.
            raise _Failed(UpstreamUnavailableError(self._redact(f"connection failed: {type(exc).__name__}: {exc}")),
                          True, cause=exc)
        except httpx.HTTPError as exc:
            raise _Failed(UpstreamUnavailableError(self._redact(f"{type(exc).__name__}: {exc}")), False, cause=exc)
        try:
            body = fast_json.loads(content)
        except ValueError:
            body = None
        found = first_graphql_error(body)
        message, code, trace = found or (f"HTTP {response.status_code}", None, None)
        if not response.is_success:
            error = error_type(response.status_code, code)(self._redact(message), code=code, trace_id=trace)
            retryable = response.status_code in RETRYABLE_STATUSES or code == RATE_LIMIT_CODE
            raise _Failed(error, retryable, retry_after_s(response))
        if found:
            error = error_type(None, code)(self._redact(message), code=code, trace_id=trace)
            raise _Failed(error, code == RATE_LIMIT_CODE, retry_after_s(response))
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping):
            raise _Failed(UpstreamRejectedError("malformed response: no data object"), False)
        return data

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "<api key>") if self._api_key else text
