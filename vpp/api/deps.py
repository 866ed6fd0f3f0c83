"""Dependencies the routes share, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from vpp.api.auth import Principal, Role, bearer_token, require_role
from vpp.api.state import ApiState
from vpp.store.database import Database


def state_of(connection: HTTPConnection) -> ApiState:
    state: ApiState | None = getattr(connection.app.state, "vpp", None)
    if state is None:
        raise RuntimeError("the app's lifespan has not run: no clients are open")
    return state


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per request for nothing.
async def get_state(connection: HTTPConnection) -> ApiState:
    return state_of(connection)


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_db(state: StateDep) -> Database:
    return state.db


DbDep = Annotated[Database, Depends(get_db)]

# Declares the scheme in the OpenAPI document; the header itself is read below so that a
# missing or malformed one gets our own 401 and message.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="keycloak",
    description="An access token of Keycloak realm `vpp` (audience `vpp-api`).",
)


async def current_principal(
    connection: HTTPConnection,
    state: StateDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = bearer_token(connection.headers.get("authorization"))
    return await state.verifier.verify(token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class RequireRole:
    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        return require_role(principal, self.role)


Viewer = Annotated[Principal, Depends(RequireRole(Role.VIEWER))]
Operator = Annotated[Principal, Depends(RequireRole(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(RequireRole(Role.ADMIN))]
