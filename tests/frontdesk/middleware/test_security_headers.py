"""The security-headers middleware on a small app: pages, JSON and scripts each get what they need."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient

from frontdesk.middleware.security_headers import PAGE_POLICY, SecurityHeadersMiddleware, serves_https


def build_app(*, hsts: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    @app.get("/own-policy")
    async def own_policy() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'none'"})

    @app.get("/data")
    async def data() -> dict[str, str]:
        return {"a": "b"}

    @app.get("/widget.js")
    async def widget() -> Response:
        return Response("void 0;", media_type="text/javascript")

    app.add_middleware(SecurityHeadersMiddleware, hsts=hsts)
    return app


def test_pages_get_the_policy_and_no_framing() -> None:
    with TestClient(build_app(hsts=False)) as client:
        page = client.get("/page")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert "script-src 'self'" in PAGE_POLICY and "unsafe-inline" not in PAGE_POLICY
    assert "frame-ancestors 'none'" in PAGE_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in page.headers


def test_json_and_scripts_get_nosniff_but_no_framing_rules() -> None:
    with TestClient(build_app(hsts=False)) as client:
        for path in ("/data", "/widget.js"):
            response = client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "x-frame-options" not in response.headers  # the widget script stays embeddable
            assert "content-security-policy" not in response.headers


def test_a_route_keeps_its_own_policy_and_https_adds_hsts() -> None:
    with TestClient(build_app(hsts=True)) as client:
        own = client.get("/own-policy")
        data = client.get("/data")
    assert own.headers["content-security-policy"] == "default-src 'none'"
    assert own.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert data.headers["strict-transport-security"].startswith("max-age=")


def test_hsts_only_for_an_https_public_url() -> None:
    assert serves_https("https://support.example.com") and serves_https(" HTTPS://x.example ")
    assert not serves_https("http://support.example.com") and not serves_https(None)
