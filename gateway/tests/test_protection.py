"""Protection at the door: login lockout, the per-caller rate limit, the circuit breaker per
service, and proxied requests counted in /metrics."""

import asyncio
import threading

from sqlalchemy import text

from tongban.gateway.protection import hashing
from tongban.shared.testing.plugin import wait_for


async def test_failed_logins_lock_the_account_for_a_while(start_gateway):
    async with start_gateway(login_max_failures_per_account=3) as gw:
        for _ in range(3):
            assert (await gw.login("citizen", "wrong-password")).status_code == 400
        r = await gw.login("citizen")  # the right password does not help while locked
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "login_locked" and int(r.headers["retry-after"]) > 0
        assert (await gw.login("clerk")).status_code == 200  # other accounts are not affected
        for _ in range(3):
            r = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("shenzhen", "x"))
            assert r.status_code == 401
        r = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                 auth=("shenzhen", "Shenzhen#2026"))
        assert r.status_code == 429


async def test_the_lockout_is_shared_by_every_gateway_process_and_outlives_a_restart(start_gateway):
    async with start_gateway(login_max_failures_per_account=3) as one:
        async with start_gateway(login_max_failures_per_account=3) as other:  # a second process, same database
            assert (await one.login("citizen", "wrong-password")).status_code == 400
            assert (await other.login("citizen", "wrong-password")).status_code == 400
            assert (await one.login("citizen", "wrong-password")).status_code == 400
            assert (await other.login("citizen")).json()["code"] == "login_locked"
        assert (await one.login("citizen")).json()["code"] == "login_locked"
        # A right password before the limit clears the account's count, everywhere.
        assert (await one.login("clerk", "wrong-password")).status_code == 400
        assert (await one.login("clerk", "wrong-password")).status_code == 400
        assert (await one.login("clerk")).status_code == 200
        assert (await one.login("clerk", "wrong-password")).status_code == 400
        assert (await one.login("clerk")).status_code == 200
    async with start_gateway(login_max_failures_per_account=3) as restarted:
        assert (await restarted.login("citizen")).json()["code"] == "login_locked"


async def test_failures_count_within_their_window(start_gateway):
    async with start_gateway(login_max_failures_per_account=3, login_failure_window_seconds=0.5) as gw:
        for _ in range(2):
            assert (await gw.login("citizen", "wrong-password")).status_code == 400
        await asyncio.sleep(0.6)       # the window is over: counting starts again
        for _ in range(2):
            assert (await gw.login("citizen", "wrong-password")).status_code == 400
        assert (await gw.login("citizen")).status_code == 200


async def test_failed_logins_from_one_address_lock_that_address(start_gateway):
    async with start_gateway(login_max_failures_per_ip=4) as gw:
        for name in ("a1", "a2", "a3", "a4"):
            assert (await gw.login(name, "nope")).status_code == 400
        r = await gw.login("admin")
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests" and r.headers["retry-after"]


def at(address: str) -> dict[str, str]:
    """A request as a trusted proxy in front says it came from `address`."""
    return {"X-Forwarded-For": address}


async def login_from(gw, address: str, username: str, password: str):
    return await gw.client.post("/auth/token", headers=at(address), data={
        "grant_type": "password", "username": username, "password": password})


async def test_a_guesser_at_one_address_backs_off_while_the_owner_elsewhere_logs_in(start_gateway):
    async with start_gateway(forwarded_allow_ips="127.0.0.1", login_free_failures_per_address=2,
                             login_backoff_seconds=30, login_max_failures_per_account=50) as gw:
        for _ in range(2):
            assert (await login_from(gw, "198.51.100.7", "citizen", "wrong")).status_code == 400
        r = await login_from(gw, "198.51.100.7", "citizen", "Citizen#2026")  # backing off: even the right one waits
        assert r.status_code == 429 and r.json()["code"] == "login_locked" and int(r.headers["retry-after"]) >= 1
        r = await login_from(gw, "203.0.113.5", "citizen", "Citizen#2026")  # the owner, elsewhere
        assert r.status_code == 200, r.text
        assert (await login_from(gw, "198.51.100.7", "clerk", "Clerk#2026")).status_code == 200  # other accounts


async def test_the_back_off_doubles(start_gateway):
    async with start_gateway(login_free_failures_per_address=1, login_backoff_seconds=60) as gw:
        assert (await gw.login("citizen", "wrong")).status_code == 400
        first = int((await gw.login("citizen", "wrong")).headers["retry-after"])
        async with gw.state.sessionmaker() as session, session.begin():  # as if the first wait were over
            await session.execute(text("UPDATE gateway.login_failure SET locked_until = now() WHERE key LIKE 'pair:%'"))
        assert (await gw.login("citizen", "wrong")).status_code == 400
        second = int((await gw.login("citizen", "wrong")).headers["retry-after"])
        assert 50 <= first <= 60 and 110 <= second <= 120


