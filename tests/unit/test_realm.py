"""The Keycloak realm file, checked for shape (the live Keycloak test logs in for real)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vpp.config import KeycloakSettings

ROOT = Path(__file__).resolve().parents[2]
REALM_FILE = ROOT / "infra" / "keycloak" / "vpp-realm.json"
KEYCLOAK = KeycloakSettings()

# username -> the realm role it is given; its dev password is "<username>-dev".
DEV_USERS = {"vpp-admin": "admin", "vpp-operator": "operator", "vpp-viewer": "viewer"}


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return data


def _client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    matches = [c for c in realm["clients"] if c["clientId"] == client_id]
    assert len(matches) == 1, f"client {client_id} defined {len(matches)} times"
    client: dict[str, Any] = matches[0]
    return client


def _user(realm: dict[str, Any], username: str) -> dict[str, Any]:
    matches = [u for u in realm["users"] if u["username"] == username]
    assert len(matches) == 1, f"user {username} defined {len(matches)} times"
    user: dict[str, Any] = matches[0]
    return user


def _effective_roles(realm: dict[str, Any], granted: list[str]) -> set[str]:
    """The realm roles a token lists for these granted roles, composites expanded."""
    by_name = {role["name"]: role for role in realm["roles"]["realm"]}
    seen: set[str] = set()
    todo = [name for name in granted if name in by_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += by_name[name].get("composites", {}).get("realm", [])
    return seen


def test_realm_settings(realm: dict[str, Any]) -> None:
    assert realm["realm"] == KEYCLOAK.realm
    assert realm["enabled"] is True
    assert realm["sslRequired"] == "none"
    assert realm["accessTokenLifespan"] == 300
    assert realm["bruteForceProtected"] is True


def test_roles_are_composite_from_admin_down_to_viewer(realm: dict[str, Any]) -> None:
    names = {role["name"] for role in realm["roles"]["realm"]}
    assert {"admin", "operator", "viewer"} <= names
    assert _effective_roles(realm, ["admin"]) == {"admin", "operator", "viewer"}
    assert _effective_roles(realm, ["operator"]) == {"operator", "viewer"}
    assert _effective_roles(realm, ["viewer"]) == {"viewer"}


def test_dashboard_is_a_public_pkce_client(realm: dict[str, Any]) -> None:
    client = _client(realm, KEYCLOAK.dashboard_client_id)
    assert client["publicClient"] is True
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    # any loopback port (Keycloak's RFC 8252 matching): the test API runs on shifted ports
    assert set(client["redirectUris"]) == {"http://127.0.0.1/*", "http://localhost:8000/*"}
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= set(client["webOrigins"])
    assert "*" not in client["webOrigins"]
    assert "secret" not in client


def test_descriptions_fit_keycloaks_columns(realm: dict[str, Any]) -> None:
    # Keycloak stores them in VARCHAR(255): a longer one makes a fresh server fail its
    # realm import and exit at start-up (an existing one skips the import and hides it).
    for client in realm["clients"]:
        assert len(client.get("description", "")) <= 255, client["clientId"]
    for role in realm["roles"]["realm"]:
        assert len(role.get("description", "")) <= 255, role["name"]


def test_automation_is_a_confidential_service_client(realm: dict[str, Any]) -> None:
    client = _client(realm, KEYCLOAK.automation_client_id)
    assert client["publicClient"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["secret"] == KEYCLOAK.automation_client_secret.get_secret_value()
    assert client["serviceAccountsEnabled"] is True
    assert client["directAccessGrantsEnabled"] is True
    assert client["standardFlowEnabled"] is False
    assert client["implicitFlowEnabled"] is False


@pytest.mark.parametrize("client_id", [KEYCLOAK.dashboard_client_id, KEYCLOAK.automation_client_id])
def test_client_tokens_carry_the_api_audience_and_realm_roles(
    realm: dict[str, Any], client_id: str
) -> None:
    client = _client(realm, client_id)
    audiences = [
        mapper["config"]
        for mapper in client.get("protocolMappers", [])
        if mapper["protocolMapper"] == "oidc-audience-mapper"
    ]
    assert len(audiences) == 1
    assert audiences[0]["included.custom.audience"] == KEYCLOAK.audience
    assert audiences[0]["access.token.claim"] == "true"
    # `roles` puts realm_access.roles in the access token; `basic` puts `sub` there.
    assert {"roles", "basic"} <= set(client["defaultClientScopes"])


@pytest.mark.parametrize(("username", "role"), list(DEV_USERS.items()))
def test_dev_user_can_log_in_with_documented_password(
    realm: dict[str, Any], username: str, role: str
) -> None:
    user = _user(realm, username)
    assert user["enabled"] is True
    assert user["emailVerified"] is True
    # Keycloak 26's user profile refuses a password grant without these.
    assert user["firstName"]
    assert user["lastName"]
    assert "@" in user["email"]
    assert user.get("requiredActions", []) == []
    assert user["credentials"] == [
        {"type": "password", "value": f"{username}-dev", "temporary": False}
    ]
    assert _effective_roles(realm, user["realmRoles"]) & set(DEV_USERS.values()) == (
        _effective_roles(realm, [role])
    )


def test_no_dev_user_shadows_the_master_admin(realm: dict[str, Any]) -> None:
    assert KEYCLOAK.admin_username not in {user["username"] for user in realm["users"]}


def test_automation_service_account_is_an_operator(realm: dict[str, Any]) -> None:
    accounts = [
        user
        for user in realm["users"]
        if user.get("serviceAccountClientId") == KEYCLOAK.automation_client_id
    ]
    assert len(accounts) == 1
    assert _effective_roles(realm, accounts[0]["realmRoles"]) >= {"operator", "viewer"}
    assert "admin" not in _effective_roles(realm, accounts[0]["realmRoles"])
