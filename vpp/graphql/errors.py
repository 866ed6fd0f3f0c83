"""Every GraphQL error leaves with an extension code.

| code | when |
| --- | --- |
| `UNAUTHENTICATED` | no or bad token (HTTP requests get a 401 before execution) |
| `FORBIDDEN` | the token's roles do not allow the field |
| `BAD_USER_INPUT` | a bad argument value or variable; `fields` lists `{field, message}` |
| `NOT_FOUND`, `CONFLICT`, `SERVICE_UNAVAILABLE` | refusals of the use cases |
| `QUERY_TOO_DEEP`, `QUERY_TOO_COSTLY` | the depth and cost limits |
| `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED` | not a valid document for this schema |
| `INTERNAL_SERVER_ERROR` | a bug; the message is masked (the error is logged) |
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.validation import ValuesOfCorrectTypeRule
from strawberry.extensions import SchemaExtension
from strawberry.utils.str_converters import to_camel_case

from vpp.api.auth import ForbiddenError, InvalidTokenError
from vpp.services.errors import InvalidInputError, ServiceError

BAD_USER_INPUT = "BAD_USER_INPUT"
_DEPTH = re.compile(r"exceeds maximum operation depth of \d+")


class CodedValuesOfCorrectTypeRule(ValuesOfCorrectTypeRule):
    """graphql-core's check of literal argument values, its errors marked BAD_USER_INPUT."""

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": BAD_USER_INPUT}
        super().report_error(error)


def _camel_path(field: str) -> str:
    return ".".join(to_camel_case(part) for part in field.split("."))


def _rebuilt(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def coded(error: GraphQLError) -> GraphQLError:
    """The error with an extension code (a new error where one had to be added)."""
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if isinstance(original, InvalidInputError):
        fields = [{"field": _camel_path(p.field), "message": p.message} for p in original.problems]
        message = original.message
        for problem in original.problems:
            message = message.replace(problem.field, _camel_path(problem.field))
        return _rebuilt(error, message, {"code": BAD_USER_INPUT, "fields": fields})
    if isinstance(original, ServiceError):
        return _rebuilt(error, original.message, {"code": original.code})
    if isinstance(original, ForbiddenError):
        return _rebuilt(error, original.message, {"code": "FORBIDDEN"})
    if isinstance(original, InvalidTokenError):
        return _rebuilt(error, original.message, {"code": "UNAUTHENTICATED"})
    if isinstance(original, GraphQLError):
        if original.extensions and "code" in original.extensions:
            return _rebuilt(error, error.message, dict(original.extensions))
        original = None  # graphql-core's own (e.g. a variable's coercion): by its message
    if original is not None:
        return _rebuilt(error, "internal server error", {"code": "INTERNAL_SERVER_ERROR"})
    if isinstance(error, GraphQLSyntaxError):
        code = "GRAPHQL_PARSE_FAILED"
    elif _DEPTH.search(error.message):
        code = "QUERY_TOO_DEEP"
    elif error.message.startswith("Variable '$"):
        code = BAD_USER_INPUT
    else:
        code = "GRAPHQL_VALIDATION_FAILED"
    return _rebuilt(error, error.message, {**(error.extensions or {}), "code": code})


def is_unexpected(error: GraphQLError) -> bool:
    """True for a bug (worth a log line with its traceback), not a refusal."""
    original = error.original_error
    return original is not None and not isinstance(
        original, ServiceError | ForbiddenError | InvalidTokenError | GraphQLError
    )


class ErrorCodes(SchemaExtension):
    """Adds the codes to every result's errors, streamed (subscriptions) or not; swaps in
    the coded check of argument values."""

    def __init__(self) -> None:
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = tuple(
            CodedValuesOfCorrectTypeRule if rule is ValuesOfCorrectTypeRule else rule
            for rule in context.validation_rules
        )
        yield
        if self._streamed:
            return
        self._process(context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._streamed = True
        self._process(result)
        yield None

    @staticmethod
    def _process(result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            setattr(result, "errors", [coded(e) for e in errors])  # noqa: B010
