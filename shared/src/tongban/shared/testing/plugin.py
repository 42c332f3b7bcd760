"""pytest plugin (registered by tongban-shared's entry point): real PostgreSQL and NATS for tests.

The session starts one PostgreSQL and one NATS server on free ports in a temporary folder and
stops them at the end. Each service's migrations run once into a template database; every
test that asks for a service database gets a fresh copy of that template (CREATE DATABASE ...
TEMPLATE), so tests are isolated and always run against the migrated schema, never create_all.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tongban.shared import migrations
from tongban.shared.events import bus, identity
from tongban.shared.localinfra import NatsProcess, PostgresProcess, ServiceProcess, free_port, stop_all
from tongban.shared.service import ServiceDefinition, build_app

ISSUER = "tongban-gateway"
TEST_USER = "tester"


class Infra:
    """The session's servers, and fresh databases on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg = PostgresProcess(root / "pg", fast=True).start()
        # NATS with the platform's authorization: each service connects as itself; `nats.url`
        # carries the test helpers' identity (every right), for publishing and inspecting.
        self.nats_identities = {i.user: i for i in identity.platform_identities()}
        self.nats_passwords = {u: uuid.uuid4().hex for u in [*self.nats_identities, TEST_USER]}
        self.nats_authorization = identity.authorization(
            [*self.nats_identities.values(), identity.everything(TEST_USER)], self.nats_passwords)
        self.nats = NatsProcess(root / "nats", log_file=root / "nats.log", authorization=self.nats_authorization,
                                client=(TEST_USER, self.nats_passwords[TEST_USER])).start()
        self._templates: dict[str, str] = {}
        self._counter = itertools.count()

    def nats_settings(self, name: str) -> dict[str, str]:
        """The NATS identity of service `name` as settings (none for a name the platform lacks)."""
        if name not in self.nats_identities:
            return {}
        return {"nats_user": name, "nats_password": self.nats_passwords[name]}

    def template_for(self, definition: ServiceDefinition) -> str:
        name = f"tpl_{definition.name}"
        if name not in self._templates:
            self.pg.create_database(name)
            # Alembic's env runs its own event loop: keep it off the test's running loop.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(migrations.upgrade, definition.root, self.pg.url_for(name)).result()
            self._templates[name] = name
        return name

    def fresh_database_empty(self) -> str:
        """A new database with nothing in it."""
        name = f"t_empty_{next(self._counter)}"
        self.pg.create_database(name)
        return self.pg.url_for(name)

    def fresh_database(self, definition: ServiceDefinition) -> str:
        template = self.template_for(definition)
        name = f"t_{definition.name}_{next(self._counter)}"
        self.pg.create_database(name, template=template)
        return self.pg.url_for(name)

    def stop(self) -> None:
        self.nats.stop()
        self.pg.stop()


class TokenIssuer:
    """Signs access tokens the way the gateway does, with a test key the services trust."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "test-" + uuid.uuid4().hex[:8]
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        self.jwks_json = json.dumps({"keys": [jwk]})

    def mint(self, role: str, scopes: str | list[str], audience: str | list[str], sub: str | None = None,
             ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER, "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}", "aud": audience, "iat": now,
            "exp": now + ttl, "jti": uuid.uuid4().hex, "role": role,
            "scope": scopes if isinstance(scopes, str) else " ".join(scopes), **claims,
        }
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": self.kid})


def pytest_configure(config: pytest.Config) -> None:
    # Secrets take their development values in tests (a test of the refusal unsets this).
    os.environ.setdefault("TONGBAN_ENV", "development")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    root = Path(tempfile.mkdtemp(prefix="tongban-test-"))
    inf = Infra(root)
    try:
        yield inf
    finally:
        inf.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def clean_nats(infra: Infra) -> None:
    """Delete every stream (and so every consumer): each test starts with an empty JetStream."""
    nc = await bus.connect(infra.nats.url, "test-cleaner")
    js = nc.jetstream()
    for name in await js.streams_info():
        await js.delete_stream(name.config.name)
    await nc.close()


def service_env(definition: ServiceDefinition, database_url: str, infra: Infra, issuer: TokenIssuer,
                **extra: Any) -> dict[str, str]:
    """Environment variables that configure one service for a test (also used for subprocesses)."""
    prefix = definition.env_prefix
    env = {f"{prefix}DATABASE_URL": database_url, f"{prefix}NATS_URL": infra.nats.address,
           f"{prefix}JWKS_JSON": issuer.jwks_json, f"{prefix}LOG_LEVEL": "WARNING", "TONGBAN_ENV": "development"}
    env.update({f"{prefix}{k.upper()}": v for k, v in infra.nats_settings(definition.name).items()})
    env.update({f"{prefix}{k.upper()}": str(v) for k, v in extra.items()})
    return env


@asynccontextmanager
async def running_service(definition: ServiceDefinition, infra: Infra, issuer: TokenIssuer,
                          database_url: str | None = None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app with its lifespan (engine, NATS, workers), and a client talking to it."""
    url = database_url or infra.fresh_database(definition)
    values = {"database_url": url, "nats_url": infra.nats.address, "jwks_json": issuer.jwks_json,
              "log_level": "WARNING", **infra.nats_settings(definition.name), **settings}
    # Build it as its own entry point does (create_app may wrap the FastAPI app, as the gateway's
    # and svc-interop's do); the wrapped FastAPI app carries the lifespan and the state.
    module = importlib.import_module(f"tongban.{definition.name}.main")
    settings_obj = definition.settings(**values)
    outer = module.create_app(settings_obj) if hasattr(module, "create_app") else build_app(definition, settings_obj)
    app = getattr(outer, "app", outer)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=outer)
        # English problem words, which the suites assert (the platform's default is Chinese;
        # a test for that sends its own Accept-Language or builds its own client).
        async with httpx.AsyncClient(transport=transport, base_url="http://svc",
                                     headers={"Accept-Language": "en"}) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@asynccontextmanager
