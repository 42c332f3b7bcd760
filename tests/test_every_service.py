"""Every service has the same shape: it starts alone against the real PostgreSQL and NATS with
its migrated database, answers /healthz and /readyz, documents its endpoints, and keeps an
audit trail that only auditors and admins may read."""

import re
import importlib

import pytest

from tongban.shared.testing.plugin import running_service

SERVICES = ["catalog", "cases", "credentials", "queue", "interop"]
pytestmark = pytest.mark.usefixtures("clean_nats")


@pytest.mark.parametrize("name", SERVICES)
async def test_service_starts_alone_and_reports_health(infra, token_issuer, name):
    definition = importlib.import_module(f"tongban.{name}.main").SERVICE
    async with running_service(definition, infra, token_issuer) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "nats": "ok"}
        spec = (await client.get(f"/api/v1/{name}/openapi.json")).json()
        assert f"/api/v1/{name}/audit-events" in spec["paths"]
        assert (await client.get(f"/api/v1/{name}/docs")).status_code == 200

        audit = f"/api/v1/{name}/audit-events"
        assert (await client.get(audit)).status_code == 401
        citizen = token_issuer.mint("citizen", "cases:read", [name])
        r = await client.get(audit, headers={"Authorization": f"Bearer {citizen}"})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        auditor = token_issuer.mint("auditor", "audit:read", [name])
        page = (await client.get(audit, headers={"Authorization": f"Bearer {auditor}"})).json()
        # Some services record their own start-up (a first signing key, say): only the system acted.
        assert page["total"] == len(page["items"]) and {e["actor_role"] for e in page["items"]} <= {"system"}
        missing = await client.get(f"/api/v1/{name}/no-such-route")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_metrics_report_requests_by_route_backlog_and_lag(infra, token_issuer):
    from tongban.cases.main import SERVICE as CASES

    async with running_service(CASES, infra, token_issuer) as client:
        await client.get("/api/v1/cases/items")
        await client.get("/api/v1/cases/items")
        text = (await client.get("/metrics")).text
        assert 'http_requests_total{method="GET",route="/api/v1/cases/items",status="200"} 2.0' in text
        # The backlog is read on scrape (the calendar's own alert may just have been written).
        assert re.search(r"^outbox_backlog \d+\.0$", text, re.M)
        assert "http_request_duration_seconds_bucket" in text
        assert "dead_letters" in text and "consumer_lag" in text
        one = await client.get("/api/v1/cases/no-such")
        assert one.status_code == 404
        assert 'route="unmatched",status="404"' in (await client.get("/metrics")).text
