"""Revocation across a NATS restart: the gateway and svc-cases run as real processes, each with
its own NATS identity; the NATS server is killed (SIGKILL) and started again on the same port
and store; a token logged out afterwards is refused by svc-cases called directly, not only by
the gateway (every process's revocation follower made its consumer again)."""

import asyncio

import httpx

from tongban.cases.main import SERVICE as CASES
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.localinfra import ServiceProcess, free_port
from tongban.shared.testing.plugin import wait_for


def env_of(name: str, database_url: str, infra, **extra: str) -> dict[str, str]:
    p = name.upper() + "_"
    own = infra.nats_settings(name)
    return {f"{p}DATABASE_URL": database_url, f"{p}NATS_URL": infra.nats.address, f"{p}LOG_LEVEL": "INFO",
            f"{p}NATS_USER": own["nats_user"], f"{p}NATS_PASSWORD": own["nats_password"],
            **{p + k: v for k, v in extra.items()}}


async def test_a_token_logged_out_after_a_nats_restart_is_refused_by_a_service(infra, clean_nats, tmp_path):
    gw_db, cases_db = infra.fresh_database(GATEWAY), infra.fresh_database(CASES)
    engine = make_engine(gw_db, 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    gw_port, cases_port = free_port(), free_port()
    gateway = ServiceProcess("gateway", "tongban.gateway.main:create_app", gw_port,
                             env_of("gateway", gw_db, infra, CASES_URL=f"http://127.0.0.1:{cases_port}"),
                             log_file=tmp_path / "gateway.log", http=GATEWAY.server_protocol).start()
    cases = ServiceProcess("cases", "tongban.cases.main:create_app", cases_port,
                           env_of("cases", cases_db, infra, JWKS_URL=f"http://127.0.0.1:{gw_port}/.well-known/jwks.json"),
                           log_file=tmp_path / "cases.log").start()
    try:
        await asyncio.gather(asyncio.to_thread(gateway.wait_ready), asyncio.to_thread(cases.wait_ready))
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=10) as http:
            r = await http.post(f"{gateway.url}/auth/token", data={
                "grant_type": "password", "username": "citizen", "password": "Citizen#2026"})
            assert r.status_code == 200, r.text
            login = r.json()
            bearer = {"Authorization": f"Bearer {login['access_token']}"}
            direct = f"{cases.url}/api/v1/cases/cases"
            assert (await http.get(direct, headers=bearer)).status_code == 200

            infra.nats.restart()  # SIGKILL, then the same port and store

            async def both_ready():
                codes = [(await http.get(p.url + "/readyz")).status_code for p in (gateway, cases)]
                return codes == [200, 200]

            await wait_for(both_ready, timeout=30, interval=0.2)
            r = await http.post(f"{gateway.url}/auth/logout", data={"refresh_token": login["refresh_token"]},
                                headers=bearer)
            assert r.status_code == 204, r.text

            async def refused_directly():
                r = await http.get(direct, headers=bearer)
                return r.status_code == 401 and r.json().get("code") == "token_revoked"

            await wait_for(refused_directly, timeout=60, interval=0.2)
            r = await http.get(f"{gateway.url}/api/v1/cases/cases", headers=bearer)
            assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    finally:
        gateway.stop()
        cases.stop()