async def platform_processes(infra: Infra, definitions: list[ServiceDefinition], databases: dict[str, str],
                             log_dir: Path, extra: Callable[[str, dict[str, str]], dict[str, str]] | None = None,
                             ) -> AsyncIterator[dict[str, str]]:
    """The gateway and services as real processes (uvicorn, each its own protocol), each on its
    database in `databases` (seeded by the caller beforehand), the gateway routing to every service
    started and each service verifying tokens against the gateway's JWKS. `extra(name, urls)` adds a
    process's own settings. Yields each process's base URL by name; stops them all afterwards."""
    urls = {d.name: f"http://127.0.0.1:{free_port()}" for d in definitions}
    procs = []
    for d in definitions:
        p = d.env_prefix
        env = {f"{p}DATABASE_URL": databases[d.name], f"{p}NATS_URL": infra.nats.url, f"{p}LOG_LEVEL": "WARNING",
               "TONGBAN_ENV": "development"}
        if d.name == "gateway":
            env |= {f"GATEWAY_{name.upper()}_URL": url for name, url in urls.items() if name != "gateway"}
        elif "gateway" in urls:
            env[f"{p}JWKS_URL"] = f"{urls['gateway']}/.well-known/jwks.json"
        env |= extra(d.name, urls) if extra else {}
        port = int(urls[d.name].rsplit(":", 1)[1])
        procs.append(ServiceProcess(d.name, f"tongban.{d.name}.main:create_app", port, env,
                                    log_file=log_dir / f"{d.name}.log", http=d.server_protocol).start())
    try:
        await asyncio.gather(*(asyncio.to_thread(proc.wait_ready) for proc in procs))
        yield urls
    finally:
        stop_all(procs)


class RoundTrips:
    """Every request-answer exchange with PostgreSQL, on any connection of this process, as its
    whitespace-normalised text: asyncpg's simple queries (BEGIN, COMMIT and what rides with them),
    its statements with parameters (raw calls, NOTIFY) and its prepared statements' executions
    (SQLAlchemy's). For tests that pin how many round trips an operation costs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        seen = self.seen
        execute, raw, bound = (asyncpg.connection.Connection.execute, asyncpg.connection.Connection._execute,
                               asyncpg.prepared_stmt.PreparedStatement._PreparedStatement__bind_execute)

        async def counted_execute(conn: Any, query: str, *args: Any, **kw: Any) -> Any:
            if not args:  # with arguments it goes through _execute, counted there
                seen.append(" ".join(query.split()))
            return await execute(conn, query, *args, **kw)

        async def counted_raw(conn: Any, query: str, *args: Any, **kw: Any) -> Any:
            seen.append(" ".join(query.split()))
            return await raw(conn, query, *args, **kw)

        async def counted_bound(stmt: Any, *args: Any, **kw: Any) -> Any:
            seen.append(" ".join(stmt.get_query().split()))
            return await bound(stmt, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted_execute)
        monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counted_raw)
        monkeypatch.setattr(asyncpg.prepared_stmt.PreparedStatement, "_PreparedStatement__bind_execute", counted_bound)

    def take(self) -> list[str]:
        """The exchanges seen since the last take."""
        out = list(self.seen)
        self.seen.clear()
        return out


class Statements:
    """The statements SQLAlchemy sends on `engine` (an AsyncEngine), whitespace-normalised, from
    now on: what an operation costs in SQLAlchemy's statements (RoundTrips sees every exchange)."""

    def __init__(self, engine: Any) -> None:
        self.seen: list[str] = []
        seen = self.seen
        from sqlalchemy import event

        event.listen(engine.sync_engine, "before_cursor_execute",
                     lambda _conn, _cursor, statement, *_: seen.append(" ".join(statement.split())))

    def take(self) -> list[str]:
        """The statements seen since the last take."""
        out = list(self.seen)
        self.seen.clear()
        return out


