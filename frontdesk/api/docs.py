"""The API docs at /docs: Swagger UI 5 served from the files the installed `fastapi-offline` package ships
(no CDN; only its files are used), started by a script file of ours (no inline script), under the pages'
Content-Security-Policy.

The files are served from /docs/static/. When FRONTDESK_API_DOCS=false the app mounts none of this and
serves no /openapi.json.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

PAGE = Path(__file__).resolve().parents[1] / "api_docs"


def _swagger_folder() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        msg = "the package fastapi-offline is not installed: it ships Swagger UI's files for /docs"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "static"


SWAGGER = _swagger_folder()
FILES = {
    "swagger-ui.css": (SWAGGER, "text/css"),
    "swagger-ui-bundle.js": (SWAGGER, "text/javascript"),
    "favicon.png": (SWAGGER, "image/png"),
    "docs.js": (PAGE, "text/javascript"),
}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs_page() -> FileResponse:
    """The interactive API docs (Swagger UI over /openapi.json)."""
    return FileResponse(PAGE / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/docs/static/{name}")
async def docs_file(name: str) -> FileResponse:
    """Swagger UI's script, stylesheet and icon, and the script that starts it."""
    if name not in FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no docs file {name!r}; the docs are at /docs")
    folder, media_type = FILES[name]
    return FileResponse(folder / name, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})
