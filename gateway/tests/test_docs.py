"""The aggregated OpenAPI document at the gateway's /openapi.json (and Swagger UI at /docs),
built from real FastAPI services under uvicorn."""

from fastapi import FastAPI
from pydantic import BaseModel, create_model

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
