"""The operator dashboard (`web/`, a TypeScript app built with npm) served by the API.

- `/config.json`: what the browser needs to log in and talk to the API, built from the
  settings, so no URL is baked into the bundle: Keycloak's realm URL and the dashboard's
  public client, the GraphQL path, the Temporal UI.
- `/`: the built app (`web/dist`), mounted after every API route so the API keeps its
  own paths. A path that names no file gets `index.html` (the app routes in the
  browser), except under the API's own prefixes, which keep their 404. If the app is
  not built (checked on each request), `/` says how to build it.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from vpp.config import Settings

mimetypes.add_type("application/manifest+json", ".webmanifest")

# web/dist beside the package (an editable install or a checkout; the Dockerfile copies it)
DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
# Paths the app never answers with index.html: they belong to the API.
API_PREFIXES = ("/api/", "/graphql", "/docs", "/redoc", "/openapi.json", "/metrics")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VPP dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The dashboard is not built</h1>
<p>The API is running, but <code>web/dist</code> does not exist. Build the dashboard with
<code>./scripts/build-web.sh</code> (or <code>make web</code>; <code>make run</code> does it
too), then reload this page.</p>
<p>Meanwhile: <a href="/graphql">GraphiQL</a>, <a href="/docs">REST docs</a>.</p>
</body></html>
"""


def client_config(settings: Settings) -> dict[str, object]:
    """The dashboard's runtime configuration."""
    keycloak = settings.keycloak
    return {
        "keycloak": {
            "issuer": keycloak.issuer,
            "realm": keycloak.realm,
            "clientId": keycloak.dashboard_client_id,
        },
        "graphqlPath": "/graphql",
        "temporalUi": settings.temporal.ui_url,
    }


def config_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    config = client_config(settings)

    @router.get("/config.json", include_in_schema=False)
    async def dashboard_config() -> JSONResponse:
        return JSONResponse(config, headers={"Cache-Control": "no-cache"})

    return router


class SpaFiles(StaticFiles):
    """Static files with the single-page app's fallback to `index.html`."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = directory / "index.html"

    async def check_config(self) -> None:
        if self.index.is_file():  # an unbuilt app is answered in get_response
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self.index.is_file():
            if _app_route(scope):
                return HTMLResponse(NOT_BUILT, status_code=503)
            raise StarletteHTTPException(404)
        try:
            response = await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404 or not _app_route(scope):
                raise
            response = await super().get_response("index.html", scope)
        if path in ("", ".", "index.html", "sw.js") or response.media_type == "text/html":
            # the shell and the service worker are re-checked on every load; the hashed
            # assets are immutable
            response.headers["Cache-Control"] = "no-cache"
        elif path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _app_route(scope: Scope) -> bool:
    path: str = scope.get("path", "/")
    if any(path.startswith(prefix) for prefix in API_PREFIXES):
        return False
    last = path.rsplit("/", 1)[-1]
    return "." not in last  # /nodes/node-00001 yes, /assets/missing.js no


def mount_dashboard(app: FastAPI, settings: Settings, dist: Path | None = None) -> None:
    """`/config.json`, then the app at `/`: call after every other route is included."""
    app.include_router(config_router(settings))
    app.mount("/", SpaFiles(dist or DEFAULT_DIST), name="dashboard")
