"""The schema: queries, mutations, subscriptions, error codes and the query limits."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext

from vpp.graphql.errors import ErrorCodes, is_unexpected
from vpp.graphql.limits import cost_limit, depth_limit, size_limits
from vpp.graphql.mutations import Mutation
from vpp.graphql.queries import Query
from vpp.graphql.subscriptions import Subscription


class SafeParserCache(ParserCache):
    """Strawberry's parser cache, except that a document that does not parse is left to
    Strawberry's own parse, which reports it as a result (GRAPHQL_PARSE_FAILED) instead
    of an exception raised from the extension hook."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            # A failure is parsed again by Strawberry, which reports it as a result.
            with contextlib.suppress(Exception):
                context.graphql_document = self.cached_parse_document(
                    context.query, **context.parse_options
                )
        yield


class OperationMetrics(SchemaExtension):
    """Counts queries and mutations by outcome (`vpp_api_graphql_operations`) and times
    them (`vpp_api_graphql_operation_seconds`)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        state = getattr(context.context, "state", None)
        metrics = getattr(state, "metrics", None)
        if metrics is None:
            return
        try:
            kind = context.operation_type.value
        except Exception:  # not even parsed
            kind = "unknown"
        if kind == "subscription":
            return  # counted by the vpp_api_subscriptions gauge
        errors = getattr(context.result, "errors", None) or context.pre_execution_errors
        metrics.graphql_operations.labels(kind, "error" if errors else "ok").inc()
        metrics.graphql_seconds.labels(kind).observe(time.perf_counter() - started)


class VppSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs only: refusals (bad input, permissions, limits) are the client's."""
        unexpected = [e for e in errors if is_unexpected(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    return VppSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ErrorCodes,
            OperationMetrics,
            lambda: SafeParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            *size_limits(),
            depth_limit(),
            cost_limit(),
        ],
    )


schema = build_schema()
