from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException

from vpp.config import Settings

DEV_USERS = {
    "vpp-admin": ("vpp-admin-dev", "admin"),
    "vpp-operator": ("vpp-operator-dev", "operator"),
    "vpp-viewer": ("vpp-viewer-dev", "viewer"),
}


def _token_url(settings: Settings) -> str:
    return f"{settings.keycloak.issuer}/protocol/openid-connect/token"


async def _realm_keys(settings: Settings) -> jwk.JWKSet:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{settings.keycloak.issuer}/protocol/openid-connect/certs")
    response.raise_for_status()
    return jwk.JWKSet.from_json(response.text)


def _verified_claims(token: str, keys: jwk.JWKSet) -> dict[str, Any]:
    checked = jwt.JWT(jwt=token, key=keys, expected_type="JWS")
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


async def _password_grant(settings: Settings, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            _token_url(settings),
            data={
                "grant_type": "password",
                "client_id": settings.keycloak.automation_client_id,
                "client_secret": settings.keycloak.automation_client_secret.get_secret_value(),
                "username": username,
                "password": password,
                "scope": "openid",
            },
        )


@pytest.mark.parametrize("username", sorted(DEV_USERS))
async def test_dev_user_token_verifies_and_holds_its_role(
    settings: Settings, username: str
) -> None:
    password, role = DEV_USERS[username]
    response = await _password_grant(settings, username, password)
    assert response.status_code == 200, response.text
    claims = _verified_claims(response.json()["access_token"], await _realm_keys(settings))
    assert claims["iss"] == settings.keycloak.issuer
    assert claims["preferred_username"] == username
    assert role in claims["realm_access"]["roles"]
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert settings.keycloak.audience in audience


async def test_roles_are_nested_admin_operator_viewer(settings: Settings) -> None:
    keys = await _realm_keys(settings)
    roles = {}
    for username, (password, _) in DEV_USERS.items():
        response = await _password_grant(settings, username, password)
        claims = _verified_claims(response.json()["access_token"], keys)
        roles[username] = {
            r for r in claims["realm_access"]["roles"] if r in {"admin", "operator", "viewer"}
        }
    assert roles == {
        "vpp-admin": {"admin", "operator", "viewer"},
        "vpp-operator": {"operator", "viewer"},
        "vpp-viewer": {"viewer"},
    }


async def test_wrong_password_gets_no_token(settings: Settings) -> None:
    response = await _password_grant(settings, "vpp-viewer", "not-the-password")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


async def test_tampered_token_fails_verification(settings: Settings) -> None:
    response = await _password_grant(settings, "vpp-viewer", DEV_USERS["vpp-viewer"][0])
    header, payload, signature = response.json()["access_token"].split(".")
    forged_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    # No realm key verifies a changed payload.
    with pytest.raises(JWException):
        _verified_claims(f"{header}.{forged_payload}.{signature}", await _realm_keys(settings))


async def test_automation_client_gets_a_service_token(settings: Settings) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            _token_url(settings),
            data={"grant_type": "client_credentials"},
            auth=(
                settings.keycloak.automation_client_id,
                settings.keycloak.automation_client_secret.get_secret_value(),
            ),
        )
    assert response.status_code == 200, response.text
    claims = _verified_claims(response.json()["access_token"], await _realm_keys(settings))
    assert claims["azp"] == settings.keycloak.automation_client_id
    assert "operator" in claims["realm_access"]["roles"]
