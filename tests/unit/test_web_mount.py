"""The dashboard's mount on the API: /config.json from the settings, the built app with
its single-page fallback, the API's own paths untouched, and a clear page when the app
is not built."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from vpp.api.web import mount_dashboard
from vpp.config import Settings


def app_with(dist: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/api/nodes")
    async def nodes() -> list[str]:
        return ["n1"]

    mount_dashboard(app, Settings(_env_file=None), dist)
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        return await http.get(path)


async def test_config_names_keycloak_and_the_client() -> None:
    response = await get(app_with(Path("/nonexistent")), "/config.json")
    assert response.status_code == 200
    body = response.json()
    assert body["keycloak"]["issuer"].endswith("/realms/vpp")
    assert body["keycloak"]["clientId"] == "vpp-dashboard"
    assert body["graphqlPath"] == "/graphql"


async def test_the_built_app_and_its_fallback(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>app</html>")
    (tmp_path / "assets" / "a-1.js").write_text("js")
    app = app_with(tmp_path)
    root = await get(app, "/")
    assert root.text == "<html>app</html>"
    assert root.headers["cache-control"] == "no-cache"
    deep = await get(app, "/nodes/node-00001")
    assert deep.status_code == 200
    assert deep.text == "<html>app</html>"
    asset = await get(app, "/assets/a-1.js")
    assert "immutable" in asset.headers["cache-control"]
    assert (await get(app, "/assets/missing.js")).status_code == 404
    assert (await get(app, "/api/unknown")).status_code == 404
    assert (await get(app, "/api/nodes")).json() == ["n1"]


async def test_an_unbuilt_app_says_how_to_build_it(tmp_path: Path) -> None:
    response = await get(app_with(tmp_path / "missing"), "/")
    assert response.status_code == 503
    assert "scripts/build-web.sh" in response.text
