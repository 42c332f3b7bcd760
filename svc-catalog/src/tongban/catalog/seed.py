"""Demo data for `make run`: 64 standard items (names and legal character real, details
synthetic), both cities' implementations with differences worth benchmarking, and six bundles,
all published through the service layer (so their events reach the other services). Running it
again adds nothing.

A catalogue seeded before the licence type codes were real (materials and results carried the
symbolic keys RESIDENT-ID, HUKOU, ...) is upgraded on the next run: each demo item, implementation
and bundle still holding a symbolic key is edited through the service layer with the real code, so
it becomes its next version and is announced again, and svc-cases' read copies follow."""

import asyncio
from typing import Any

from pydantic import ValidationError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.catalog import seed_data as D
from tongban.catalog.bundle import repository as bundle_repository
from tongban.catalog.bundle import service as bundle_service
from tongban.catalog.bundle.schemas import BundleCreate, BundleUpdate
from tongban.catalog.config import Settings
from tongban.catalog.implementation import repository as implementation_repository
from tongban.catalog.implementation import service as implementation_service
from tongban.catalog.implementation.schemas import ImplementationCreate, ImplementationRead, ImplementationUpdate
from tongban.catalog.item import repository, service
from tongban.catalog.item.models import Item
from tongban.catalog.item.schemas import ItemCreate, ItemUpdate
from tongban.shared.auth import Principal
from tongban.shared.db import make_engine, make_sessionmaker

SEED_ACTOR = Principal(sub="system:seed", role="admin", scopes=frozenset({"catalog:write"}))
# Codes the first demo data used: kept so a database seeded before keeps one item per name.
EARLIER_CODES = {"建设工程规划许可证核发": "440100001000", "食品经营许可": "440100002000",
                 "居民身份证换领": "442000003000", "灵活就业人员参保登记": "442000004000",
                 "个体工商户设立登记": "440100005000"}
FEES = {"居民身份证换领": [("居民身份证工本费", "20.00", "《财政部 国家发展改革委关于居民身份证收费标准及有关问题的通知》")],
        "居民身份证补领": [("居民身份证工本费", "40.00", "《财政部 国家发展改革委关于居民身份证收费标准及有关问题的通知》")],
        "不动产登记（首次登记）": [("不动产登记费", "80.00", "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》")],
        "不动产转移登记": [("不动产登记费", "80.00", "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》")],
        "不动产抵押登记": [("不动产登记费", "80.00", "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》")]}
# The symbolic keys earlier demo data stored as licence type codes, and the real codes they stand for.
LEGACY_CODES = dict(D.LT)
UPGRADE_REASON = "licence type codes: symbolic keys replaced by svc-credentials' type codes"
LEGAL = {"01": "《中华人民共和国行政许可法》及相关法规（示例）", "04": "《中华人民共和国税收征收管理法》（示例）",
         "05": "《中华人民共和国社会保险法》（示例）", "06": "相关登记、确认类法规（示例）",
         "07": "《社会救助暂行办法》（示例）", "20": "相关公共服务规定（示例）"}


def basic_code(index: int, name: str, item_type: str) -> str:
    return EARLIER_CODES.get(name) or f"44{item_type}{100 + index:05d}000"


def _fees(name: str) -> list[dict]:
    return [{"name": n, "amount": a, "basis": b} for n, a, b in FEES.get(name, [])]


