"""Identities and a running svc-credentials for the tests."""

from __future__ import annotations

import sys
import uuid

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from tongban.credentials.main import SERVICE
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.service_auth import StaticToken, service_client
from tongban.shared.testing.plugin import running_service


def credit(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def resident(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


DEPT = credit("11442000007234512")          # the issuing department (市场监督管理局)
OTHER_DEPT = credit("11442000007234599")
TYPE_CODE = DEPT + "001"
CITIZEN = resident("44200019900101123")
OTHER_CITIZEN = resident("44200019851231456")
COMPANY = credit("91442000MA4UAB12C")


class Tokens:
    def __init__(self, issuer) -> None:  # noqa: ANN001
        self.issuer = issuer

    def headers(self, role: str, scopes: str, **claims) -> dict[str, str]:  # noqa: ANN003
        return {"Authorization": "Bearer " + self.issuer.mint(role, scopes, ["credentials"], **claims)}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers("admin", "credentials:admin audit:read", sub="admin-1")

    @property
    def approver(self) -> dict[str, str]:
        return self.headers("approver", "credentials:issue", sub="approver-1", department=DEPT)

    @property
    def other_approver(self) -> dict[str, str]:
        return self.headers("approver", "credentials:issue", sub="approver-2", department=OTHER_DEPT)

    @property
    def citizen(self) -> dict[str, str]:
        return self.headers("citizen", "credentials:read", sub="citizen-1", id_number=CITIZEN,
                            real_name_level="verified")

    @property
    def other_citizen(self) -> dict[str, str]:
        return self.headers("citizen", "credentials:read", sub="citizen-2", id_number=OTHER_CITIZEN,
                            real_name_level="verified")

    @property
    def user(self) -> dict[str, str]:
        return self.headers("approver", "credentials:use", sub="user-1", department=OTHER_DEPT)


@pytest.fixture
def tokens(token_issuer) -> Tokens:  # noqa: ANN001
    return Tokens(token_issuer)


@pytest.fixture
async def svc(infra, token_issuer, tmp_path, clean_nats):  # noqa: ANN001
    async with running_service(SERVICE, infra, token_issuer, key_dir=tmp_path / "keys") as client:
        yield client


def licence_type(code: str = TYPE_CODE, holder_type: str = "111", **extra) -> dict:  # noqa: ANN003
    return {"code": code, "name": "食品经营许可证", "issuer_code": DEPT, "issuer_name": "中山市市场监督管理局",
            "holder_type": holder_type, "validity": "years", "validity_years": 5,
            "fields": [{"name": "business_scope", "type": "string", "max_length": 200},
                       {"name": "address", "type": "string", "personal": True},
                       {"name": "staff", "type": "integer", "required": False}], **extra}


def licence(holder: str = CITIZEN, **extra) -> dict:  # noqa: ANN003
    return {"type_code": TYPE_CODE, "holder_id": holder, "holder_name": "张三",
            "data": {"business_scope": "预包装食品销售", "address": "中山市东区中山四路1号"}, **extra}


async def setup_type(svc, tokens, **extra) -> dict:  # noqa: ANN001, ANN003
    r = await svc.post("/api/v1/credentials/licence-types", json=licence_type(**extra), headers=tokens.admin)
    assert r.status_code == 201, r.text
    return r.json()


async def issue(svc, tokens, **extra) -> dict:  # noqa: ANN001, ANN003
    r = await svc.post("/api/v1/credentials/licences", json=licence(**extra), headers=tokens.approver)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def k():  # noqa: ANN201
    """This module: the tests' identities, payloads and helpers (importlib mode cannot import conftest)."""
    return sys.modules[__name__]


class FakeCases:
    """svc-cases' internal API as svc-credentials asks it (GET /api/v1/cases/cases/{id}), with the
    cases a test puts in; only the other service's HTTP API is faked, never PostgreSQL or NATS."""

    def __init__(self) -> None:
        self.cases: dict[str, dict] = {}
        self.app = FastAPI()

        @self.app.get("/api/v1/cases/cases/{case_id}")
        async def case(case_id: str, request: Request) -> dict:
            if not request.headers.get("authorization"):
                raise HTTPException(401)
            if case_id not in self.cases:
                raise HTTPException(404)
            return self.cases[case_id]

    def add(self, department: str, hall: str | None, applicant_id: str) -> str:
        case_id = str(uuid.uuid4())
        self.cases[case_id] = {"id": case_id, "department": department, "hall": hall, "applicant_id": applicant_id,
                               "state": "submitted"}
        return case_id


@pytest.fixture
async def fake_cases(svc, token_issuer):  # noqa: ANN001, ANN201
    """svc-credentials' svc-cases client pointed at a FakeCases app, authenticated as the service."""
    fake = FakeCases()
    client = service_client("http://cases", StaticToken(token_issuer.mint("service", "cases:read", ["cases"],
                                                                           sub="service:credentials")))
    client._transport = httpx.ASGITransport(app=fake.app)  # noqa: SLF001 - the fake answers in process
    svc.app.state.cases = client
    yield fake
    svc.app.state.cases = None
    await client.aclose()
