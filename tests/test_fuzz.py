"""Nothing a client sends gets a 500 (issue 18): schemathesis fuzzes every operation of the
gateway's merged OpenAPI (its own /auth routes and every service's) through the gateway, as an
anonymous caller, the admin, the verified citizen and the clerk in turn, against one city's
whole platform with its demo data (the launcher of `make run`, real PostgreSQL and NATS).

Checks: no 5xx (but a truthful one, `ALLOWED_5XX`), and every answer matches the response
schema its operation declares. A failure names the operation, the caller and a curl command that
reproduces it. Bounded here (derandomized, a few cases per operation, a time cap); `make fuzz`
runs the same for longer (TONGBAN_FUZZ_SECONDS, _EXAMPLES, _COVERAGE).
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from tongban.shared.localinfra import NatsProcess, ServiceProcess, free_block, stop_all

sys.path.insert(0, str(Path(__file__).parent))
import fuzzing
from test_two_cities import launcher

# Server errors found and not yet fixed, in services another engineer is changing: each is
# excluded from the run (all of its cases) until fixed there. Keep this list short and true.
KNOWN_SERVER_ERRORS: dict[str, str] = {}   # none left: an operation listed here is skipped, and says why
# A 5xx that tells the truth: a partner city the caller named does not answer (the fuzzing
# registers partners at addresses where nothing listens); the payment provider cannot be reached
# (the fuzzed city runs without the local payment provider).
ALLOWED_5XX = {"partner_unavailable", "payment_provider_unavailable"}
ROLES = {"anonymous": None, "admin": ("admin", "Admin#2026"), "citizen": ("citizen", "Citizen#2026"),
         "clerk": ("clerk", "Clerk#2026")}
# The gateway's protections would answer most of a fuzzing run with 429 (rate limits, login
# back-off, registration throttle): lifted here, each has its own tests.
UNTHROTTLED = {"GATEWAY_RATE_LIMIT_PER_SECOND": "1000000", "GATEWAY_RATE_LIMIT_BURST": "1000000",
               "GATEWAY_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000", "GATEWAY_LOGIN_MAX_FAILURES_PER_IP": "1000000",
               "GATEWAY_LOGIN_FREE_FAILURES_PER_ADDRESS": "1000000", "GATEWAY_REGISTRATIONS_PER_IP": "1000000"}


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(f"TONGBAN_FUZZ_{name}", default))


@pytest.fixture(scope="module")
def city(infra, tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    city = launcher.City("zhongshan", "442000", "中山市", free_block(8), f"fz{uuid.uuid4().hex[:6]}_", data)
    nats = NatsProcess(data / "nats", log_file=data / "nats.log").start()
    procs: list[ServiceProcess] = []
    try:
        urls, clients, _ = launcher.prepare(city, infra.pg.url_for("postgres"))
        procs.append(launcher.wechat_simulator(city, data).start())   # the mini-programs' WeChat, as in make run
        for name in ["gateway", *launcher.SERVICES]:
            env = launcher.service_env(city, name, urls, nats.url, clients, {})
            env |= UNTHROTTLED if name == "gateway" else {}
            definition = __import__(f"tongban.{name}.main", fromlist=["SERVICE"]).SERVICE
            procs.append(ServiceProcess(name, f"tongban.{name}.main:create_app", city.port(name), env,
                                        log_file=data / f"{name}.log", http=definition.server_protocol).start())
        for proc in procs:
            proc.wait_ready(timeout=120)
        yield city
    finally:
        stop_all(procs)
        nats.stop()


# pytest's timeout covers the fixture too: starting the city's seven processes, then the fuzzing.
@pytest.mark.timeout(int(_setting("SECONDS", 240)) + 360)
def test_no_operation_answers_a_server_error_or_breaks_its_schema(city):
    report = fuzzing.fuzz(city.gateway_url, ROLES, examples=int(_setting("EXAMPLES", 5)),
                          coverage_cases=int(_setting("COVERAGE", 25)), seconds=_setting("SECONDS", 240),
                          check_schema=True, skip=KNOWN_SERVER_ERRORS)
    print(f"\nfuzzing: {report.requests} requests to {report.operations} operations in {report.seconds:.0f} s; "
          f"statuses {dict(sorted(report.statuses.items()))}; excluded as known: {sorted(KNOWN_SERVER_ERRORS)}")
    failures = [f for f in report.findings if not (f.check == "server_error" and f.code in ALLOWED_5XX)]
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(str(f) for f in failures[:30])
    # Every operation was reached (the time cap is a safety valve, not the plan).
    assert report.operations + len(KNOWN_SERVER_ERRORS) >= 200, report.operations