def demo_items() -> list[ItemCreate]:
    """The standard items, each with its GB/T 39046 elements and flags."""
    items = []
    for i, (name, itype, dept, audience, themes, mats, fields, produces, aliases) in enumerate(D.ITEMS):
        promised_case = itype in ("01", "06", "07") or i % 3 == 0
        materials = [{**D.M[k], "required": D.M[k].get("required", True)} for k in mats]
        cross_city = bool(D.CROSS_CITY_THEMES & set(themes))
        flags = {"fully_online": i % 8 != 0, "no_certificate": any(m.get("licence_type_code") for m in materials),
                 "nearby": audience == "person" and i % 2 == 0, "self_service": i % 3 == 0,
                 "village_level": audience == "person" and i % 9 == 0,
                 "cross_city": cross_city or i % 2 == 0 or i % 5 == 0,
                 "cross_province": "跨省通办" in themes or i % 11 == 0,
                 "commitment_approval": itype == "01" and i % 2 == 0,
                 "accept_with_gaps": any(m.get("accept_with_gaps") for m in materials)}
        # A cross-city item waits on the other city's case, so it is never approved by a rule alone.
        if (i % 4 == 0 or i % 7 == 0) and not cross_city:
            flags |= {"instant_approval": True, "instant_approval_rule_id": f"MP-{itype}-{i:03d}"}
        statutory = 20 if promised_case else None
        items.append(ItemCreate(
            basic_code=basic_code(i, name, itype), name=name, aliases=aliases, exercise_level=4,
            case_type="promised" if promised_case else "immediate", legal_basis=LEGAL[itype],
            statutory_limit=statutory, statutory_limit_unit="working_day" if statutory else None,
            promised_limit=10 if statutory else None, promised_limit_unit="working_day" if statutory else None,
            implementing_body=D.DEPARTMENTS[dept][0], service_objects=[audience], themes=themes[:1],
            life_events=themes[1:], handling_forms=["window", "pc", "mobile"], visits=0 if flags["fully_online"] else 1,
            acceptance_conditions=[f"申请人符合{name}的法定条件（示例）"],
            process_steps=[{"name": "申请"}, {"name": "受理"}, {"name": "审核"}, {"name": "办结"}],
            fees=_fees(name), materials=materials, flags=flags,
            result_licence_type=D.LT[produces] if produces else None,
            result_name=f"{name}结果", consultation_phone="12345", supervision_phone="12345",
            faq=[{"question": f"{name}可以网上办理吗？", "answer": "可以，登录粤省事或粤商通办理（示例）。"}],
            form_schema={"type": "object", "properties": {f: D.FIELDS[f] for f in fields},
                         "required": fields if cross_city else fields[:2]},
            synthetic=True))
    return items


