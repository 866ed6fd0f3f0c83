"""What a use case can refuse, independent of the transport that asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One bad input field: its path (e.g. `location.lat`) and what is wrong with it."""

    field: str
    message: str


class ServiceError(Exception):
    """A refusal the caller can act on; `code` is the GraphQL extension code."""

    code = "SERVICE_ERROR"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ServiceError):
    """Bad input: nothing was changed."""

    code = "BAD_USER_INPUT"
    status = 422

    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInputError:
        return cls(f"{field}: {message}", [FieldProblem(field, message)])


class NotFoundError(ServiceError):
    code = "NOT_FOUND"
    status = 404


class ConflictError(ServiceError):
    code = "CONFLICT"
    status = 409


class UnavailableError(ServiceError):
    """A server the use case needs is not reachable right now."""

    code = "SERVICE_UNAVAILABLE"
    status = 503
