"""The aggregated OpenAPI document at the gateway's /openapi.json (and Swagger UI at /docs),
built from real FastAPI services under uvicorn."""

import asyncio
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, create_model
from tongban.shared.testing.chromium import CHROMIUM, Chromium

# Both services call their model "ItemRead", with different fields: the merged document must keep them apart.
ItemRead = create_model("ItemRead", name=(str, ...))
CaseItem = create_model("ItemRead", code=(str, ...))


def service_app(name: str, model: type[BaseModel]) -> FastAPI:
    app = FastAPI(openapi_url=f"/api/v1/{name}/openapi.json")

    @app.get(f"/api/v1/{name}/items/{{item_id}}", response_model=model)
    async def read(item_id: str) -> model:  # type: ignore[valid-type]
        raise NotImplementedError

    return app


async def test_every_services_routes_are_listed_with_their_components_apart(start_gateway, serve_app):
    serve = serve_app
    async with serve(service_app("catalog", ItemRead), lifespan="off") as catalog, \
            serve(service_app("cases", CaseItem), lifespan="off") as cases, \
            start_gateway(catalog_url=catalog, cases_url=cases) as gw:
        r = await gw.client.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        assert {"/api/v1/catalog/items/{item_id}", "/api/v1/cases/items/{item_id}", "/auth/token",
                "/.well-known/jwks.json"} <= set(doc["paths"])
        schemas = doc["components"]["schemas"]
        assert set(schemas["catalog.ItemRead"]["properties"]) == {"name"}
        assert set(schemas["cases.ItemRead"]["properties"]) == {"code"}
        ok = doc["paths"]["/api/v1/cases/items/{item_id}"]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/cases.ItemRead"
        assert "gateway.TokenResponse" in schemas
        assert set(doc["x-unavailable"]) == {"credentials", "queue", "interop"}
        ui = await gw.client.get("/docs")
        assert ui.status_code == 200 and "/openapi.json" in ui.text


async def test_the_docs_pages_load_their_files_from_the_gateway_not_a_cdn(start_gateway, serve_app):
    """Swagger UI and ReDoc are served from the pinned package's files at the gateway itself: a
    network that reaches no CDN still shows them. The document names the bearer scheme and the
    partners' client credentials; a public operation asks for neither."""
    async with serve_app(service_app("catalog", ItemRead), lifespan="off") as catalog, \
            start_gateway(catalog_url=catalog) as gw:
        for page in ("/docs", "/redoc", "/api/v1/gateway/docs", "/api/v1/gateway/redoc"):
            html = (await gw.client.get(page)).text
            assert "cdn" not in html.lower() and "fonts.googleapis" not in html, page
            scripts = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
            assert scripts and all(s.startswith("/api/v1/gateway/docs/assets/") for s in scripts), (page, scripts)
            for url in scripts:
                r = await gw.client.get(url)
                assert r.status_code == 200 and len(r.content) > 1000, url
        assert (await gw.client.get("/api/v1/gateway/docs/assets/secret.txt")).status_code == 404
        doc = (await gw.client.get("/openapi.json")).json()
        schemes = doc["components"]["securitySchemes"]
        assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        assert schemes["partner"]["flows"]["clientCredentials"]["tokenUrl"] == "/auth/token"
        paths = doc["paths"]
        assert paths["/auth/userinfo"]["get"]["security"][0] == {"bearer": []}
        assert paths["/auth/accounts"]["post"]["security"] == [{"bearer": []}]  # admins only: no partner
        assert "security" not in paths["/.well-known/jwks.json"]["get"]
        assert "security" not in paths["/auth/register"]["post"]
        assert {"居民", "管理"} <= {t["name"] for t in doc["tags"]}
        assert paths["/auth/userinfo"]["get"]["tags"][0] == "居民"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (.ci/run installs it)")
async def test_the_docs_render_their_operations_in_a_browser_with_no_network_beyond_loopback(
        start_gateway, serve_app, tmp_path):
    """Headless Chromium that resolves no name but the loopback opens `/docs`: Swagger UI draws
    the operations of the gateway and of the services (so nothing came from a CDN); a screenshot
    is taken. ReDoc, from the same files, draws them too."""
    async with serve_app(service_app("catalog", ItemRead), lifespan="off") as catalog, \
            start_gateway(catalog_url=catalog) as gw:

        def look() -> tuple[list[str], list[str], bytes, int]:
            browser = Chromium(str(tmp_path / "profile"), loopback_only=True)
            try:
                tab = browser.open(f"{gw.url}/docs")
                browser.wait_for(tab, "document.querySelectorAll('.opblock').length > 10", True, timeout=60)
                paths = browser.evaluate(tab, "[...document.querySelectorAll('.opblock-summary-path')]"
                                              ".map(e => e.getAttribute('data-path'))")
                loaded = browser.evaluate(tab, "performance.getEntriesByType('resource').map(e => e.name)")
                shot = browser.screenshot(tab)
                redoc = browser.open(f"{gw.url}/redoc")
                browser.wait_for(redoc, "document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 10",
                                 True, timeout=60)
                drawn = browser.evaluate(redoc, "document.querySelectorAll('[data-section-id^=\"operation/\"]').length")
                return paths, loaded, shot, drawn
            finally:
                browser.close()

        paths, loaded, shot, drawn = await asyncio.to_thread(look)
        (tmp_path / "docs.png").write_bytes(shot)
        assert {"/auth/token", "/api/v1/catalog/items/{item_id}"} <= set(paths)
        assert loaded and all(url.startswith(gw.url) for url in loaded), loaded
        assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
        assert drawn >= len(paths) // 2
