"""Every document the sidecar sends validates against the upstream schema (upstream-api.md)."""
from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate

from adapters.outbound import stigg_documents as docs

SCHEMA_PATH = Path(__file__).parents[3] / "devtools/stigg_emulator/stigg-schema.graphql"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


@pytest.mark.parametrize("operation,document", docs.ALL_DOCUMENTS, ids=[o for o, _ in docs.ALL_DOCUMENTS])
def test_document_validates_against_the_schema(schema: GraphQLSchema, operation: str, document: str) -> None:
    tree = parse(document)
    assert validate(schema, tree) == []
    (definition,) = tree.definitions
    assert isinstance(definition, OperationDefinitionNode)
    assert definition.name is not None and definition.name.value == operation


def test_all_documents_lists_every_document_constant() -> None:
    names = {name for name in dir(docs) if name.isupper() and not name.endswith(("_OPERATION", "_SELECTION"))}
    listed = {document for _, document in docs.ALL_DOCUMENTS}
    assert {getattr(docs, n) for n in names - {"ALL_DOCUMENTS", "SUBSCRIPTIONS"}} == listed


def test_entitlement_selection_is_reusable_by_the_realtime_subscription(schema: GraphQLSchema) -> None:
    subscription = (
        "subscription OnEntitlementsUpdatedV2 { entitlementsUpdatedV2 { customerId resourceId "
        f"accessDeniedReason entitlements {docs.ENTITLEMENT_SELECTION} }} }}"
    )
    assert validate(schema, parse(subscription)) == []
    assert "fragment" not in docs.ENTITLEMENT_SELECTION


def _fields(selection_text: str, type_name: str) -> set[str]:
    """Leaf and object field names selected directly on ``... on type_name``."""
    tree = parse(f"query Q {{ entitlementsState(query: {{customerId: \"c\"}}) {{ entitlementsV2 {selection_text} }} }}")
    union = tree.definitions[0].selection_set.selections[0].selection_set.selections[0].selection_set
    (fragment,) = [s for s in union.selections
                   if getattr(s, "type_condition", None) and s.type_condition.name.value == type_name]
    return {f.name.value for f in fragment.selection_set.selections}


def test_feature_selection_matches_the_reference_exactly() -> None:
    assert _fields(docs.ENTITLEMENT_SELECTION, "FeatureEntitlement") == {
        "isGranted", "accessDeniedReason", "usageLimit", "hasUnlimitedUsage", "hasSoftLimit",
        "currentUsage", "enumValues", "entitlementUpdatedAt", "usageUpdatedAt",
        "usagePeriodAnchor", "usagePeriodStart", "usagePeriodEnd", "resetPeriod", "validUntil",
        "creditRate", "feature", "resetPeriodConfiguration",
    }
    for fragment in ("YearlyResetPeriodConfig { yearlyAccordingTo }",
                     "MonthlyResetPeriodConfig { monthlyAccordingTo }",
                     "WeeklyResetPeriodConfig { weeklyAccordingTo }",
                     "creditRate { amount currencyId }"):
        assert fragment in docs.ENTITLEMENT_SELECTION


def test_credit_selection_matches_the_reference_exactly() -> None:
    assert _fields(docs.ENTITLEMENT_SELECTION, "CreditEntitlement") == {
        "isGranted", "accessDeniedReason", "usageLimit", "currentUsage", "hasSoftLimit",
        "usageUpdatedAt", "entitlementUpdatedAt", "usagePeriodEnd", "validUntil", "currency",
    }


def test_a_document_that_does_not_match_the_schema_is_caught(schema: GraphQLSchema) -> None:
    broken = docs.SDK_CONFIGURATION.replace("isWidgetWatermarkEnabled", "isWatermarkOn")
    assert validate(schema, parse(broken)) != []
