"""GraphQL plumbing: the vendored schema, request parsing and validation, argument
coercion, and projection of stored JSON onto a query's selection.

There is no general executor: :mod:`stigg_emulator.operations` resolves each root
field from the store, and :func:`project` shapes the result as a GraphQL server
would (selected fields only, aliases, ``__typename``, fragments on union members,
null for selected fields the stored data lacks).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError,
    GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, InlineFragmentNode,
    OperationDefinitionNode, OperationType, SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_variable_values

SCHEMA_PATH = Path(__file__).with_name("stigg-schema.graphql")


@functools.lru_cache(maxsize=4)
def load_schema(path: str = str(SCHEMA_PATH)) -> GraphQLSchema:
    """Build (once per path and process) the schema from an SDL file.

    The vendored SDL is upstream's own and trusted, so SDL validation is skipped
    (halves the start-up cost); request documents are still fully validated.
    """
    document = graphql.parse(Path(path).read_text(encoding="utf-8"), no_location=True)
    return graphql.build_ast_schema(document, assume_valid=True, assume_valid_sdl=True)


class OperationError(Exception):
    """A GraphQL error answered in band: HTTP 200, ``errors[0].extensions.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ParsedRequest:
    """A POST /graphql body after parsing and validation.

    ``errors`` holds human-readable problems and ``error_code`` the upstream-style
    code for them (``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED`` or
    ``BAD_USER_INPUT`` for variables that do not fit their types). When ``errors``
    is empty, ``operation`` and ``variables`` (coerced) are set.
    """

    query: str | None
    operation_name: str | None
    raw_variables: dict[str, Any] | None
    document: DocumentNode | None = None
    operation: OperationDefinitionNode | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_code: str | None = None

    @property
    def root_fields(self) -> list[FieldNode]:
        if self.operation is None:
            return []
        return [s for s in self.operation.selection_set.selections if isinstance(s, FieldNode)]

    @property
    def root_field_names(self) -> list[str]:
        return [f.name.value for f in self.root_fields]

    @property
    def names(self) -> frozenset[str]:
        """Operation name plus root field names (used to match faults and counts)."""
        names = set(self.root_field_names)
        if self.label:
            names.add(self.label)
        return frozenset(names)

    @property
    def label(self) -> str | None:
        """The operation's name, else its first root field."""
        if self.operation is not None and self.operation.name is not None:
            return self.operation.name.value
        if self.operation_name:
            return self.operation_name
        names = self.root_field_names
        return names[0] if names else None

    @property
    def fragments(self) -> dict[str, FragmentDefinitionNode]:
        if self.document is None:
            return {}
        return {d.name.value: d for d in self.document.definitions
                if isinstance(d, FragmentDefinitionNode)}

    def fail(self, code: str, messages: Iterable[str]) -> ParsedRequest:
        self.error_code = code
        self.errors.extend(messages)
        return self


def parse_request(schema: GraphQLSchema, body: dict[str, Any]) -> ParsedRequest:
    """Parse, select the operation, validate against ``schema`` and coerce variables."""
    query = body.get("query")
    name = body.get("operationName")
    raw_vars = body.get("variables")
    parsed = ParsedRequest(query if isinstance(query, str) else None,
                           name if isinstance(name, str) else None,
                           raw_vars if isinstance(raw_vars, dict) else None)
    if not isinstance(query, str) or not query.strip():
        return parsed.fail("GRAPHQL_PARSE_FAILED", ["body must contain a non-empty \"query\""])
    if raw_vars is not None and not isinstance(raw_vars, dict):
        return parsed.fail("BAD_USER_INPUT", ["\"variables\" must be an object"])
    try:
        parsed.document = graphql.parse(query)
    except GraphQLError as error:
        return parsed.fail("GRAPHQL_PARSE_FAILED", [error.message])
    operation, problem = _select_operation(parsed.document, parsed.operation_name)
    parsed.operation = operation
    errors = graphql.validate(schema, parsed.document)
    if errors:
        return parsed.fail("GRAPHQL_VALIDATION_FAILED", [e.message for e in errors])
    if problem:
        return parsed.fail("GRAPHQL_VALIDATION_FAILED", [problem])
    assert operation is not None
    coerced = get_variable_values(schema, operation.variable_definitions or (),
                                  parsed.raw_variables or {})
    if isinstance(coerced, list):
        return parsed.fail("BAD_USER_INPUT", [e.message for e in coerced])
    parsed.variables = coerced
    return parsed


