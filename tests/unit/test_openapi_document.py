"""The committed OpenAPI document: valid OpenAPI 3.1, fresh, and in step with the code."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from adapters.inbound.error_policy import FailureKind
from adapters.inbound.http.api_app import ENDPOINTS, OPENAPI_PATH
from adapters.inbound.http.errors import HTTP_STATUS
from adapters.inbound.http.openapi import EXAMPLES, build_openapi

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
REGENERATE = "PYTHONPATH=src .venv/bin/python -m adapters.inbound.http.openapi > docs/openapi.json"


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(COMMITTED.read_text())


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_committed_document_is_fresh(document):
    assert document == build_openapi(), f"docs/openapi.json is stale; run: {REGENERATE}"


def test_every_endpoint_is_documented_under_its_grpc_name(document):
    documented = {path: ops["post"]["operationId"] for path, ops in document["paths"].items()
                  if "post" in ops}
    assert documented == {e.path: e.rpc for e in ENDPOINTS}
    assert OPENAPI_PATH in document["paths"]


def test_writes_document_every_status_of_the_table(document):
    responses = document["paths"]["/api/v1/usage/bulk"]["post"]["responses"]
    assert {str(HTTP_STATUS[k]) for k in FailureKind} <= set(responses)
    assert {"200", "413", "500"} <= set(responses)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.rpc)
def test_each_example_matches_its_request_schema(document, endpoint):
    media = document["paths"][endpoint.path]["post"]["requestBody"]["content"]["application/json"]
    assert media["example"] == EXAMPLES[endpoint.rpc]
    schema = {**media["schema"], "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(media["example"])
