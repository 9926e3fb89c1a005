"""Every GraphQL document the sidecar sends to Stigg, as constants (upstream-api.md §3-5).

``ENTITLEMENT_SELECTION`` is a fragment-free selection of ``EntitlementUnion`` (§3.2),
so the WebSocket subscription ``entitlementsUpdatedV2 { entitlements { … } }`` can
splice in the very same text. ``tests/unit/adapters/test_stigg_documents_schema.py``
validates every document here against the upstream schema.
"""
from __future__ import annotations

#: Selection of one ``EntitlementUnion`` member, braces included (upstream-api.md §3.2).
ENTITLEMENT_SELECTION = """{
      __typename
      ... on FeatureEntitlement {
        isGranted
        accessDeniedReason
        usageLimit
        hasUnlimitedUsage
        hasSoftLimit
        currentUsage
        enumValues
        entitlementUpdatedAt
        usageUpdatedAt
        usagePeriodAnchor
        usagePeriodStart
        usagePeriodEnd
        resetPeriod
        validUntil
        creditRate { amount currencyId }
        feature {
          refId
          featureType
          meterType
          featureUnits
          featureUnitsPlural
          displayName
          description
        }
        resetPeriodConfiguration {
          ... on YearlyResetPeriodConfig { yearlyAccordingTo }
          ... on MonthlyResetPeriodConfig { monthlyAccordingTo }
          ... on WeeklyResetPeriodConfig { weeklyAccordingTo }
        }
      }
      ... on CreditEntitlement {
        isGranted
        accessDeniedReason
        usageLimit
        currentUsage
        hasSoftLimit
        usageUpdatedAt
        entitlementUpdatedAt
        usagePeriodEnd
        validUntil
        currency {
          currencyId
          displayName
          description
          unitSingular
          unitPlural
          additionalMetaData
        }
      }
    }"""

GET_ENTITLEMENTS_STATE_OPERATION = "GetEntitlementsState"
GET_ENTITLEMENTS_STATE = f"""query GetEntitlementsState($query: FetchEntitlementsQuery!) {{
  entitlementsState(query: $query) {{
    accessDeniedReason
    entitlementsV2 {ENTITLEMENT_SELECTION}
  }}
}}"""

#: Selection of ``UsageMeasurementWithCurrentUsage`` (upstream-api.md §5.1).
USAGE_MEASUREMENT_SELECTION = """{
    id
    featureId
    customerId
    resourceId
    currentUsage
    usagePeriodStart
    usagePeriodEnd
    nextResetDate
    timestamp
    credit { currencyId currentUsage usagePeriodEnd timestamp consumed }
  }"""

REPORT_USAGE_OPERATION = "ReportUsage"
REPORT_USAGE = f"""mutation ReportUsage($input: ReportUsageInput!) {{
  reportUsage(input: $input) {USAGE_MEASUREMENT_SELECTION}
}}"""

REPORT_USAGE_BULK_OPERATION = "ReportUsageBulk"
REPORT_USAGE_BULK = f"""mutation ReportUsageBulk($input: ReportUsageBulkInput!) {{
  reportUsageBulk(input: $input) {USAGE_MEASUREMENT_SELECTION}
}}"""

REPORT_EVENT_OPERATION = "ReportEvent"
REPORT_EVENT = """mutation ReportEvent($input: UsageEventsReportInput!) {
  reportEvent(events: $input)
}"""

SDK_CONFIGURATION_OPERATION = "SdkConfiguration"
SDK_CONFIGURATION = """query SdkConfiguration {
  sdkConfiguration { isWidgetWatermarkEnabled }
}"""

# --- real-time subscriptions (upstream-api.md §9.2) ---

ON_ENTITLEMENTS_UPDATED_OPERATION = "OnEntitlementsUpdatedV2"
ON_ENTITLEMENTS_UPDATED = f"""subscription OnEntitlementsUpdatedV2 {{
  entitlementsUpdatedV2 {{
    customerId
    resourceId
    accessDeniedReason
    entitlements {ENTITLEMENT_SELECTION}
  }}
}}"""

ON_USAGE_UPDATED_OPERATION = "OnUsageUpdatedV2"
ON_USAGE_UPDATED = """subscription OnUsageUpdatedV2 {
  usageUpdatedV2 {
    customerId
    resourceId
    entitlementReference { id type }
    usage { currentUsage usageUpdatedAt usagePeriodStart usagePeriodEnd }
  }
}"""

ON_PACKAGE_PUBLISHED_OPERATION = "OnPackagePublished"
ON_PACKAGE_PUBLISHED = """subscription OnPackagePublished {
  packagePublished {
    accountId
    environmentId
    packageType
    packageRefId
    packageVersion
    migrationType
  }
}"""

#: The three subscriptions of every real-time connection, in subscribe order.
SUBSCRIPTIONS: tuple[tuple[str, str], ...] = (
    (ON_ENTITLEMENTS_UPDATED_OPERATION, ON_ENTITLEMENTS_UPDATED),
    (ON_USAGE_UPDATED_OPERATION, ON_USAGE_UPDATED),
    (ON_PACKAGE_PUBLISHED_OPERATION, ON_PACKAGE_PUBLISHED),
)

#: (operation name, document) of everything above, for the schema test.
ALL_DOCUMENTS: tuple[tuple[str, str], ...] = (
    (GET_ENTITLEMENTS_STATE_OPERATION, GET_ENTITLEMENTS_STATE),
    (REPORT_USAGE_OPERATION, REPORT_USAGE),
    (REPORT_USAGE_BULK_OPERATION, REPORT_USAGE_BULK),
    (REPORT_EVENT_OPERATION, REPORT_EVENT),
    (SDK_CONFIGURATION_OPERATION, SDK_CONFIGURATION),
    *SUBSCRIPTIONS,
)
