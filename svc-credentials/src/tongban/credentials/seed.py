"""Demo data for `make run`: the licence types the catalogue's materials name, their Zhongshan
issuing departments, and the demo holders' licences and seals, all made through the service
layer (signed, audited, announced on the outbox). Running it again adds nothing.

Every code here is SYNTHETIC (valid GB 32100 / GB 11643 check characters, no real body or
person). The departments are the catalogue's Zhongshan departments (svc-catalog seed_data), so
an approved demo case of theirs issues its licence; the demo approver (the gateway's seed) works
for 市场监督管理局, so they issue and manage its licences.

The keys are made in the key store the service uses: `CREDENTIALS_KEY_DIR` must name the same
folder for this loader as for the service (see `KeyStoreSettings`).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.credentials.config import KeyStoreSettings
from tongban.credentials.licence import service as licence_service
from tongban.credentials.licence.models import Licence
from tongban.credentials.licence.schemas import LicenceCreate
from tongban.credentials.licence_type import repository as type_repository
from tongban.credentials.licence_type import service as type_service
from tongban.credentials.licence_type.schemas import FieldSpec, LicenceTypeCreate
from tongban.credentials.seal import repository as seal_repository
from tongban.credentials.seal import service as seal_service
from tongban.credentials.seal.schemas import SealCreate
from tongban.credentials.signing import keystore
from tongban.shared.auth import Principal
from tongban.shared.ids import credit_code_in_region

SEED_ACTOR = Principal(sub="system:seed", role="admin", scopes=frozenset({"credentials:admin"}),
                       name="demo data")

# Zhongshan issuing departments: credit code → name.
PSB, CA, NR, HRSS, EDU, AMR = ("11442000MB00000018", "11442000MB0000008X", "11442000MB0000005L",
                               "11442000MB0000003E", "11442000MB00000106", "11442000MB0000002B")
DEPARTMENTS = {PSB: "中山市公安局", CA: "中山市民政局", NR: "中山市自然资源局",
               HRSS: "中山市人力资源和社会保障局", EDU: "中山市教育和体育局", AMR: "中山市市场监督管理局"}


def _f(name: str, label: str, kind: str = "string", *, personal: bool = False, required: bool = True,
       max_length: int | None = 200) -> FieldSpec:
    return FieldSpec(name=name, label=label, type=kind, personal=personal, required=required,  # type: ignore[arg-type]
                     max_length=max_length if kind == "string" else None)


# code → (name, issuer, holder type, validity, years, fields)
LICENCE_TYPES: dict[str, tuple[str, str, str, str, int | None, list[FieldSpec]]] = {
    "11100000000019211T001": ("居民身份证", PSB, "111", "years", 20, [
        _f("gender", "性别"), _f("ethnicity", "民族"), _f("birth_date", "出生日期", "date"),
        _f("address", "住址", personal=True)]),
    "11100000000019211T002": ("居民户口簿", PSB, "111", "permanent", None, [
        _f("household_number", "户号", personal=True), _f("relation", "与户主关系"),
        _f("address", "住址", personal=True)]),
    "11100000000019211T003": ("机动车登记证书", PSB, "111", "permanent", None, [
        _f("plate_number", "号牌号码"), _f("vehicle_type", "车辆类型"), _f("vin", "车辆识别代号", personal=True)]),
    "11100000000019211T004": ("机动车驾驶证", PSB, "111", "years", 6, [
        _f("licence_class", "准驾车型"), _f("first_issued_on", "初次领证日期", "date")]),
    "1110000000001922XJ001": ("结婚证", CA, "111", "permanent", None, [
        _f("spouse_name", "配偶姓名", personal=True), _f("registered_on", "登记日期", "date"),
        _f("registration_office", "登记机关")]),
    "11100000000019238J001": ("营业执照", AMR, "001", "permanent", None, [
        _f("company_name", "名称"), _f("company_type", "类型"), _f("legal_representative", "法定代表人"),
        _f("registered_capital", "注册资本（万元）", "number"), _f("established_on", "成立日期", "date"),
        _f("address", "住所"), _f("business_scope", "经营范围", max_length=2000)]),
    "11100000000019238J002": ("食品经营许可证", AMR, "001", "years", 5, [
        _f("operator_name", "经营者名称"), _f("business_items", "经营项目", max_length=1000),
        _f("premises", "经营场所")]),
    "11100000000019246D001": ("出生医学证明", CA, "111", "permanent", None, [
        _f("child_name", "新生儿姓名", personal=True), _f("birth_date", "出生日期", "date"),
        _f("birthplace", "出生地点")]),
    "111000000000192548001": ("不动产权证书", NR, "111", "permanent", None, [
        _f("location", "坐落", personal=True), _f("area", "面积（平方米）", "number"), _f("use", "用途")]),
    "111000000000192623001": ("社会保障卡", HRSS, "111", "years", 10, [
        _f("card_number", "卡号", personal=True), _f("bank", "发卡银行")]),
    "11100000000019270X001": ("学历证书", EDU, "111", "permanent", None, [
        _f("school", "学校"), _f("major", "专业"), _f("level", "层次"), _f("graduated_on", "毕业日期", "date")]),
}

CITIZEN, CITIZEN_NAME = "442000199001011233", "张三"
COMPANY, COMPANY_NAME = "91442000MA4W12346R", "中山市通办科技有限公司"
# (type code, holder, holder name, data)
LICENCES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("11100000000019211T001", CITIZEN, CITIZEN_NAME, {
        "gender": "男", "ethnicity": "汉", "birth_date": "1990-01-01", "address": "广东省中山市东区中山四路1号（示例）"}),
    ("11100000000019211T002", CITIZEN, CITIZEN_NAME, {
        "household_number": "442000000001", "relation": "户主", "address": "广东省中山市东区中山四路1号（示例）"}),
    ("111000000000192623001", CITIZEN, CITIZEN_NAME, {"card_number": "442000D15600000001", "bank": "中国工商银行"}),
    ("11100000000019211T004", CITIZEN, CITIZEN_NAME, {"licence_class": "C1", "first_issued_on": "2012-06-18"}),
    ("11100000000019238J001", COMPANY, COMPANY_NAME, {
        "company_name": COMPANY_NAME, "company_type": "有限责任公司（自然人投资或控股）", "legal_representative": "李四",
        "registered_capital": 100, "established_on": "2024-03-15", "address": "广东省中山市火炬开发区康乐大道（示例地址）",
        "business_scope": "软件开发；信息技术咨询服务；数据处理和存储支持服务。"}),
]
SEAL_KINDS = seal_service.KINDS


def _ensure_key_store() -> None:
    # The launcher names the service's folder in CREDENTIALS_KEY_DIR: that one, whatever store an
    # earlier caller in this process installed. Otherwise (the service and its tests) the lifespan
    # installed the store to use.
    if os.environ.get("CREDENTIALS_KEY_DIR"):
        keystore.install(keystore.open_store(KeyStoreSettings()))
        return
    try:
        keystore.current()
    except RuntimeError:
        keystore.install(keystore.open_store(KeyStoreSettings()))


async def _holds(session: AsyncSession, type_code: str, holder_id: str) -> bool:
    return bool((await session.execute(select(exists().where(
        Licence.type_code == type_code, Licence.holder_id == holder_id)))).scalar())


CITY_NAMES = {"442000": "中山市", "440300": "深圳市"}


def issuer_for(code: str, region: str) -> tuple[str, str]:
    """(credit code, name) of the issuing department `code` names, as `region`'s own department:
    each city's licences are issued by its departments, which the other city trusts by region."""
    return credit_code_in_region(code, region), DEPARTMENTS[code].replace("中山市", CITY_NAMES.get(region, "中山市"), 1)


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Create what is missing (types by code, licences by type and holder, seals by kind);
    returns how many records were added. The issuing departments are the city's own
    (TONGBAN_SEED_REGION, Zhongshan by default)."""
    _ensure_key_store()
    region = os.environ.get("TONGBAN_SEED_REGION", "442000")
    added = 0
    async with sessionmaker() as session, session.begin():
        for code, (name, issuer, holder_type, validity, years, fields) in LICENCE_TYPES.items():
            if await type_repository.get(session, code) is not None:
                continue
            issuer_code, issuer_name = issuer_for(issuer, region)
            await type_service.create(session, LicenceTypeCreate(
                code=code, name=name, issuer_code=issuer_code, issuer_name=issuer_name,
                holder_type=holder_type, fields=fields, validity=validity, validity_years=years),  # type: ignore[arg-type]
                SEED_ACTOR)
            added += 1
    async with sessionmaker() as session, session.begin():
        for type_code, holder, holder_name, data in LICENCES:
            if await _holds(session, type_code, holder):
                continue
            await licence_service.issue(session, LicenceCreate(
                type_code=type_code, holder_id=holder, holder_name=holder_name, data=data,
                valid_from=dt.date(2025, 1, 2)), SEED_ACTOR)
            added += 1
    async with sessionmaker() as session, session.begin():
        held = await seal_repository.active_kinds(session, COMPANY)
        for kind in SEAL_KINDS:
            if kind not in held:
                await seal_service.create(session, SealCreate(kind=kind, company_name=COMPANY_NAME,  # type: ignore[arg-type]
                                                              company_code=COMPANY), SEED_ACTOR)
                added += 1
    return added