@asynccontextmanager
async def platform_schema(infra: Infra, prefix: str, *statements: str) -> AsyncIterator[tuple[Any, Any]]:
    """A throw-away schema holding the platform tables (outbox, inbox, audit...) and what
    `statements` create in it (`{schema}` filled in), on the session's server; dropped afterwards.
    Yields (its PlatformTables, an engine with a small pool)."""
    from sqlalchemy import text

    from tongban.shared.db import make_engine, service_metadata
    from tongban.shared.tables import PlatformTables

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    metadata = service_metadata(schema)
    tables = PlatformTables(metadata)
    engine = make_engine(infra.pg.url_for("postgres"), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
        for sql in statements:
            await conn.execute(text(sql.format(schema=schema)))
    try:
        yield tables, engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns something truthy, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


async def migration_drift(infra: Infra, definition: ServiceDefinition) -> list:
    """What differs between the tables the service's migrations build and its models (empty: no
    drift either way), on a fresh database of the service.

    Alembic's comparison (tables, columns, types, server defaults, indexes, unique and foreign
    keys), then what it leaves out: the models are also built with `create_all` in an empty
    database and both schemas are read back from PostgreSQL's catalogue, so a check constraint,
    a partial index's WHERE, an index's method or operator class, or a constraint's name that
    differ are found too. (Triggers and functions exist only in migrations and are not compared.)"""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tongban.shared.db import make_engine

    schema = definition.name

    def diff(conn: Any) -> list:
        ctx = MigrationContext.configure(conn, opts={
            "include_schemas": True, "compare_type": True, "compare_server_default": True,
            "version_table_schema": schema,
            "include_name": lambda name, type_, _: name == schema if type_ == "schema" else True})
        return compare_metadata(ctx, definition.metadata)

    def build_models(conn: Any) -> None:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        definition.metadata.create_all(conn)

    migrated = make_engine(infra.fresh_database(definition), 1)
    modelled = make_engine(infra.fresh_database_empty(), 1)
    try:
        async with migrated.connect() as conn:
            found = await conn.run_sync(diff)
            extensions = (await conn.exec_driver_sql(
                "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")).scalars().all()
            from_migrations = await _schema_shape(conn, schema)
        async with modelled.begin() as conn:
            for name in extensions:
                await conn.exec_driver_sql(f'CREATE EXTENSION IF NOT EXISTS "{name}"')
            await conn.run_sync(build_models)
        async with modelled.connect() as conn:
            from_models = await _schema_shape(conn, schema)
    finally:
        await migrated.dispose()
        await modelled.dispose()
    for kind in from_migrations:
        ours, theirs = from_migrations[kind], from_models[kind]
        for key in sorted(ours.keys() | theirs.keys()):
            if ours.get(key) != theirs.get(key):
                found.append((f"{kind} differs", key, {"migrations": ours.get(key), "models": theirs.get(key)}))
    return found


# The tables' constraints and indexes as PostgreSQL reads them back (alembic's own table, which only
# the migrated database has, left out).
_SHAPE = {
    "constraint": """SELECT c.conrelid::regclass::text || ' ' || c.conname, pg_get_constraintdef(c.oid)
                     FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                     WHERE c.connamespace = $1::regnamespace AND t.relname <> 'alembic_version'""",
    "index": """SELECT schemaname || '.' || tablename || ' ' || indexname, indexdef FROM pg_indexes
                WHERE schemaname = $1 AND tablename <> 'alembic_version'""",
}


async def _schema_shape(conn: Any, schema: str) -> dict[str, dict[str, str]]:
    raw = (await conn.get_raw_connection()).driver_connection
    return {kind: dict(await raw.fetch(sql, schema)) for kind, sql in _SHAPE.items()}