async def test_an_account_guessed_from_many_addresses_locks_only_briefly(start_gateway):
    async with start_gateway(forwarded_allow_ips="127.0.0.1", login_max_failures_per_account=3,
                             login_account_lockout_seconds=0.5) as gw:
        for n in range(3):
            assert (await login_from(gw, f"198.51.100.{n}", "citizen", "wrong")).status_code == 400
        r = await login_from(gw, "203.0.113.5", "citizen", "Citizen#2026")
        assert r.status_code == 429 and r.json()["code"] == "login_locked" and r.headers["retry-after"] == "1"

        async def owner_in() -> bool:  # polled: the lock is short, and then the owner is in
            return (await login_from(gw, "203.0.113.5", "citizen", "Citizen#2026")).status_code == 200
        await wait_for(owner_in, timeout=10)


async def test_a_forwarded_for_from_an_untrusted_peer_is_no_new_address(start_gateway):
    """From loopback, a new X-Forwarded-For each time once made a new address each time."""
    async with start_gateway(login_max_failures_per_ip=4) as gw:
        for n, name in enumerate(("a1", "a2", "a3", "a4")):
            assert (await login_from(gw, f"198.51.100.{n}", name, "nope")).status_code == 400
        r = await login_from(gw, "198.51.100.99", "admin", "Admin#2026")
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"


async def test_registration_is_throttled_per_address(start_gateway):
    async with start_gateway(forwarded_allow_ips="127.0.0.1", registrations_per_ip=2) as gw:
        for _ in range(2):             # counted before anything else: a bad form costs an attempt too
            r = await gw.client.post("/auth/register", json={"username": "x"}, headers=at("198.51.100.7"))
            assert r.status_code == 422
        r = await gw.client.post("/auth/register", json={"username": "x"}, headers=at("198.51.100.7"))
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests" and int(r.headers["retry-after"]) > 1
        r = await gw.client.post("/auth/register", json={"username": "x"}, headers=at("203.0.113.5"))
        assert r.status_code == 422    # another address is not affected


async def test_password_hashing_is_bounded_and_the_excess_is_told_to_come_back(start_gateway):
    """At most `password_hash_slots` argon2 runs at once and `password_hash_queue` wait: a flood
    of logins cannot pile up 64 MiB hashes without bound; the excess gets 503 with Retry-After."""
    async with start_gateway(password_hash_slots=1, password_hash_queue=1) as gw:
        release = threading.Event()
        gate = hashing._gate
        assert gate is not None and gate.slots == 1 and gate.queue == 1
        busy = [asyncio.create_task(gate.run(release.wait, 10)) for _ in range(2)]  # one runs, one waits

        async def both_admitted() -> bool:
            return gate.admitted == 2
        await wait_for(both_admitted)
        r = await gw.login("citizen")
        assert r.status_code == 503 and r.json()["code"] == "server_busy" and r.headers["retry-after"] == "1"
        r = await gw.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                 auth=("shenzhen", "Shenzhen#2026"))
        assert r.status_code == 503 and r.json()["code"] == "server_busy"
        release.set()
        await asyncio.gather(*busy)
        assert (await gw.login("citizen")).status_code == 200   # not counted as a failed login
        assert gate.refused == 2 and gate.admitted == 0


async def test_each_caller_is_rate_limited_on_proxied_routes(start_gateway, upstream):
    async with start_gateway(rate_limit_per_second=0.5, rate_limit_burst=3) as gw:
        citizen, clerk = await gw.bearer("citizen"), await gw.bearer("clerk")
        for _ in range(3):
            assert (await gw.client.get("/api/v1/catalog/echo/x", headers=citizen)).status_code == 200
        r = await gw.client.get("/api/v1/catalog/echo/x", headers=citizen)
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
        assert int(r.headers["retry-after"]) >= 1
        assert (await gw.client.get("/api/v1/catalog/echo/x", headers=clerk)).status_code == 200
        assert upstream.hits == 4


