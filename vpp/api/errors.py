"""One error shape for the REST endpoints, the seed's `{"success": false, ...}`:

    {"success": false, "error": "<what went wrong>", "code": "<CODE>", "detail": [...]}

`detail` lists the bad fields of a 422 (`loc`, `field`, `msg`, `type`). Under `/graphql`
an authentication failure is answered in GraphQL's shape instead, with the same status:
`{"errors": [{"message": ..., "extensions": {"code": "UNAUTHENTICATED"}}]}`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vpp.api.auth import AuthError, ForbiddenError, InvalidTokenError, KeysUnavailableError
from vpp.services.errors import InvalidInputError, ServiceError

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"


def error_body(
    message: str, code: str, detail: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if detail:
        body["detail"] = list(detail)
    return body


def _validation_detail(errors: Sequence[Any]) -> list[dict[str, Any]]:
    detail = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        field = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        detail.append(
            {"loc": loc, "field": field, "msg": error.get("msg"), "type": error.get("type")}
        )
    return detail


def _metrics_count(request: Request, status: int) -> None:
    state = getattr(request.app.state, "vpp", None)
    if state is not None:
        state.metrics.auth_failures.labels(str(status)).inc()


async def _auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    if isinstance(exc, ForbiddenError):
        status, code, headers = 403, "FORBIDDEN", {}
    elif isinstance(exc, KeysUnavailableError):
        status, code, headers = 503, "SERVICE_UNAVAILABLE", {"Retry-After": "5"}
    else:
        assert isinstance(exc, InvalidTokenError)
        status, code = 401, "UNAUTHENTICATED"
        headers = {"WWW-Authenticate": 'Bearer realm="vpp", error="invalid_token"'}
    if status in (401, 403):
        _metrics_count(request, status)
    if request.url.path.startswith(GRAPHQL_PATH):
        body: dict[str, Any] = {
            "data": None,
            "errors": [{"message": exc.message, "extensions": {"code": code}}],
        }
    else:
        body = error_body(exc.message, code)
    return JSONResponse(body, status_code=status, headers=headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    detail = None
    if isinstance(exc, InvalidInputError):
        detail = [{"field": p.field, "msg": p.message} for p in exc.problems]
    return JSONResponse(error_body(exc.message, exc.code, detail), status_code=exc.status)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc.errors())
    summary = "; ".join(f"{d['field']}: {d['msg']}" for d in detail[:5])
    return JSONResponse(
        error_body(f"invalid input: {summary}", "BAD_USER_INPUT", detail), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return JSONResponse(
        error_body(str(exc.detail), code), status_code=exc.status_code, headers=exc.headers
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
