"""Limits that refuse abusive operations before anything runs.

- Depth: Strawberry's `QueryDepthLimiter` (`QUERY_TOO_DEEP`). Its rule class is built
  once, so the validation cache keeps working.
- Cost (`QUERY_TOO_COSTLY`), computed on the operation with its variables: a leaf field
  costs 0, an object field 1 plus its selections, and a field taking a page size
  (`first`, `last`) costs 1 + size x (1 + its selections), so nested lists multiply.
  E.g. `nodes(first: 100) { edges { node { dcId live { online } } } }` costs 401 and
  `telemetry(dcId: "x", last: 10000) { soc }` 10,001.
- Size: at most `MAX_TOKENS` tokens and `MAX_ALIASES` aliases per document, which bounds
  floods of cheap aliased fields and of introspection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql.pyutils import Undefined
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

MAX_DEPTH = 10
MAX_COST = 50_000
MAX_TOKENS = 5_000
MAX_ALIASES = 50
SIZE_ARGUMENTS = ("first", "last")

ExtensionFactory = Callable[[], SchemaExtension]


def depth_limit(max_depth: int = MAX_DEPTH) -> ExtensionFactory:
    rules = QueryDepthLimiter(max_depth=max_depth).validation_rules

    def factory() -> SchemaExtension:
        return AddValidationRules(rules)

    return factory


def size_limits(
    max_tokens: int = MAX_TOKENS, max_aliases: int = MAX_ALIASES
) -> list[ExtensionFactory]:
    # The alias rule's class is built once (as for depth) so the validation cache hits.
    alias_rules = MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules

    def aliases() -> SchemaExtension:
        return AddValidationRules(alias_rules)

    def tokens() -> SchemaExtension:
        return MaxTokensLimiter(max_token_count=max_tokens)

    return [tokens, aliases]


class QueryCost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self._selections(root, operation.selection_set, frozenset())

    def _selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode, seen: frozenset[str]
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(parent, selection, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self._schema.get_type(selection.type_condition.name.value) or parent
                total += self._selections(target, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self._schema.get_type(fragment.type_condition.name.value) or parent
                total += self._selections(target, fragment.selection_set, seen | {name})
        return total

    def _field(self, parent: GraphQLNamedType, node: FieldNode, seen: frozenset[str]) -> int:
        if node.name.value.startswith("__") or node.selection_set is None:
            return 0  # leaves and introspection (bounded by the size limits)
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 1
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 1
        children = self._selections(get_named_type(definition.type), node.selection_set, seen)
        size = self._size(node, definition.args)
        if size is None:
            return 1 + children
        return 1 + size * (1 + children)

    def _size(self, node: FieldNode, args: Mapping[str, Any]) -> int | None:
        for name in SIZE_ARGUMENTS:
            if name not in args:
                continue
            value: Any = None
            for argument in node.arguments or ():
                if argument.name.value != name:
                    continue
                if isinstance(argument.value, IntValueNode):
                    value = int(argument.value.value)
                elif isinstance(argument.value, VariableNode):
                    value = self._variables.get(argument.value.name.value)
            if value is None:
                default = args[name].default_value
                value = None if default is Undefined else default
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
            return 1
        return None


class QueryCostLimiter(SchemaExtension):
    def __init__(self, max_cost: int = MAX_COST) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            operation = get_operation_ast(document, context.operation_name)
            if operation is not None:
                fragments = {
                    d.name.value: d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                cost = QueryCost(
                    context.schema._schema, fragments, context.variables or {}
                ).of_operation(operation)
                if cost > self.max_cost:
                    raise GraphQLError(
                        f"operation cost {cost} exceeds the limit of {self.max_cost}; "
                        "ask for smaller pages (first/last) or fewer fields",
                        nodes=[operation],
                        extensions={
                            "code": "QUERY_TOO_COSTLY",
                            "cost": cost,
                            "maxCost": self.max_cost,
                        },
                    )
        yield


def cost_limit(max_cost: int = MAX_COST) -> ExtensionFactory:
    return lambda: QueryCostLimiter(max_cost)
