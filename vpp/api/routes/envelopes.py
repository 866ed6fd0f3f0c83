"""The seed's response envelope `{"success": true, "data": ...}` for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T


class PagedEnvelope(BaseModel, Generic[T]):
    success: bool = True
    data: list[T]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    success: bool = False
    error: str
    code: str
    detail: list[dict[str, Any]] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or a token that does not verify"},
    403: {"model": ErrorBody, "description": "The token's roles do not allow this"},
    422: {"model": ErrorBody, "description": "Bad input; `detail` names the fields"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such node"}
}
