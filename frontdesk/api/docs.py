"""The API docs at /docs: Swagger UI served from the installed `swagger-ui-bundle` package (no CDN), started
by a script file of ours (no inline script), under the pages' Content-Security-Policy.

The files are served from /docs/static/. When FRONTDESK_API_DOCS=false the app mounts none of this and
serves no /openapi.json.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse
from swagger_ui_bundle import swagger_ui_path

PAGE = Path(__file__).resolve().parents[1] / "api_docs"
SWAGGER = Path(swagger_ui_path)
FILES = {
    "swagger-ui.css": (SWAGGER, "text/css"),
    "swagger-ui-bundle.js": (SWAGGER, "text/javascript"),
    "favicon-32x32.png": (SWAGGER, "image/png"),
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
