"""Property-based fuzzing of the platform's OpenAPI through the gateway (schemathesis).

`fuzz(base_url, roles, ...)` loads the gateway's merged document (`/openapi.json`: its own
routes and every service's), and for each operation sends schemathesis' coverage cases
(boundary and invalid values of every parameter, positive and negative) and then Hypothesis
fuzzing cases, derandomized, each under one of the callers' tokens in turn. Random ids find no
record, so an operation whose path names a record (`/halls/{hall_id}/...`) is fuzzed a second
time with the path of a real one, read from the list above it (`GET /halls`) as the admin:
that is where updates and their answers are exercised. It records every answer that breaks a
check with the operation, the caller and a curl command that reproduces it; the test
(tests/test_fuzz.py) and `make fuzz` decide what is a failure.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from collections.abc import Iterable

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import response_schema_conformance

MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@dataclasses.dataclass
class Finding:
    operation: str
    role: str
    check: str           # "server_error" or "response_schema"
    status: int
    code: str | None     # the problem's code, for a problem+json answer
    curl: str
    answer: str

    def __str__(self) -> str:
        return f"{self.operation} as {self.role}: {self.check} ({self.status})\n    {self.curl}\n    -> {self.answer}"


@dataclasses.dataclass
class Report:
    requests: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    operations: int = 0
    seconds: float = 0.0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    seconds_by_operation: dict[str, float] = dataclasses.field(default_factory=dict)
    cut_short: int = 0   # operations whose share of the time ran out before their cases did

    def by_operation(self, check: str) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            if f.check == check:
                out.setdefault(f.operation, []).append(f)
        return out


class TimeUp(Exception):
    """The operation's share of the run's time is spent."""


class Caller:
    """Sends one case as one of the roles in turn, and records what breaks a check. A role is a
    demo login (username, password), or None for an anonymous caller; a role whose token the
    fuzzing itself revoked (`/auth/logout` with its own token) logs in again."""

    def __init__(self, base_url: str, roles: dict[str, tuple[str, str] | None], report: Report,
                 check_schema: bool, deadline: float) -> None:
        self.base_url = base_url
        self.logins = roles
        self.roles = list(roles)
        self.headers: dict[str, dict[str, str]] = {}
        self.turn = itertools.count()
        self.report = report
        self.check_schema = check_schema
        self.deadline = deadline
        self.session = requests.Session()
        self.session.trust_env = False

    def login(self, role: str) -> dict[str, str]:
        if (creds := self.logins[role]) is None:
            return {}
        r = self.session.post(f"{self.base_url}/auth/token", timeout=30,
                              data={"grant_type": "password", "username": creds[0], "password": creds[1]})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def send(self, case: schemathesis.Case) -> None:
        if time.monotonic() > self.deadline:
            raise TimeUp()
        role = self.roles[next(self.turn) % len(self.roles)]
        if role not in self.headers:
            self.headers[role] = self.login(role)
        headers = self.headers[role]
        # The caller's token replaces whatever Authorization the case made up (a malformed token
        # is the auth tests' business); the other generated headers go as generated.
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        # A live stream (text/event-stream) never ends: schemathesis reads it until the timeout.
        timeout = 2 if _streams(case.operation) else 30
        try:
            response = case.call(base_url=self.base_url, session=self.session, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            self._record(case, role, headers, "no_answer", 0, None, repr(exc))
            return
        self.report.requests += 1
        self.report.statuses[response.status_code] = self.report.statuses.get(response.status_code, 0) + 1
        if response.status_code == 401 and headers and "token_revoked" in response.text:
            del self.headers[role]
        if response.status_code >= 500:
            self._record(case, role, headers, "server_error", response.status_code, _code(response),
                         response.text[:300])
        elif self.check_schema:
            try:
                case.validate_response(response, checks=[response_schema_conformance], headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises failure groups
                self._record(case, role, headers, "response_schema", response.status_code, _code(response),
                             str(exc)[:600])

    def _record(self, case: schemathesis.Case, role: str, headers: dict[str, str], check: str, status: int,
                code: str | None, answer: str) -> None:
        try:
            curl = case.as_curl_command(headers={k: "Bearer <" + role + ">" for k in headers}, base_url=self.base_url)
        except Exception as exc:  # noqa: BLE001 - a case that cannot be written as curl is still reported
            curl = f"<no curl: {exc!r}> {case.method} {case.path} query={case.query} body={case.body!r:.200}"
        self.report.findings.append(Finding(case.operation.label, role, check, status, code, curl, answer))


def _streams(op: schemathesis.APIOperation) -> bool:
    declared = op.schema.raw_schema["paths"][op.path][op.method.lower()].get("responses", {})
    return "text/event-stream" in str(declared)


def _code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def load(base_url: str, complete_within: float = 90.0) -> schemathesis.BaseSchema:
    """The gateway's merged document, once it has every service's operations: a service that did
    not answer the gateway in time (a busy machine) is listed under `x-unavailable`, and fuzzing
    that document would silently leave its operations out."""
    deadline = time.monotonic() + complete_within
    while (missing := requests.get(f"{base_url}/openapi.json", timeout=30).json().get("x-unavailable")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway's document still lacks {missing} after {complete_within:.0f} s")
        time.sleep(1.0)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.update(base_url=base_url)
    return schema


def fuzz(base_url: str, roles: dict[str, tuple[str, str] | None], *, examples: int, coverage_cases: int,
         seconds: float, check_schema: bool = False, skip: Iterable[str] = (),
         only: Iterable[str] = ()) -> Report:
    """Fuzz every operation of the gateway's document (but `skip`; or only those in `only`): up to
    `coverage_cases` coverage cases and `examples` fuzzing cases each, within `seconds` in all
    (each operation gets an equal share of what is left, so every one is reached)."""
    schema = load(base_url)
    report = Report()
    started = time.monotonic()
    caller = Caller(base_url, roles, report, check_schema, started + seconds)
    skip, only = set(skip), set(only)
    operations = [op for op in (r.ok() for r in schema.get_all_operations())
                  if op.label not in skip and (not only or op.label in only)]
    known = KnownRecords(schema, caller)
    for i, op in enumerate(operations):
        report.operations += 1
        op_started = time.monotonic()
        caller.deadline = op_started + max(0.0, started + seconds - op_started) / (len(operations) - i)
        try:
            for path_parameters in [{}, *known.paths_for(op)]:
                generation = schema.config.generation_for(operation=op, phase="coverage")
                coverage = CoverageGenerator(operation=op, generation_modes=MODES, generation_config=generation,
                                             auth_storage=None, override=Override(path_parameters=path_parameters),
                                             feedback=NO_FEEDBACK)
                for case in itertools.islice(coverage, coverage_cases):
                    caller.send(case)
                if examples:
                    _fuzz_operation(op, caller, examples, path_parameters)
        except TimeUp:
            report.cut_short += 1
        report.seconds_by_operation[op.label] = time.monotonic() - op_started
    report.seconds = time.monotonic() - started
    return report


class KnownRecords:
    """Real values for an operation's path parameters, read (once per list) from the list the
    path goes through: `/api/v1/queue/halls/{hall_id}` takes the `id` (or `hall_id`) of an item
    of `GET /api/v1/queue/halls`."""

    def __init__(self, schema: schemathesis.BaseSchema, caller: Caller) -> None:
        self.paths = schema.raw_schema["paths"]
        self.caller = caller
        self.lists: dict[str, list[dict]] = {}

    def paths_for(self, op: schemathesis.APIOperation) -> list[dict[str, str]]:
        names = re.findall(r"\{([^}]+)\}", op.path)
        if not names:
            return []
        values: dict[str, str] = {}
        for name in names:
            prefix = op.path[:op.path.index("{" + name + "}")].rstrip("/")
            if "{" in prefix:
                prefix = prefix.format(**values) if all(n in values for n in re.findall(r"\{([^}]+)\}", prefix)) \
                    else None
            items = self._items(prefix) if prefix else []
            key = next((k for k in (name, "id", "code") if items and k in items[0]), None)
            if key is None:
                return []
            values[name] = str(items[0][key])
        return [values]

    def _items(self, path: str) -> list[dict]:
        if path not in self.lists:
            template = next((p for p in self.paths if _matches(p, path)), None)
            items: list[dict] = []
            if template is not None and "get" in self.paths[template]:
                headers = self.caller.headers.get("admin") or self.caller.login("admin")
                r = self.caller.session.get(f"{self.caller.base_url}{path}", headers=headers, timeout=30)
                body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
                if r.status_code == 200 and isinstance(body, dict) and isinstance(body.get("items"), list):
                    items = [i for i in body["items"] if isinstance(i, dict)]
            self.lists[path] = items
        return self.lists[path]


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _fuzz_operation(op: schemathesis.APIOperation, caller: Caller, examples: int,
                    path_parameters: dict[str, str]) -> None:
    strategy = st.one_of([op.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
                          for mode in MODES])

    @hypothesis.settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                         phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                         verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        caller.send(case)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass
    except BaseExceptionGroup as group:  # Hypothesis may report the time running out in a group
        if group.subgroup(TimeUp) is None:
            raise
        raise TimeUp() from None
