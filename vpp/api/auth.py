"""Bearer tokens from Keycloak realm `vpp`: verification and roles.

A token is accepted when its signature verifies with one of the realm's keys (fetched
from the realm's JWKS endpoint through python-keycloak, cached, and fetched again when a
token names a key id the cache does not hold: that is how a key rotation shows), its
issuer is the realm, `vpp-api` is in its audience, it is an access token (`typ` Bearer)
and it has not expired. Roles come from `realm_access.roles`: viewer reads, operator
also dispatches, admin also manages nodes and automation. The realm's roles are
composite (an admin's token lists all three) and the check here is hierarchical as well,
so a token listing only `admin` is still an operator and a viewer.

Verified tokens are remembered (bounded, until they expire), so a client sending the same
token on every request costs one signature check, not one per request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from vpp.config import KeycloakSettings

log = logging.getLogger(__name__)

# Asymmetric algorithms only: a token signed with HS256 (using the public key as an HMAC
# secret) or with "none" is refused before any key is looked at.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
_ROLE_NAMES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Principal:
    """Who made a request, from a verified token."""

    subject: str
    username: str | None
    client_id: str | None
    roles: frozenset[Role]
    expires_at: float  # epoch seconds

    def has(self, role: Role) -> bool:
        """True if one of the roles includes `role` (admin ⊃ operator ⊃ viewer)."""
        return any(_RANK[held] >= _RANK[role] for held in self.roles)

    @property
    def name(self) -> str:
        return self.username or self.client_id or self.subject


class AuthError(Exception):
    """A request's credentials cannot be accepted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTokenError(AuthError):
    """No token, or a token that fails verification: 401 / UNAUTHENTICATED."""


class ForbiddenError(AuthError):
    """A valid token whose roles do not allow the operation: 403 / FORBIDDEN."""


def require_role(principal: Principal, role: Role) -> Principal:
    if not principal.has(role):
        raise ForbiddenError(f"this needs role {role.value}; the token has {_listed(principal)}")
    return principal


def _listed(principal: Principal) -> str:
    return ", ".join(sorted(r.value for r in principal.roles)) or "no platform role"


class KeysUnavailableError(AuthError):
    """The realm's keys could not be fetched, so no token can be checked: 503."""


class KeySource(Protocol):
    async def fetch(self) -> Mapping[str, Any]:
        """The realm's JWKS document (`{"keys": [...]}`)."""
        ...

    async def close(self) -> None: ...


class KeycloakKeySource:
    """The realm's keys from its OIDC certs endpoint, through python-keycloak."""

    def __init__(self, keycloak: KeycloakSettings, timeout_s: int = 5) -> None:
        from keycloak import KeycloakOpenID

        self._openid = KeycloakOpenID(
            server_url=keycloak.url,
            realm_name=keycloak.realm,
            client_id=keycloak.audience,
            timeout=timeout_s,
        )

    async def fetch(self) -> Mapping[str, Any]:
        certs: Mapping[str, Any] = await self._openid.a_certs()
        return certs

    async def close(self) -> None:
        await self._openid.connection.aclose()


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` value."""
    if not authorization:
        raise InvalidTokenError("no bearer token: send Authorization: Bearer <access token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


def _b64json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidTokenError(f"malformed token: {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise InvalidTokenError(f"malformed token: {what} is not a JSON object")
    return value


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 30.0,
        refresh_min_interval_s: float = 10.0,
        cache_size: int = 1_024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._refresh_min_interval = refresh_min_interval_s
        self._cache_size = cache_size
        self._clock = clock
        self._keys: dict[str, jwk.JWK] = {}
        self._fetched_at: float | None = None  # monotonic
        self._fetch_failed = False
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self.fetches = 0

    @classmethod
    def for_keycloak(cls, keycloak: KeycloakSettings) -> TokenVerifier:
        return cls(KeycloakKeySource(keycloak), issuer=keycloak.issuer, audience=keycloak.audience)

    async def close(self) -> None:
        await self._source.close()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; `InvalidTokenError` otherwise."""
        now = self._clock()
        known = self._verified.get(token)
        if known is not None:
            if now < known.expires_at + self.leeway_s:
                self._verified.move_to_end(token)
                return known
            del self._verified[token]
            raise InvalidTokenError("token expired")
        principal = await self._verify(token, now)
        self._verified[token] = principal
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str, now: float) -> Principal:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidTokenError("malformed token: expected header.payload.signature")
        header = _b64json(parts[0], "header")
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidTokenError(f"token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("token names no signing key (kid)")
        key = await self._key(kid)
        signed = jws.JWS()
        try:
            signed.deserialize(token)
            signed.verify(key, alg=alg)
        except JWException:
            raise InvalidTokenError("token signature does not verify") from None
        claims = json.loads(signed.payload)
        if not isinstance(claims, dict):
            raise InvalidTokenError("malformed token: claims are not a JSON object")
        return self._check_claims(claims, now)

    def _check_claims(self, claims: dict[str, Any], now: float) -> Principal:
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise InvalidTokenError("token has no expiry (exp)")
        if now >= exp + self.leeway_s:
            raise InvalidTokenError("token expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and now < nbf - self.leeway_s:
            raise InvalidTokenError("token not valid yet (nbf)")
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError(f"token issuer is not {self.issuer}")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidTokenError(f"token audience does not include {self.audience}")
        typ = claims.get("typ")
        if typ is not None and str(typ).lower() != "bearer":
            raise InvalidTokenError(f"not an access token (typ {typ})")
        subject = claims.get("sub")
        realm_access = claims.get("realm_access")
        raw_roles = realm_access.get("roles", []) if isinstance(realm_access, dict) else []
        roles = frozenset(Role(r) for r in raw_roles if r in _ROLE_NAMES)
        return Principal(
            subject=str(subject) if subject is not None else "",
            username=_optional_str(claims.get("preferred_username")),
            client_id=_optional_str(claims.get("azp")),
            roles=roles,
            expires_at=float(exp),
        )

    async def _key(self, kid: str) -> jwk.JWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            fetched_at = self._fetched_at
            recent = (
                fetched_at is not None
                and time.monotonic() - fetched_at < self._refresh_min_interval
            )
            if not recent:
                await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            if not self._keys and self._fetch_failed:
                raise KeysUnavailableError("the identity provider's keys are unavailable")
            raise InvalidTokenError("token signed with a key the realm does not have")
        return key

    async def _refresh(self) -> None:
        # A failure also counts as a fetch for the rate limit, so a flood of tokens while
        # the identity provider is away does not become a flood of requests to it.
        self._fetched_at = time.monotonic()
        try:
            document = await self._source.fetch()
        except Exception as exc:
            log.warning("fetching the realm's keys failed: %s", exc)
            self._fetch_failed = True
            return
        self._fetch_failed = False
        self.fetches += 1
        keys: dict[str, jwk.JWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwk.JWK(**entry)
            except (JWException, ValueError, TypeError) as exc:
                log.warning("skipping realm key %s: %s", kid, exc)
        self._keys = keys
        log.info("realm keys loaded: %s", ", ".join(sorted(keys)) or "none")


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
