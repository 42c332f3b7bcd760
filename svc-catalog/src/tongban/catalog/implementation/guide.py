"""The printable service guide (办事指南) of one implementation: the standard item's elements
with the city's own limits, fees, materials, forms and halls, as JSON and as HTML."""

from decimal import Decimal
from html import escape
from typing import Any

from tongban.catalog.elements import CITIES, ITEM_TYPES
from tongban.catalog.implementation.models import Implementation
from tongban.catalog.item.models import Item

UNITS = {"working_day": "个工作日", "natural_day": "个自然日"}
FORMS = {"window": "窗口办理", "pc": "网上办理（PC）", "mobile": "掌上办理", "post": "邮寄办理", "self_service": "自助办理"}
CASE_TYPES = {"immediate": "即办件", "promised": "承诺件"}
DEPTH = {1: "一级（信息公开）", 2: "二级（在线预审）", 3: "三级（在线受理）", 4: "四级（全流程网办）"}


def _limit(value: int | None, unit: str | None) -> str | None:
    return None if value is None else f"{value}{UNITS.get(unit or '', '')}"


def build(item: Item, impl: Implementation) -> dict[str, Any]:
    """The guide as a JSON document."""
    total_fee = sum((Decimal(str(f["amount"])) for f in impl.fees), Decimal(0))
    return {
        "title": f"{item.name}办事指南", "city": CITIES.get(impl.city_code, impl.city_code),
        "city_code": impl.city_code, "implementation_code": impl.code, "basic_code": item.basic_code,
        "item_type": ITEM_TYPES.get(item.item_type, item.item_type), "case_type": CASE_TYPES[item.case_type],
        "implementing_body": impl.implementing_body, "credit_code": impl.implementing_body_credit_code,
        "legal_basis": item.legal_basis, "acceptance_conditions": item.acceptance_conditions,
        "statutory_limit": _limit(impl.statutory_limit, impl.statutory_limit_unit),
        "promised_limit": _limit(impl.promised_limit, impl.promised_limit_unit),
        "handling_forms": [FORMS.get(f, f) for f in impl.handling_forms], "visits": impl.visits,
        "online_depth": DEPTH.get(impl.online_depth), "halls": impl.halls,
        "materials": impl.materials or item.materials, "fees": impl.fees, "total_fee": str(total_fee),
        "process_steps": item.process_steps, "result": item.result_name,
        "consultation_phone": impl.consultation_phone or item.consultation_phone,
        "supervision_phone": item.supervision_phone, "faq": item.faq, "flags": impl.flags,
        "synthetic": item.synthetic or impl.synthetic, "version": impl.version,
    }


def render_html(guide: dict[str, Any]) -> str:
    """A self-contained printable page; every value is escaped."""
    e = lambda v: escape(str(v)) if v not in (None, "") else "无"  # noqa: E731
    rows = [("事项名称", guide["title"].removesuffix("办事指南")), ("实施编码", guide["implementation_code"]),
            ("基本编码", guide["basic_code"]), ("事项类型", guide["item_type"]), ("办件类型", guide["case_type"]),
            ("实施主体", f'{guide["implementing_body"]}（{guide["credit_code"]}）'),
            ("法定办结时限", guide["statutory_limit"]), ("承诺办结时限", guide["promised_limit"]),
            ("办理形式", "、".join(guide["handling_forms"])), ("到现场次数", guide["visits"]),
            ("网办深度", guide["online_depth"]), ("办理地点", "；".join(guide["halls"])),
            ("设定依据", guide["legal_basis"]), ("办理结果", guide["result"]),
            ("咨询电话", guide["consultation_phone"]), ("监督电话", guide["supervision_phone"])]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    materials = "".join(
        f"<tr><td>{e(m['name'])}</td><td>{e(m.get('issuer'))}</td><td>{m.get('originals', 0)}</td>"
        f"<td>{m.get('copies', 0)}</td><td>{'是' if m.get('required', True) else '否'}</td>"
        f"<td>{'可免提交' if m.get('licence_type_code') else ''}{'，可容缺' if m.get('accept_with_gaps') else ''}</td></tr>"
        for m in guide["materials"])
    fees = "".join(f"<li>{e(f['name'])}：{e(f['amount'])} 元（依据：{e(f['basis'])}）</li>" for f in guide["fees"])
    steps = "".join(f"<li>{e(s['name'])}{'：' + e(s['description']) if s.get('description') else ''}</li>"
                    for s in guide["process_steps"])
    conditions = "".join(f"<li>{e(c)}</li>" for c in guide["acceptance_conditions"])
    faq = "".join(f"<dt>{e(q['question'])}</dt><dd>{e(q['answer'])}</dd>" for q in guide["faq"])
    note = "<p class=note>示例数据（合成），非真实办事指南。</p>" if guide["synthetic"] else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(guide['title'])}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #999;padding:.3em .5em;text-align:left}}th{{width:10em;background:#f3f3f3}}
.note{{color:#a00}}@media print{{body{{margin:0}}}}</style></head>
<body><h1>{escape(guide['title'])}</h1><p>{escape(guide['city'])} · 第 {guide['version']} 版</p>{note}
<h2>基本信息</h2><table>{table}</table>
<h2>受理条件</h2><ul>{conditions or '<li>无</li>'}</ul>
<h2>申请材料</h2><table><tr><th>材料名称</th><th>出具单位</th><th>原件</th><th>复印件</th><th>必要</th><th>说明</th></tr>{materials}</table>
<h2>收费</h2><ul>{fees or '<li>不收费</li>'}</ul><p>合计：{escape(guide['total_fee'])} 元</p>
<h2>办理流程</h2><ol>{steps or '<li>无</li>'}</ol>
<h2>常见问题</h2><dl>{faq or '<dt>无</dt>'}</dl>
</body></html>"""
