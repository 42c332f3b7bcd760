"""What notices and decisions say (document/content.py) and that they render as readable Chinese
(document/render.py): a refusal and a denial state the rights of appeal and their time limits; a
document the case has not reached is refused."""

import datetime as dt
import uuid

import pypdfium2
import pytest
from tongban.cases.case.models import Case, CaseTimelineEntry
from tongban.cases.document import content, render
from tongban.cases.document.errors import DocumentNotDue

TODAY = dt.date(2026, 12, 7)


def a_case(**values) -> Case:  # noqa: ANN003
    base = dict(id=uuid.uuid4(), case_number="4420002026120700001", item_name="食品经营许可", department="11442000MB2C3D4E5A",
                applicant_type="person", applicant_id="442000199001011233", applicant_name="张三", state="submitted",
                limit_days=10, limit_unit="working_day", submitted_at=dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC),
                deadline_on=None, deadline_basis=None, gaps=None, gaps_due_on=None, missing_materials=None,
                decision=None, decided_at=None, licence_identifier=None, state_reason=None)
    return Case(**(base | values))


def entry(action: str, reason: str | None = None) -> CaseTimelineEntry:
    return CaseTimelineEntry(action=action, reason=reason, to_state="x", actor="clerk-1", actor_role="clerk",
                             at=dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC))


def facts(case: Case, entries: list[CaseTimelineEntry], kind: str) -> dict:
    return content.facts(case, entries, kind, ["营业执照"], 1, TODAY, "https://verify.example/d/1")


def test_a_refusal_gives_the_reason_and_the_rights_of_appeal() -> None:
    case = a_case(state="refused", state_reason="不属于本机关职权范围")
    f = facts(case, [entry("refuse", "不属于本机关职权范围")], "refusal")
    assert f["title"] == "不予受理通知书" and "不属于本机关职权范围" in f["paragraphs"][0]
    assert "六十日内" in f["appeal"] and "六个月内" in f["appeal"] and "行政复议" in f["appeal"]
    assert "442000********1233" in f["applicant"]      # the ID number masked on paper


def test_a_denial_and_an_approval() -> None:
    denied = a_case(state="denied", decision="denied", decided_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    f = facts(denied, [entry("deny", "经营场所不符合卫生要求")], "decision")
    assert f["title"] == "不予行政许可决定书" and "经营场所不符合卫生要求" in f["paragraphs"][0] and f["appeal"]
    approved = a_case(state="approved", decision="approved", licence_identifier="1.2.156.3005.2.X",
                      decided_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    f = facts(approved, [entry("approve")], "decision")
    assert f["title"] == "准予行政许可决定书" and f["appeal"] is None
    assert any("1.2.156.3005.2.X" in p for p in f["paragraphs"])


def test_nothing_before_its_step() -> None:
    case = a_case()
    for kind in ("acceptance", "supplement", "refusal", "decision"):
        with pytest.raises(DocumentNotDue):
            facts(case, [], kind)


def test_the_pdf_carries_the_chinese_text() -> None:
    case = a_case(state="accepted", deadline_on=dt.date(2026, 12, 21), gaps=["身份证复印件"],
                  gaps_due_on=dt.date(2026, 12, 14))
    f = facts(case, [entry("accept")], "acceptance")
    pdf = render.pdf(f, "办理机关 11442000MB2C3D4E5A", str(uuid.uuid4()))
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    for words in ("受理通知书", "食品经营许可", "2026年12月21日", "身份证复印件", "行政许可法", "营业执照"):
        assert words in text, words
    assert "10个工作日" in text
