"""Keys and tokens made here, standing in for Keycloak's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from jwcrypto import jwk, jwt

ISSUER = "http://keycloak.test/realms/vpp"
AUDIENCE = "vpp-api"


class FakeKeySource:
    """A JWKS endpoint: the public keys it serves can change; it can be down."""

    def __init__(self, *keys: jwk.JWK) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.down:
            raise ConnectionError("identity provider unreachable")
        return {"keys": [json.loads(k.export_public()) | {"use": "sig"} for k in self.keys]}

    async def close(self) -> None:
        return None


def make_key(kid: str) -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid=kid, alg="RS256")


@pytest.fixture(scope="session")
def realm_key() -> jwk.JWK:
    return make_key("realm-key-1")


@pytest.fixture(scope="session")
def rotated_key() -> jwk.JWK:
    return make_key("realm-key-2")


@pytest.fixture(scope="session")
def stranger_key() -> jwk.JWK:
    return make_key("stranger")


Mint = Callable[..., str]


def claims_for(roles: list[str], **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "user-1",
        "typ": "Bearer",
        "azp": "vpp-automation",
        "preferred_username": "someone",
        "iat": now,
        "exp": now + 300,
        "realm_access": {"roles": ["default-roles-vpp", *roles]},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def mint_token(
    key: jwk.JWK, claims: dict[str, Any], *, kid: str | None = None, alg: str = "RS256"
) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid if kid is not None else key["kid"]}
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    serialized: str = token.serialize()
    return serialized
