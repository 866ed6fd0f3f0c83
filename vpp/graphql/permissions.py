"""Field permissions by realm role: viewer reads; operator also dispatches; admin also
manages nodes and automation. No principal at all is UNAUTHENTICATED (HTTP requests
without a valid token never get this far: they are answered 401; this guards anything
that reaches the schema another way)."""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import GraphQLError
from strawberry.permission import BasePermission
from strawberry.types import Info

from vpp.api.auth import Role
from vpp.graphql.context import Context

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"


class _HasRole(BasePermission):
    role: ClassVar[Role]
    error_extensions: ClassVar[dict[str, Any]] = {"code": FORBIDDEN}  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise GraphQLError(
                "not authenticated: send a bearer token from realm vpp",
                extensions={"code": UNAUTHENTICATED},
            )
        return principal.has(self.role)


class IsViewer(_HasRole):
    role = Role.VIEWER
    message = "this needs role viewer"


class IsOperator(_HasRole):
    role = Role.OPERATOR
    message = "this needs role operator"


class IsAdmin(_HasRole):
    role = Role.ADMIN
    message = "this needs role admin"
