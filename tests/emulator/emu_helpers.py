"""Shared constants and helpers for the Stigg emulator's own tests."""

from __future__ import annotations

import httpx

API_KEY = "test-key"
HEADERS = {"X-API-KEY": API_KEY, "X-API-VERSION": "1"}
NOW_MS = 1752161400000  # 2025-07-10T15:30:00.000Z

GET_ENTITLEMENTS_STATE = """
query GetEntitlementsState($query: FetchEntitlementsQuery!) {
  entitlementsState(query: $query) {
    accessDeniedReason
    entitlementsV2 {
      __typename
      ... on FeatureEntitlement {
        isGranted accessDeniedReason usageLimit hasUnlimitedUsage hasSoftLimit
        currentUsage enumValues entitlementUpdatedAt usageUpdatedAt usagePeriodAnchor
        usagePeriodStart usagePeriodEnd resetPeriod validUntil
        creditRate { amount currencyId }
        feature { refId featureType meterType featureUnits featureUnitsPlural
                  displayName description }
        resetPeriodConfiguration {
          ... on YearlyResetPeriodConfig { yearlyAccordingTo }
          ... on MonthlyResetPeriodConfig { monthlyAccordingTo }
          ... on WeeklyResetPeriodConfig { weeklyAccordingTo }
        }
      }
      ... on CreditEntitlement {
        isGranted accessDeniedReason usageLimit currentUsage hasSoftLimit usageUpdatedAt
        entitlementUpdatedAt usagePeriodEnd validUntil
        currency { currencyId displayName description unitSingular unitPlural
                   additionalMetaData }
      }
    }
  }
}
"""

_MEASUREMENT = """
    id featureId customerId resourceId currentUsage usagePeriodStart usagePeriodEnd
    nextResetDate timestamp
    credit { currencyId currentUsage usagePeriodEnd timestamp consumed }
"""

REPORT_USAGE = ("mutation ReportUsage($input: ReportUsageInput!) {"
                f" reportUsage(input: $input) {{ {_MEASUREMENT} }} }}")
REPORT_USAGE_BULK = ("mutation ReportUsageBulk($input: ReportUsageBulkInput!) {"
                     f" reportUsageBulk(input: $input) {{ {_MEASUREMENT} }} }}")
REPORT_EVENT = ("mutation ReportEvent($input: UsageEventsReportInput!) {"
                " reportEvent(events: $input) }")
SDK_CONFIGURATION = "query SdkConfiguration { sdkConfiguration { isWidgetWatermarkEnabled } }"


def gql_body(query: str, variables: dict | None = None) -> dict:
    """A POST /graphql body, with operationName taken from the document."""
    name = query.split("(")[0].split("{")[0].split()[-1]
    return {"query": query, "operationName": name, "variables": variables or {}}


async def post_gql(client: httpx.AsyncClient, query: str,
                   variables: dict | None = None) -> httpx.Response:
    return await client.post("/graphql", json=gql_body(query, variables))
