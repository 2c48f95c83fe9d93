"""``/docs`` without a CDN: Swagger UI served from the ``swagger-ui-bundle-v2`` package.

FastAPI's own ``/docs`` page loads Swagger UI's script and style from a CDN, so it is blank
on a machine without internet. Here the same page points at the copies that the
``swagger-ui-bundle-v2`` wheel installs (Swagger UI 5, Apache-2.0, which renders the OpenAPI 3.1
FastAPI writes), mounted under ``/docs/assets``; the favicon is the bundle's, and the online
validator badge is off. The page references no external URL.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path


def add_offline_docs(app: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve Swagger UI for ``app``'s OpenAPI schema at ``docs_url`` from local files.

    ``app`` must be created with ``docs_url=None`` (and ``redoc_url=None``: ReDoc has no local
    copy) so FastAPI's CDN page does not take the route first.
    """
    assets = docs_url.rstrip("/") + "/assets"
    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui-assets")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
