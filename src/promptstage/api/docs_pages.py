"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from the package, without internet.

The assets are vendored, pinned, in ``api/docs_assets/`` (with their licences; its README
names the versions) and served at ``/docs/assets/``. The pages load nothing from another
origin and run no inline script, so their CSP (``headers.DOCS_CSP``) names ``'self'`` only.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
SWAGGER_JS = f"{ASSETS}/swagger-ui-bundle-5.35.0.js"
SWAGGER_CSS = f"{ASSETS}/swagger-ui-5.35.0.css"
SWAGGER_INIT = f"{ASSETS}/swagger-init.js"
REDOC_JS = f"{ASSETS}/redoc.standalone-2.5.2.js"

_SWAGGER = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>promptstage API (Swagger UI)</title>
<link rel="stylesheet" href="{SWAGGER_CSS}">
</head><body><div id="swagger-ui" data-spec-url="/openapi.json"></div>
<script src="{SWAGGER_JS}"></script>
<script src="{SWAGGER_INIT}"></script>
</body></html>
"""

_REDOC = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>promptstage API (ReDoc)</title>
</head><body><redoc spec-url="/openapi.json"></redoc>
<script src="{REDOC_JS}"></script>
</body></html>
"""


def install(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets (create the app with
    ``docs_url=None, redoc_url=None``)."""
    app.mount(
        ASSETS, StaticFiles(packages=[("promptstage.api", "docs_assets")]), name="docs-assets"
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC)