def _select_operation(document: DocumentNode, name: str | None,
                      ) -> tuple[OperationDefinitionNode | None, str | None]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        for op in operations:
            if op.name is not None and op.name.value == name:
                return op, None
        return (operations[0] if len(operations) == 1 else None,
                f"Unknown operation named \"{name}\".")
    if len(operations) == 1:
        return operations[0], None
    return None, "Must provide operation name if query contains multiple operations."


def root_type(schema: GraphQLSchema, operation: OperationDefinitionNode) -> GraphQLObjectType:
    """The Query / Mutation / Subscription type of ``operation``."""
    kind = {OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type}[operation.operation]
    assert kind is not None
    return kind


def arguments(schema: GraphQLSchema, parsed: ParsedRequest, node: FieldNode) -> dict[str, Any]:
    """The coerced arguments of root field ``node`` (literals or variables)."""
    assert parsed.operation is not None
    field_def = root_type(schema, parsed.operation).fields[node.name.value]
    return get_argument_values(field_def, node, parsed.variables)


def project(schema: GraphQLSchema, value: Any, selection_sets: list[SelectionSetNode],
            type_: Any, fragments: dict[str, FragmentDefinitionNode]) -> Any:
    """Shape ``value`` (stored JSON) by the selections, for a field of ``type_``."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None or not selection_sets:
        return value
    if isinstance(type_, GraphQLList):
        if not isinstance(value, list):
            return value
        return [project(schema, v, selection_sets, type_.of_type, fragments) for v in value]
    if not isinstance(value, dict):
        return value
    concrete = type_.name if isinstance(type_, GraphQLObjectType) else value.get("__typename")
    concrete_type = schema.get_type(concrete) if isinstance(concrete, str) else None
    grouped: dict[str, list[FieldNode]] = {}
    for selection_set in selection_sets:
        _collect(schema, selection_set, concrete, fragments, grouped)
    result: dict[str, Any] = {}
    for key, nodes in grouped.items():
        name = nodes[0].name.value
        if name == "__typename":
            result[key] = concrete
            continue
        sub_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        field_def = (concrete_type.fields.get(name)
                     if isinstance(concrete_type, GraphQLObjectType) else None)
        raw = value.get(name)
        result[key] = (project(schema, raw, sub_sets, field_def.type, fragments)
                       if field_def is not None else raw)
    return result


def _collect(schema: GraphQLSchema, selection_set: SelectionSetNode, concrete: str | None,
             fragments: dict[str, FragmentDefinitionNode],
             grouped: dict[str, list[FieldNode]]) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else None
            if _applies(schema, condition, concrete):
                _collect(schema, selection.selection_set, concrete, fragments, grouped)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and _applies(
                    schema, fragment.type_condition.name.value, concrete):
                _collect(schema, fragment.selection_set, concrete, fragments, grouped)


def _applies(schema: GraphQLSchema, condition: str | None, concrete: str | None) -> bool:
    if condition is None or condition == concrete:
        return True
    cond_type = schema.get_type(condition)
    concrete_type = schema.get_type(concrete) if concrete else None
    if not isinstance(concrete_type, GraphQLObjectType) or cond_type is None:
        return False
    if isinstance(cond_type, GraphQLObjectType):
        return False
    return schema.is_sub_type(cond_type, concrete_type)  # type: ignore[arg-type]
