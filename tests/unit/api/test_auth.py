"""Token verification against keys made here: what is accepted, what is refused, and
how the realm's keys are fetched and refreshed."""

from __future__ import annotations

import base64
import json
import time

import pytest
from jwcrypto import jwk

from tests.unit.api.conftest import (
    AUDIENCE,
    ISSUER,
    FakeKeySource,
    claims_for,
    mint_token,
)
from vpp.api.auth import (
    ForbiddenError,
    InvalidTokenError,
    KeysUnavailableError,
    Role,
    TokenVerifier,
    bearer_token,
    require_role,
)


def verifier(source: FakeKeySource, **kwargs: object) -> TokenVerifier:
    return TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE, **kwargs)  # type: ignore[arg-type]


async def test_a_valid_token_gives_its_user_and_roles(realm_key: jwk.JWK) -> None:
    token = mint_token(realm_key, claims_for(["operator", "viewer", "offline_access"]))
    principal = await verifier(FakeKeySource(realm_key)).verify(token)
    assert principal.username == "someone"
    assert principal.client_id == "vpp-automation"
    assert principal.roles == {Role.OPERATOR, Role.VIEWER}
    assert principal.has(Role.OPERATOR)
    assert not principal.has(Role.ADMIN)


async def test_an_audience_given_as_a_string_is_accepted(realm_key: jwk.JWK) -> None:
    token = mint_token(realm_key, claims_for(["viewer"], aud=AUDIENCE))
    assert (await verifier(FakeKeySource(realm_key)).verify(token)).has(Role.VIEWER)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "token expired"),
        ({"exp": None}, "no expiry"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"iss": "http://keycloak.test/realms/master"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"aud": ["account"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"typ": "ID"}, "not an access token"),
        ({"typ": "Refresh"}, "not an access token"),
    ],
    ids=[
        "expired",
        "no-exp",
        "not-before-in-future",
        "wrong-issuer",
        "no-issuer",
        "wrong-audience",
        "no-audience",
        "id-token",
        "refresh-token",
    ],
)
async def test_bad_claims_are_refused(
    realm_key: jwk.JWK, overrides: dict[str, object], reason: str
) -> None:
    token = mint_token(realm_key, claims_for(["admin"], **overrides))
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier(FakeKeySource(realm_key)).verify(token)


async def test_expiry_has_a_small_leeway_for_clock_skew(realm_key: jwk.JWK) -> None:
    token = mint_token(realm_key, claims_for(["viewer"], exp=int(time.time()) - 5))
    assert await verifier(FakeKeySource(realm_key), leeway_s=30.0).verify(token)


async def test_a_tampered_payload_fails_the_signature(realm_key: jwk.JWK) -> None:
    token = mint_token(realm_key, claims_for(["viewer"]))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"]["roles"].append("admin")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier(FakeKeySource(realm_key)).verify(f"{header}.{forged}.{signature}")


async def test_a_token_signed_by_another_key_under_a_known_kid_fails(
    realm_key: jwk.JWK, stranger_key: jwk.JWK
) -> None:
    token = mint_token(stranger_key, claims_for(["admin"]), kid=realm_key["kid"])
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier(FakeKeySource(realm_key)).verify(token)


async def test_an_unknown_kid_refreshes_the_keys_once(
    realm_key: jwk.JWK, rotated_key: jwk.JWK
) -> None:
    source = FakeKeySource(realm_key)
    check = verifier(source, refresh_min_interval_s=0.0)
    await check.verify(mint_token(realm_key, claims_for(["viewer"])))
    assert source.fetches == 1
    # The realm rotates its key: a token under the new kid makes the verifier fetch again.
    source.keys = [rotated_key, realm_key]
    principal = await check.verify(mint_token(rotated_key, claims_for(["admin"])))
    assert principal.has(Role.ADMIN)
    assert source.fetches == 2
    # Known kids need no fetch.
    await check.verify(mint_token(rotated_key, claims_for(["viewer"], sub="another")))
    assert source.fetches == 2


async def test_a_kid_the_realm_does_not_have_is_refused_and_fetches_are_rate_limited(
    realm_key: jwk.JWK, stranger_key: jwk.JWK
) -> None:
    source = FakeKeySource(realm_key)
    check = verifier(source, refresh_min_interval_s=60.0)
    await check.verify(mint_token(realm_key, claims_for(["viewer"])))
    for n in range(3):
        token = mint_token(stranger_key, claims_for(["admin"], sub=f"attacker-{n}"))
        with pytest.raises(InvalidTokenError, match="key the realm does not have"):
            await check.verify(token)
    # The first fetch was at start; a flood of unknown kids within the interval adds none.
    assert source.fetches == 1


async def test_keys_unreachable_at_first_use_is_unavailable_not_unauthenticated(
    realm_key: jwk.JWK,
) -> None:
    source = FakeKeySource(realm_key)
    source.down = True
    with pytest.raises(KeysUnavailableError):
        await verifier(source).verify(mint_token(realm_key, claims_for(["viewer"])))


async def test_keys_unreachable_later_keeps_the_cached_keys(realm_key: jwk.JWK) -> None:
    source = FakeKeySource(realm_key)
    check = verifier(source, refresh_min_interval_s=0.0)
    await check.verify(mint_token(realm_key, claims_for(["viewer"])))
    source.down = True
    principal = await check.verify(mint_token(realm_key, claims_for(["viewer"], sub="x")))
    assert principal.subject == "x"


@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_symmetric_and_unsigned_algorithms_are_refused(realm_key: jwk.JWK, alg: str) -> None:
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": alg, "kid": realm_key["kid"]}).encode()
    ).decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims_for(["admin"])).encode()).decode()
    with pytest.raises(InvalidTokenError, match="algorithm"):
        await verifier(FakeKeySource(realm_key)).verify(f"{header}.{payload}.c2ln")


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "e30.e30.e30", "W10.e30.e30"])
async def test_malformed_tokens_are_refused(realm_key: jwk.JWK, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        await verifier(FakeKeySource(realm_key)).verify(token)


async def test_a_remembered_token_is_still_refused_once_it_expires(realm_key: jwk.JWK) -> None:
    now = [time.time()]
    check = verifier(FakeKeySource(realm_key), clock=lambda: now[0], leeway_s=0.0)
    token = mint_token(realm_key, claims_for(["viewer"], exp=int(now[0]) + 60))
    await check.verify(token)
    await check.verify(token)  # remembered
    now[0] += 61
    with pytest.raises(InvalidTokenError, match="expired"):
        await check.verify(token)


def test_roles_are_hierarchical() -> None:
    from vpp.api.auth import Principal

    admin_only = Principal("s", "u", None, frozenset({Role.ADMIN}), 0.0)
    assert admin_only.has(Role.VIEWER)
    assert admin_only.has(Role.OPERATOR)
    viewer = Principal("s", "u", None, frozenset({Role.VIEWER}), 0.0)
    assert require_role(viewer, Role.VIEWER) is viewer
    with pytest.raises(ForbiddenError, match="needs role operator"):
        require_role(viewer, Role.OPERATOR)
    nobody = Principal("s", "u", None, frozenset(), 0.0)
    with pytest.raises(ForbiddenError, match="no platform role"):
        require_role(nobody, Role.VIEWER)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_a_missing_or_non_bearer_header_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        bearer_token(header)


def test_a_bearer_header_gives_its_token() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"
