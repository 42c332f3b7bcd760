"""Helpers for svc-cases' tests: identities, tokens and catalogue items in the read copy."""

import uuid

import pytest

from tongban.cases.catalog_copy import service as catalog_copy
from tongban.shared.contracts.catalog import ItemPublishedV1
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit

ITEM = "442020000900"


def resident_id(birth: str, serial: str = "123") -> str:
    first17 = "442000" + birth + serial
    return first17 + resident_id_check_digit(first17)


def credit_code(body: str) -> str:
    return body + credit_code_check_char(body)


DEPT = credit_code("11442000MB2C3D4E5")
OTHER_DEPT = credit_code("11440300MB2C3D4E6")
COMPANY = credit_code("91442000MA4UH0AB1")
ADULT = resident_id("19900101")
OTHER_ADULT = resident_id("19850505", "456")
MINOR = resident_id("20150101", "789")


class Tokens:
    def __init__(self, issuer) -> None:
        self.issuer = issuer

    def _h(self, role: str, scopes: str, sub: str, **claims) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.issuer.mint(role, scopes, ["cases"], sub=sub, **claims)}

    def citizen(self, id_number: str = ADULT, name: str = "张三") -> dict[str, str]:
        return self._h("citizen", "cases:apply cases:read", f"citizen-{id_number}", id_number=id_number, name=name,
                       real_name_level="verified")

    def company(self, code: str = COMPANY) -> dict[str, str]:
        return self._h("company", "cases:apply cases:read", f"company-{code}", credit_code=code, name="李四",
                       company_name="中山某公司", company_role="legal_representative")

    def clerk(self) -> dict[str, str]:
        return self._h("clerk", "cases:read cases:process", "clerk-1", hall="zs-1", halls=["zs-1"],
                       departments=[DEPT, OTHER_DEPT])

    def approver(self, department: str = DEPT) -> dict[str, str]:
        return self._h("approver", "cases:read cases:approve", f"approver-{department}", department=department)

    def admin(self) -> dict[str, str]:
        return self._h("admin", "cases:read cases:admin audit:read", "admin-1")


@pytest.fixture
def tokens(token_issuer) -> Tokens:
    return Tokens(token_issuer)


async def publish_item(client, basic_code: str = ITEM, *, department: str | None = DEPT, case_type: str = "promised",
                       limit: int | None = 15, licence: str | None = None, name: str = "退役军人优待证申领",
                       materials: list[dict] | None = None) -> None:
    """Put an item into the read copy the way the catalogue consumer does (`materials`: the
    catalogue's material list; left out, the record carries none and nothing is enforced)."""
    record = {"implementing_body_credit_code": department, "result_licence_type": licence}
    if materials is not None:
        record["materials"] = materials
    data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=basic_code, name=name, item_type="20", version=1,
                           case_type=case_type, promised_limit=limit, promised_limit_unit="working_day",
                           status="published", record=record)
    async with client.app.state.sessionmaker() as session, session.begin():
        await catalog_copy.apply_item_published(session, data)


class Kit:
    """What the tests share (pytest's importlib mode keeps conftest out of `import`)."""

    ITEM, DEPT, OTHER_DEPT, COMPANY = ITEM, DEPT, OTHER_DEPT, COMPANY
    ADULT, OTHER_ADULT, MINOR = ADULT, OTHER_ADULT, MINOR
    publish_item = staticmethod(publish_item)
    resident_id = staticmethod(resident_id)


@pytest.fixture
def kit() -> Kit:
    return Kit()