def demo_implementations(index: int, item: ItemCreate) -> list[ImplementationCreate]:
    """Zhongshan's and Shenzhen's implementations of one item, with deliberate (synthetic) differences."""
    dept, themes = D.ITEMS[index][2], D.ITEMS[index][4]
    cross_city = bool(D.CROSS_CITY_THEMES & set(themes))
    out = []
    for city in (D.ZS, D.SZ):
        zs = city == D.ZS
        depth = 4 if (index % 8 != 0 if zs else index % 6 != 0) else 3
        promised = None
        if item.statutory_limit:
            promised = max(1, item.statutory_limit // (2 if zs else (4 if index % 3 else 2)) - (index % 3 if zs else 0))
        materials = [m.model_dump(mode="json") for m in item.materials
                     if zs or not (m.accept_with_gaps and index % 3 == 0)]
        instant = (index % 7 == 0 if zs else index % 4 == 0) and not cross_city
        flags = {"fully_online": depth == 4, "no_certificate": item.flags.no_certificate and (not zs or index % 3 != 0),
                 "cross_city": cross_city or index % 2 == 0 or (zs and index % 5 == 0),
                 "accept_with_gaps": item.flags.accept_with_gaps,
                 "instant_approval": instant, "instant_approval_rule_id": f"{city}-MP-{index:03d}" if instant else None}
        out.append(ImplementationCreate(
            code=D.department_code(dept, city) + "4" + item.basic_code, city_code=city,
            implementing_body=D.CITY_PREFIX[city] + D.DEPARTMENTS[dept][0],
            statutory_limit=item.statutory_limit, statutory_limit_unit=item.statutory_limit_unit,
            promised_limit=promised, promised_limit_unit="working_day" if promised else None,
            fees=[f.model_dump(mode="json") for f in item.fees], materials=materials,
            handling_forms=["window", "pc", "mobile"] + (["post"] if zs and index % 2 else ["self_service"] if not zs else []),
            visits=0 if depth == 4 else 1 + (index % 2 if not zs else 0),
            halls=["中山市民服务中心"] if zs else ["深圳市民中心行政服务大厅", "深圳市福田区政务服务中心"],
            online_depth=depth, flags=flags, consultation_phone="0760-12345" if zs else "0755-12345", synthetic=True))
    return out


def _real_codes(materials: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The materials with every symbolic licence type key replaced by its code; None if none was."""
    if not any(m.get("licence_type_code") in LEGACY_CODES for m in materials):
        return None
    return [{**m, "licence_type_code": LEGACY_CODES.get(m.get("licence_type_code"), m.get("licence_type_code"))}
            for m in materials]


def _only(model: type, record: dict[str, Any], **values: Any) -> Any:
    """`model` (a PUT body) from a record as the API shows it, with `values` changed."""
    return model.model_validate({k: v for k, v in record.items() if k in model.model_fields} | values)


async def _upgrade_codes(session: AsyncSession, items: list[Item]) -> int:
    """Demo records still holding symbolic licence type keys, edited through the service layer (a
    new version each, announced). Records an editor has since made invalid otherwise are left as
    they are, with a line saying so. Returns how many were upgraded."""
    upgraded = 0
    for item in items:
        materials = _real_codes(item.materials)
        if item.status == "retired" or (materials is None and item.result_licence_type not in LEGACY_CODES):
            continue
        result = LEGACY_CODES.get(item.result_licence_type or "", item.result_licence_type)
        try:
            data = _only(ItemUpdate, service.record(item), materials=materials or item.materials,
                         result_licence_type=result, reason=UPGRADE_REASON)
        except ValidationError as exc:
            print(f"catalog seed: item {item.basic_code} keeps its symbolic licence codes: {exc}")
            continue
        await service.update_item(session, item.id, data, SEED_ACTOR)
        upgraded += 1
    for item in items:
        for impl in await implementation_repository.search_inputs(session, item.id):
            materials = _real_codes(impl.materials)
            if materials is None or item.status == "retired":
                continue
            record = ImplementationRead.model_validate(impl).model_dump(mode="json")
            try:
                data = _only(ImplementationUpdate, record, materials=materials, reason=UPGRADE_REASON)
            except ValidationError as exc:
                print(f"catalog seed: implementation {impl.code} keeps its symbolic licence codes: {exc}")
                continue
            await implementation_service.update_implementation(session, impl.id, data, SEED_ACTOR)
            upgraded += 1
    return upgraded


async def _upgrade_bundles(session: AsyncSession) -> int:
    """Demo bundles merged from materials with symbolic keys: merged again (next version, announced)."""
    upgraded = 0
    for code, _, _ in D.BUNDLES:
        bundle = await bundle_repository.get_by_code(session, code)
        if bundle is None or _real_codes(bundle.merged.get("materials", [])) is None:
            continue
        await bundle_service.republish_bundle(session, bundle.id, BundleUpdate(
            name=bundle.name, description=bundle.description, city_code=bundle.city_code,
            item_codes=bundle.item_codes, synthetic=bundle.synthetic, reason=UPGRADE_REASON), SEED_ACTOR)
        upgraded += 1
    return upgraded


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Publish the demo records that are not there yet and upgrade demo records that still carry
    symbolic licence type keys; returns how many records were added or upgraded."""
    added = 0
    items = demo_items()
    async with sessionmaker() as session, session.begin():
        await repository.lock_catalogue(session)
        existing = await repository.by_codes(session, [i.basic_code for i in items])
        added += await _upgrade_codes(session, list(existing.values()))
        for index, data in enumerate(items):
            item = existing.get(data.basic_code)
            if item is None:
                item = await service.publish_item(session, data, SEED_ACTOR)
                added += 1
            if item.status != "published":
                continue
            for impl in demo_implementations(index, data):
                if await implementation_repository.find(session, data.basic_code, impl.city_code) is None:
                    await implementation_service.publish_implementation(session, item.id, impl, SEED_ACTOR)
                    added += 1
        added += await _upgrade_bundles(session)
        codes = {d.name: d.basic_code for d in items}
        for code, name, members in D.BUNDLES:
            if await bundle_repository.get_by_code(session, code) is None:
                await bundle_service.publish_bundle(session, BundleCreate(
                    code=code, name=name, item_codes=[codes[m] for m in members], synthetic=True), SEED_ACTOR)
                added += 1
    return added


async def main() -> None:
    engine = make_engine(Settings().database_url, 2)
    try:
        print(f"catalog: {await seed(make_sessionmaker(engine))} demo records added or upgraded")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