async def test_a_failing_service_opens_its_circuit_then_recovers(start_gateway, upstream):
    async with start_gateway(breaker_failures=2, breaker_cooldown_seconds=0.5, upstream_timeout=0.2) as gw:
        for _ in range(2):
            assert (await gw.client.get("/api/v1/catalog/slow")).status_code == 504
        hits = upstream.hits
        r = await gw.client.get("/api/v1/catalog/echo/x")
        assert r.status_code == 503 and r.json()["code"] == "circuit_open" and r.headers["retry-after"]
        assert upstream.hits == hits  # answered at the door, the service was not asked
        # Other services have their own circuits.
        assert (await gw.client.get("/api/v1/cases/items")).json()["code"] == "upstream_unavailable"
        await asyncio.sleep(0.6)  # the cool-down passes: one trial request goes through and closes it
        assert (await gw.client.get("/api/v1/catalog/echo/x")).status_code == 200
        assert (await gw.client.get("/api/v1/catalog/echo/y")).status_code == 200
        upstream.release.set()


async def test_a_service_answering_503_on_a_kept_alive_connection_opens_its_circuit(start_gateway, upstream):
    async with start_gateway(breaker_failures=2, breaker_cooldown_seconds=30) as gw:
        for _ in range(2):  # passed through unchanged, and counted as failures
            r = await gw.client.get("/api/v1/catalog/unavailable")
            assert r.status_code == 503 and r.content == b'{"status":503}'
        r = await gw.client.get("/api/v1/catalog/echo/x")
        assert r.status_code == 503 and r.json()["code"] == "circuit_open"
        assert upstream.hits == 2


async def test_a_database_blip_at_a_service_does_not_open_its_circuit(start_gateway, upstream):
    """A service's own 503 problem+json (database_unavailable) is the service answering as it
    should: passed through, never counted against its breaker."""
    async with start_gateway(breaker_failures=2, breaker_cooldown_seconds=30) as gw:
        for _ in range(6):             # kept-alive connections: the short way, and the ASGI way
            r = await gw.client.get("/api/v1/catalog/database-blip")
            assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
        r = await gw.client.post("/api/v1/catalog/database-blip", content=b"{}")  # a body: the ASGI way
        assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
        assert (await gw.client.get("/api/v1/catalog/echo/x")).status_code == 200
        assert gw.state.proxy.upstreams["catalog"].breaker.state == "closed"
        assert upstream.hits == 8       # six blips, the POST, the echo


async def test_an_open_circuit_half_opens_by_default_within_a_second_or_two(start_gateway, upstream):
    from tongban.gateway.config import Settings
    assert Settings.model_fields["breaker_cooldown_seconds"].default <= 2
    async with start_gateway(breaker_failures=2) as gw:
        for _ in range(2):
            assert (await gw.client.get("/api/v1/catalog/unavailable")).status_code == 503
        assert (await gw.client.get("/api/v1/catalog/echo/x")).json()["code"] == "circuit_open"

        async def through() -> bool:  # polled, not timed: the trial request closes the circuit
            return (await gw.client.get("/api/v1/catalog/echo/x")).status_code == 200
        await wait_for(through, timeout=10)
        assert gw.state.proxy.upstreams["catalog"].breaker.state == "closed"


async def test_proxied_requests_are_counted_per_service(gateway, upstream):
    assert (await gateway.client.get("/api/v1/catalog/echo/a/b")).status_code == 200
    assert (await gateway.client.get("/api/v1/catalog/problem")).status_code == 404
    text = (await gateway.client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/api/v1/catalog/*",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/api/v1/catalog/*",status="404"} 1.0' in text
    assert "/api/v1/catalog/echo/a/b" not in text
    # A made-up method is counted, but under OTHER: a client cannot mint series.
    assert (await gateway.client.request("PROPFIND", "/api/v1/catalog/echo/a")).status_code == 405
    text = (await gateway.client.get("/metrics")).text
    assert 'http_requests_total{method="OTHER",route="/api/v1/catalog/*",status="405"} 1.0' in text
    assert "PROPFIND" not in text


async def test_the_per_caller_limit_is_shared_between_gateway_processes(start_gateway, upstream):
    # A slow refill: what the test spends cannot bring a token back.
    async with start_gateway(rate_limit_per_second=0.01, rate_limit_burst=4) as one, \
            start_gateway(rate_limit_per_second=0.01, rate_limit_burst=4) as two:
        citizen = await one.bearer("citizen")
        sub = (await one.client.get("/auth/userinfo", headers=citizen)).json()["sub"]
        for _ in range(4):
            assert (await one.client.get("/api/v1/catalog/echo/x", headers=citizen)).status_code == 200

        async def told() -> bool:  # the other process has not seen this caller itself: it was told
            return two.state.limiter.tokens(sub) < 1
        await wait_for(told, timeout=10)  # within an interval or two (1 s): polled, not timed
        r = await two.client.get("/api/v1/catalog/echo/x", headers=citizen)
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
        assert upstream.hits == 4 and two.state.limit_gossip.charged >= 1
