"""NATS is part of the trust boundary: each service connects as itself and may publish only its
own subjects. Against the test server, which runs the platform's authorization
(tongban.shared.events.identity): svc-queue cannot publish a case approval (which would make
svc-credentials issue a licence) nor the gateway's revocations or rate-limit gossip; an
anonymous client cannot connect; svc-cases publishes its own events as before."""

import nats
import nats.errors
import pytest

from tongban.shared.events import bus
from tongban.shared.testing.plugin import wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")


async def connect_as(infra, name: str):
    own = infra.nats_settings(name)
    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    nc = await nats.connect(infra.nats.address, user=own["nats_user"], password=own["nats_password"],
                            inbox_prefix=f"_INBOX.{name}", error_cb=on_error, allow_reconnect=False)
    return nc, violations


async def test_svc_queue_cannot_publish_a_case_approval(infra):
    cases, _ = await connect_as(infra, "cases")
    queue, violations = await connect_as(infra, "queue")
    try:
        await bus.ensure_stream(cases.jetstream(), "cases")
        with pytest.raises(nats.errors.TimeoutError):  # the server drops it: no ack ever comes
            await queue.jetstream().publish("cases.case.approved", b"{}", timeout=1.0)
        for subject in ("gateway.token.revoked", "_tongban.gateway.ratelimit.used"):
            await queue.publish(subject, b"{}")
        await queue.flush()

        async def reported() -> bool:
            return len(violations) >= 3

        await wait_for(reported, timeout=5)
        assert all("permissions violation" in v.lower() for v in violations)
        assert any('"cases.case.approved"' in v for v in violations)
        assert (await cases.jetstream().stream_info("CASES")).state.messages == 0
    finally:
        await queue.close()
        await cases.close()


async def test_an_anonymous_client_cannot_connect(infra):
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(infra.nats.address, allow_reconnect=False, connect_timeout=2)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(infra.nats.address, user="queue", password="not-its-password", allow_reconnect=False,
                           connect_timeout=2)


async def test_svc_cases_publishes_its_own_events(infra):
    cases, violations = await connect_as(infra, "cases")
    try:
        js = cases.jetstream()
        await bus.ensure_stream(js, "cases")
        ack = await js.publish("cases.case.approved", b"{}", timeout=2.0)
        assert ack.stream == "CASES" and ack.seq == 1
        assert violations == []
    finally:
        await cases.close()


async def test_a_service_cannot_read_another_services_inbox(infra):
    queue, violations = await connect_as(infra, "queue")
    try:
        await queue.subscribe("_INBOX.cases.>")
        await queue.flush()

        async def reported() -> bool:
            return bool(violations)

        await wait_for(reported, timeout=5)
        assert "subscription" in violations[0].lower()
    finally:
        await queue.close()
