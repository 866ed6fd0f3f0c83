"""The simulator's credentials for the HTTP fallback: a service token from Keycloak.

The telemetry endpoint, like every API route, wants a bearer token from realm `vpp`. The
simulator uses the automation client's client-credentials grant (its service account
holds the operator role) through python-keycloak, keeps the token until shortly before
it expires, and fetches a new one when the API answers 401 (a restarted Keycloak, a
rotated key). One token serves every simulated node of the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from vpp.config import KeycloakSettings

log = logging.getLogger(__name__)

# A token is renewed this long before Keycloak says it expires.
RENEW_BEFORE_S = 30.0


class ServiceTokenAuth(httpx.Auth):
    def __init__(self, keycloak: KeycloakSettings, *, timeout_s: int = 10) -> None:
        from keycloak import KeycloakOpenID

        self._openid = KeycloakOpenID(
            server_url=keycloak.url,
            realm_name=keycloak.realm,
            client_id=keycloak.automation_client_id,
            client_secret_key=keycloak.automation_client_secret.get_secret_value(),
            timeout=timeout_s,
        )
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or self._token is None or time.monotonic() >= self._renew_at:
                answer: dict[str, Any] = await self._openid.a_token(grant_type="client_credentials")
                self._token = str(answer["access_token"])
                lifetime = float(answer.get("expires_in", 60))
                self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_S, lifetime / 2)
            return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        try:
            request.headers["authorization"] = f"Bearer {await self.token()}"
        except Exception as exc:  # Keycloak away: the link retries the reading later
            raise httpx.ConnectError(f"no service token from Keycloak: {exc}") from exc
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            log.info("the API refused the service token; fetching a new one")
            request.headers["authorization"] = f"Bearer {await self.token(renew=True)}"
            yield request

    async def close(self) -> None:
        await self._openid.connection.aclose()
