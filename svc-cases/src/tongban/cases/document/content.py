"""What each notice and decision says, from the case: who, what, when, the legal basis, the time
limit, the materials, the reasons and — for a refusal or a denial — the rights of appeal and their
time limits (行政许可法 第三十二条、第三十八条、第四十条; 行政复议法; 行政诉讼法 第四十六条).

`facts` is a plain dict (kept on the record as printed, so what the PDF says can be shown and
audited without the PDF). Kinds and the step of the case each records:
- acceptance (受理通知书): the case was accepted (with gaps: what is missing, by when);
- supplement (补正材料通知书, 一次性告知): the latest request for supplements, all of it at once;
- refusal (不予受理通知书): the case was refused, why, and how to appeal;
- decision (准予 / 不予行政许可决定书): the decision, the licence issued or the reasons and appeal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.document.errors import DocumentNotDue
from tongban.shared.ids import mask_resident_id

TITLES = {"acceptance": "受理通知书", "supplement": "补正材料通知书", "refusal": "不予受理通知书"}
CODES = {"acceptance": "受", "supplement": "补", "refusal": "不受", "decision": "决"}
BASIS = {
    "acceptance": "《中华人民共和国行政许可法》第三十二条第一款第（五）项",
    "supplement": "《中华人民共和国行政许可法》第三十二条第一款第（四）项",
    "refusal": "《中华人民共和国行政许可法》第三十二条第一款第（二）项、第（三）项",
    "approved": "《中华人民共和国行政许可法》第三十八条第一款",
    "denied": "《中华人民共和国行政许可法》第三十八条第二款",
}
APPEAL = ("如不服本{doc}，可以自收到本{doc}之日起六十日内依照《中华人民共和国行政复议法》申请行政复议，"
          "或者自收到本{doc}之日起六个月内依照《中华人民共和国行政诉讼法》第四十六条向人民法院提起行政诉讼。")
UNITS = {"working_day": "个工作日", "natural_day": "日", "calendar_day": "日"}


def _latest(entries: list[CaseTimelineEntry], *actions: str) -> CaseTimelineEntry | None:
    found = [e for e in entries if e.action in actions]
    return found[-1] if found else None


def _day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def _who(case: Case) -> str:
    shown = mask_resident_id(case.applicant_id) if case.applicant_type == "person" else case.applicant_id
    return f"{case.applicant_name}（{'身份证号' if case.applicant_type == 'person' else '统一社会信用代码'} {shown}）"


def facts(case: Case, entries: list[CaseTimelineEntry], kind: str, materials: list[str], sequence: int,
          today: dt.date, verify_url: str) -> dict[str, Any]:
    """What the document of `kind` says about `case`; DocumentNotDue if the case has not got there."""
    submitted = _day(case.submitted_at)
    limit = f"{case.limit_days}{UNITS.get(case.limit_unit, '日')}"
    base: dict[str, Any] = {
        "kind": kind, "case_number": case.case_number, "applicant": _who(case), "addressee": case.applicant_name,
        "item": case.item_name, "department": case.department, "submitted_on": submitted,
        "issued_on": _day(today), "verify_url": verify_url,
        "number": f"〔{today.year}〕{CODES[kind]}字{case.case_number}-{sequence}号",
    }
    if kind == "acceptance":
        accepted = _latest(entries, "accept")
        if accepted is None:
            raise DocumentNotDue("the case was not accepted")
        text = [f"你（单位）于{submitted}提出的{case.item_name}申请，申请材料齐全、符合法定形式，"
                f"根据{BASIS['acceptance']}的规定，本机关决定予以受理（受理日期：{_day(accepted.at)}）。",
                f"本机关将在受理之日起{limit}内作出决定，即不迟于{_day(case.deadline_on)}"
                + ("（暂按预估的节假日安排计算）。" if case.deadline_basis else "。")]
        if case.gaps:
            text.append(f"本件为容缺受理：请于{_day(case.gaps_due_on)}前补齐以下材料：{'、'.join(case.gaps)}。")
        return base | {"title": TITLES[kind], "paragraphs": text, "materials_heading": "已收取的申请材料",
                       "materials": materials, "legal_basis": BASIS["acceptance"], "appeal": None}
    if kind == "supplement":
        asked = _latest(entries, "request_supplement")
        if asked is None:
            raise DocumentNotDue("no supplement was requested on this case")
        missing = list(dict.fromkeys([*(case.missing_materials or []), *(case.gaps or [])]))
        text = [f"你（单位）于{submitted}提出的{case.item_name}申请，申请材料不齐全或者不符合法定形式。"
                f"根据{BASIS['supplement']}的规定，现一次性告知需要补正的全部内容如下：",
                f"补正要求：{asked.reason or '见下列材料'}",
                "请在补正后重新提交（线上提交或到窗口递交）。补正期间不计入办理时限；"
                "逾期不补正的，视为撤回申请。"]
        return base | {"title": TITLES[kind], "paragraphs": text, "materials_heading": "需补正的材料",
                       "materials": missing or ["（见补正要求）"], "legal_basis": BASIS["supplement"],
                       "appeal": None}
    if kind == "refusal":
        refused = _latest(entries, "refuse")
        if case.state != "refused" or refused is None:
            raise DocumentNotDue("the case was not refused")
        text = [f"你（单位）于{submitted}提出的{case.item_name}申请，经审查：{refused.reason or case.state_reason}。",
                f"根据{BASIS['refusal']}的规定，本机关决定不予受理。"]
        return base | {"title": TITLES[kind], "paragraphs": text, "materials_heading": None, "materials": [],
                       "legal_basis": BASIS["refusal"], "appeal": APPEAL.format(doc="通知书")}
    if kind == "decision":
        if case.decision not in ("approved", "denied"):
            raise DocumentNotDue("the case has no decision yet")
        decided = _latest(entries, "approve", "deny", "commitment_approve", "instant_approve")
        if case.decision == "approved":
            text = [f"你（单位）于{submitted}提出的{case.item_name}申请，经审查，符合法定条件、标准。",
                    f"根据{BASIS['approved']}的规定，本机关决定准予行政许可（决定日期：{_day(case.decided_at)}）。"]
            if case.licence_identifier:
                text.append(f"电子证照编号：{case.licence_identifier}。可在“我的证照”中查看和出示。")
            return base | {"title": "准予行政许可决定书", "paragraphs": text, "materials_heading": None,
                           "materials": [], "legal_basis": BASIS["approved"], "appeal": None}
        reason = (decided.reason if decided is not None else None) or case.state_reason or "不符合法定条件、标准"
        text = [f"你（单位）于{submitted}提出的{case.item_name}申请，经审查：{reason}。",
                f"根据{BASIS['denied']}的规定，本机关决定不予行政许可（决定日期：{_day(case.decided_at)}）。"]
        return base | {"title": "不予行政许可决定书", "paragraphs": text, "materials_heading": None,
                       "materials": [], "legal_basis": BASIS["denied"], "appeal": APPEAL.format(doc="决定书")}
    raise DocumentNotDue(f"unknown kind {kind}")
