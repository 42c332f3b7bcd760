"""What can be said, and in which words on each channel.

SMS providers (阿里云短信, 腾讯云短信) send only templates approved beforehand, each known by its
template code and carrying `${variable}` placeholders; WeChat subscribe messages (订阅消息) likewise
fill a template chosen in the mini-program's console, field by field, and may be sent only to a
user who authorised that template (once per message). A `Kind` is one piece of news (a case
accepted, a ticket about to be called): the variables it always provides, its inbox wording, and
which SMS and WeChat templates carry it.

The book is checked when it is configured, not when a message is sent: a kind whose SMS or WeChat
template needs a variable the kind does not provide, or names a template that was never
approved, or whose inbox wording uses a variable it lacks, is refused (`TemplateMisconfigured`)
and the gateway does not start with it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
SMS_MAX_VARIABLE = 35    # what Chinese SMS gateways accept in one variable (longer ones are cut, with "…")


class TemplateMisconfigured(ValueError):
    """A template or kind that cannot be sent as configured (refused at configuration time)."""


@dataclass(frozen=True)
class SmsTemplate:
    """An SMS template as the provider approved it: code, signature (签名) and text with ${vars}."""

    code: str
    text: str
    signature: str = "通办"

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.text))

    def render(self, values: Mapping[str, Any]) -> str:
        def one(m: re.Match[str]) -> str:
            value = str(values[m.group(1)])
            return value if len(value) <= SMS_MAX_VARIABLE else value[:SMS_MAX_VARIABLE - 1] + "…"
        return f"【{self.signature}】" + _PLACEHOLDER.sub(one, self.text)


@dataclass(frozen=True)
class WeChatTemplate:
    """A subscribe-message template: its id and which of our variables fills each of its fields."""

    template_id: str
    fields: Mapping[str, str]        # the template's field key (thing1, character_string2, ...) -> our variable

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(self.fields.values())

    def render(self, values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        # WeChat's `thing` fields hold at most 20 characters.
        return {key: {"value": str(values[var])[:20]} for key, var in self.fields.items()}


@dataclass(frozen=True)
class Kind:
    key: str
    title: str
    text: str                                     # inbox wording, str.format style: {case_number}
    variables: tuple[str, ...]
    audience: str                                 # applicant | holder | staff
    urgent: bool = False                          # sent through quiet hours and rate limits
    sms: str | None = None                        # an approved SMS template's code
    wechat: str | None = None                     # a subscribe-message template's id

    def render(self, values: Mapping[str, Any]) -> tuple[str, str]:
        return self.title.format(**values), self.text.format(**values)


def _format_fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclass
class TemplateBook:
    """The approved templates and the kinds that use them, checked as a whole when built."""

    sms: dict[str, SmsTemplate] = field(default_factory=dict)
    wechat: dict[str, WeChatTemplate] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)

    @classmethod
    def build(cls, sms: Iterable[SmsTemplate], wechat: Iterable[WeChatTemplate], kinds: Iterable[Kind]) -> TemplateBook:
        book = cls({t.code: t for t in sms}, {t.template_id: t for t in wechat})
        for kind in kinds:
            book.add(kind)
        return book

    def add(self, kind: Kind) -> None:
        """Configure one kind; refused if any of its wordings needs a variable it does not provide."""
        provided = set(kind.variables)
        missing = (_format_fields(kind.title) | _format_fields(kind.text)) - provided
        if missing:
            raise TemplateMisconfigured(f"{kind.key}: the inbox wording needs {sorted(missing)}")
        if kind.sms is not None:
            template = self.sms.get(kind.sms)
            if template is None:
                raise TemplateMisconfigured(f"{kind.key}: SMS template {kind.sms} is not an approved template")
            if missing := template.variables - provided:
                raise TemplateMisconfigured(f"{kind.key}: SMS template {kind.sms} needs {sorted(missing)}")
        if kind.wechat is not None:
            wt = self.wechat.get(kind.wechat)
            if wt is None:
                raise TemplateMisconfigured(f"{kind.key}: WeChat template {kind.wechat} is not configured")
            if missing := wt.variables - provided:
                raise TemplateMisconfigured(f"{kind.key}: WeChat template {kind.wechat} needs {sorted(missing)}")
        if kind.key in self.kinds:
            raise TemplateMisconfigured(f"{kind.key}: configured twice")
        self.kinds[kind.key] = kind

    def kind(self, key: str) -> Kind:
        return self.kinds[key]

    def values_for(self, kind: Kind, values: Mapping[str, Any]) -> dict[str, Any]:
        """The variables of one message: every one the kind declares (a producer that forgets one
        is a bug, caught by the tests, never a half-filled SMS)."""
        absent = [v for v in kind.variables if values.get(v) in (None, "")]
        if absent:
            raise TemplateMisconfigured(f"{kind.key}: no value for {absent}")
        return {v: values[v] for v in kind.variables}


SMS_TEMPLATES = [
    SmsTemplate("SMS_TB_CASE_RECEIVED", "您申请的${item}已收到，办件编号${case_number}，请留意办理进度。"),
    SmsTemplate("SMS_TB_CASE_ACCEPTED", "您的办件${case_number}已受理，承诺办结日期${deadline}。"),
    SmsTemplate("SMS_TB_CASE_SUPPLEMENT", "您的办件${case_number}需补正材料：${missing}，请登录通办补交。"),
    SmsTemplate("SMS_TB_CASE_APPROVED", "您的办件${case_number}已审批通过。"),
    SmsTemplate("SMS_TB_CASE_REFUSED", "您的办件${case_number}未予受理/未获批准，原因：${reason}。"),
    SmsTemplate("SMS_TB_CASE_COMPLETED", "您的办件${case_number}已办结，欢迎评价。"),
    SmsTemplate("SMS_TB_LICENCE_ISSUED", "您的电子证照${licence_type}已签发，可在通办亮证使用。"),
    SmsTemplate("SMS_TB_LICENCE_EXPIRING", "您的电子证照${licence_type}将于${valid_until}到期，请及时办理延续。"),
    SmsTemplate("SMS_TB_APPOINTMENT", "您已预约${day} ${starts}的窗口办理（${category}），请按时到场。"),
    SmsTemplate("SMS_TB_APPOINTMENT_REMIND", "提醒：您预约的${day} ${starts}窗口办理即将开始。"),
    SmsTemplate("SMS_TB_TICKET_AHEAD", "您的${number}号前面还有${ahead}人，请到大厅等候。"),
    SmsTemplate("SMS_TB_TICKET_NEXT", "您的${number}号是下一位，请到窗口附近等候。"),
    SmsTemplate("SMS_TB_TICKET_CALLED", "请${number}号到${counter}号窗口办理。"),
    SmsTemplate("SMS_TB_HOTLINE_REPLY", "您的12345诉求${ticket_number}已有答复，请登录查看。"),
    SmsTemplate("SMS_TB_DEADLINE", "办件${case_number}（${item_code}）${level_text}，法定期限${deadline}，请及时处理。"),
    SmsTemplate("SMS_TB_PAYMENT_DUE", "您的办件${case_number}需缴费${amount}，非税缴款码${payment_code}，请于${expires}前缴纳。"),
    SmsTemplate("SMS_TB_PAYMENT_RECEIVED", "您的办件${case_number}已缴费${amount}，电子票据号${receipt_number}。"),
    SmsTemplate("SMS_TB_PAYMENT_REFUNDED", "您的办件${case_number}所缴${amount}已退款，请留意原支付账户。"),
    SmsTemplate("SMS_TB_BENEFIT_GRANTED", "您已免申请获得${policy}${amount}（办件${case_number}），请登录通办填写收款银行账户。"),
    SmsTemplate("SMS_TB_BENEFIT_APPROVED", "您申请的${policy}已通过，金额${amount}（办件${case_number}），请登录通办填写收款银行账户。"),
    SmsTemplate("SMS_TB_BENEFIT_ACCOUNT", "您获得的${policy}${amount}尚缺收款银行账户（办件${case_number}），请登录通办填写。"),
    SmsTemplate("SMS_TB_OVERDUE_ESCALATED", "督办：${department}办件${case_number}已超期（期限${deadline}），请督促办理。"),
]

WECHAT_TEMPLATES = [
    WeChatTemplate("wx-case-progress", {"character_string1": "case_number", "phrase2": "status",
                                        "thing3": "note"}),
    WeChatTemplate("wx-licence-issued", {"thing1": "licence_type", "date2": "valid_from"}),
    WeChatTemplate("wx-appointment", {"date1": "day", "time2": "starts", "thing3": "category"}),
    WeChatTemplate("wx-queue-call", {"character_string1": "number", "thing2": "note"}),
    WeChatTemplate("wx-payment", {"character_string1": "case_number", "amount2": "amount", "thing3": "note"}),
    WeChatTemplate("wx-hotline-reply", {"character_string1": "ticket_number", "thing2": "note"}),
]

KINDS = [
    Kind("case.received", "办件已收到", "您申请的{item}已收到，办件编号{case_number}。",
         ("case_number", "item", "status", "note"), "applicant", sms="SMS_TB_CASE_RECEIVED", wechat="wx-case-progress"),
    Kind("case.accepted", "办件已受理", "办件{case_number}已受理，承诺办结日期{deadline}。",
         ("case_number", "deadline", "status", "note"), "applicant", sms="SMS_TB_CASE_ACCEPTED",
         wechat="wx-case-progress"),
    Kind("case.supplement_requested", "请补正材料", "办件{case_number}需补正以下材料：{missing}。",
         ("case_number", "missing", "status", "note"), "applicant", sms="SMS_TB_CASE_SUPPLEMENT",
         wechat="wx-case-progress"),
    Kind("case.approved", "审批通过", "办件{case_number}已审批通过。",
         ("case_number", "status", "note"), "applicant", sms="SMS_TB_CASE_APPROVED", wechat="wx-case-progress"),
    Kind("case.refused", "办件未通过", "办件{case_number}未通过，原因：{reason}。",
         ("case_number", "reason", "status", "note"), "applicant", sms="SMS_TB_CASE_REFUSED",
         wechat="wx-case-progress"),
    Kind("case.completed", "办件已办结", "办件{case_number}已办结，欢迎对本次服务评价。",
         ("case_number", "status", "note"), "applicant", sms="SMS_TB_CASE_COMPLETED", wechat="wx-case-progress"),
    Kind("licence.issued", "电子证照已签发", "您的电子证照{licence_type}已签发（{valid_from}起有效）。",
         ("licence_type", "valid_from"), "holder", sms="SMS_TB_LICENCE_ISSUED", wechat="wx-licence-issued"),
    Kind("licence.expiring", "电子证照即将到期", "您的电子证照{licence_type}将于{valid_until}到期。",
         ("licence_type", "valid_until"), "holder", sms="SMS_TB_LICENCE_EXPIRING"),
    Kind("appointment.confirmed", "预约成功", "您已预约{day} {starts}的窗口办理（{category}）。",
         ("day", "starts", "category"), "applicant", sms="SMS_TB_APPOINTMENT", wechat="wx-appointment"),
    Kind("appointment.reminded", "预约提醒", "您预约的{day} {starts}窗口办理即将开始。",
         ("day", "starts", "category"), "applicant", sms="SMS_TB_APPOINTMENT_REMIND", wechat="wx-appointment"),
    Kind("ticket.ahead", "排队提醒", "您的{number}号前面还有{ahead}人。",
         ("number", "ahead", "note"), "applicant", urgent=True, sms="SMS_TB_TICKET_AHEAD", wechat="wx-queue-call"),
    Kind("ticket.next", "马上轮到您", "您的{number}号是下一位，请到窗口附近等候。",
         ("number", "ahead", "note"), "applicant", urgent=True, sms="SMS_TB_TICKET_NEXT", wechat="wx-queue-call"),
    Kind("ticket.called", "请到窗口办理", "请{number}号到{counter}号窗口办理。",
         ("number", "counter", "note"), "applicant", urgent=True, sms="SMS_TB_TICKET_CALLED", wechat="wx-queue-call"),
    Kind("hotline.replied", "诉求已答复", "您的12345诉求{ticket_number}已答复：{reply}",
         ("ticket_number", "reply", "note"), "applicant", sms="SMS_TB_HOTLINE_REPLY", wechat="wx-hotline-reply"),
    Kind("payment.due", "请缴费", "办件{case_number}需缴费{amount}，非税缴款码{payment_code}，请于{expires}前缴纳。",
         ("case_number", "amount", "payment_code", "expires", "note"), "applicant", sms="SMS_TB_PAYMENT_DUE",
         wechat="wx-payment"),
    Kind("payment.received", "缴费成功", "办件{case_number}已缴费{amount}，电子票据号{receipt_number}。",
         ("case_number", "amount", "receipt_number", "note"), "applicant", sms="SMS_TB_PAYMENT_RECEIVED",
         wechat="wx-payment"),
    Kind("payment.refunded", "已退款", "办件{case_number}所缴{amount}已退款。",
         ("case_number", "amount", "note"), "applicant", sms="SMS_TB_PAYMENT_REFUNDED", wechat="wx-payment"),
    Kind("benefit.granted", "政策免申即享", "您已免申请获得「{policy}」{amount}（办件{case_number}），请填写收款银行账户。",
         ("case_number", "policy", "amount", "note"), "applicant", sms="SMS_TB_BENEFIT_GRANTED", wechat="wx-payment"),
    Kind("benefit.approved", "政策申请已通过", "您申请的「{policy}」已通过，金额{amount}（办件{case_number}），请填写收款银行账户。",
         ("case_number", "policy", "amount", "note"), "applicant", sms="SMS_TB_BENEFIT_APPROVED", wechat="wx-payment"),
    Kind("benefit.account_missing", "请填写收款账户", "您获得的「{policy}」{amount}尚缺收款银行账户（办件{case_number}），请尽快填写。",
         ("case_number", "policy", "amount", "note"), "applicant", sms="SMS_TB_BENEFIT_ACCOUNT", wechat="wx-payment"),
    Kind("deadline.yellow", "办件临近期限", "办件{case_number}（{item_code}）已用{used}/{limit}个工作日，期限{deadline}。",
         ("case_number", "item_code", "used", "limit", "deadline", "level_text"), "staff", sms="SMS_TB_DEADLINE"),
    Kind("deadline.red", "办件已超期", "办件{case_number}（{item_code}）已超过法定期限{deadline}。",
         ("case_number", "item_code", "used", "limit", "deadline", "level_text"), "staff", sms="SMS_TB_DEADLINE"),
    Kind("deadline.escalated", "超期督办", "{department}的办件{case_number}已超期（期限{deadline}），请督促办理。",
         ("case_number", "department", "deadline"), "staff", sms="SMS_TB_OVERDUE_ESCALATED"),
]


def default_book() -> TemplateBook:
    return TemplateBook.build(SMS_TEMPLATES, WECHAT_TEMPLATES, KINDS)


BOOK = default_book()
