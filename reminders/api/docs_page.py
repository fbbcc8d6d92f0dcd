"""`/` and an offline `/docs`: Swagger UI served from the installed swagger-ui-bundle, no CDN."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"
router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """The dashboard (its login page first): what a person opening the address wants."""
    return RedirectResponse("/ops", status_code=307)


@router.get("/docs")
def docs() -> HTMLResponse:
    """The interactive API documentation, with every asset served by this process."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Aftercare reminders - API docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
def oauth2_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 helper page (kept for completeness; the API uses no OAuth2)."""
    return get_swagger_ui_oauth2_redirect_html()


def mount_assets(app: FastAPI) -> None:
    """Serve Swagger UI's files from the package."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
