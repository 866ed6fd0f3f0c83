"""GraphQL at `/graphql`: the router, its context, and authentication.

HTTP: every operation needs a valid bearer token in the Authorization header (401 with
an UNAUTHENTICATED error otherwise, before anything executes). The GraphiQL page itself
(a GET asking for HTML, no query) loads without one; its requests carry the token set in
its headers editor.

WebSocket (graphql-transport-ws): the token travels in `connection_init`'s payload, as
`{"Authorization": "Bearer <token>"}` (or `authorization`, or `token`). A missing or bad
one closes the socket with 4403 Forbidden, the protocol's answer to a refused
`connection_init`; nothing is subscribed.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UnsetType

from vpp.api.auth import AuthError, bearer_token
from vpp.api.deps import state_of
from vpp.api.errors import GRAPHQL_PATH
from vpp.graphql.context import Context
from vpp.graphql.schema import schema

log = logging.getLogger(__name__)


def _wants_ide(connection: HTTPConnection) -> bool:
    return (
        connection.scope["type"] == "http"
        and connection.scope.get("method") == "GET"
        and "text/html" in connection.headers.get("accept", "")
        and "query" not in connection.query_params
    )


async def get_context(connection: HTTPConnection) -> Context:
    state = state_of(connection)
    if connection.scope["type"] == "websocket" or _wants_ide(connection):
        return Context(state)  # the WebSocket's principal comes with connection_init
    token = bearer_token(connection.headers.get("authorization"))
    return Context(state, await state.verifier.verify(token))


def _token_of(params: object) -> str | None:
    if not isinstance(params, dict):
        return None
    for key in ("Authorization", "authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


class VppGraphQLRouter(GraphQLRouter[Context, None]):
    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            token = bearer_token(_token_of(context.connection_params))
            context.principal = await context.state.verifier.verify(token)
        except AuthError as exc:
            context.state.metrics.auth_failures.labels("401").inc()
            raise ConnectionRejectionError({"message": exc.message}) from None
        log.debug("WebSocket of %s authenticated", context.principal.name)
        return await super().on_ws_connect(context)


def graphql_router(graphiql: bool) -> VppGraphQLRouter:
    context_getter: Any = get_context
    return VppGraphQLRouter(
        schema,
        path=GRAPHQL_PATH,
        context_getter=context_getter,
        graphql_ide="graphiql" if graphiql else None,
        max_subscriptions_per_connection=20,
    )
