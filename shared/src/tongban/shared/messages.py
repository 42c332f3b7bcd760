"""Problems in Chinese for residents: every problem `code` the platform emits has a Chinese
title and a detail a resident can read (the catalogue below), chosen by the request's
Accept-Language. Codes never change; only `title`, `detail` and the validation errors' words do.

`negotiate(accept_language)` picks the language of a request (the platform's edge middleware
sets it for the request; `problem_response` reads it). A request that asks for no language (no
header, an empty one, or only `*`) gets `DEFAULT`, Chinese, whoever the caller is: the language
is chosen before (and without) the token, so a 401 for a missing or expired token reads the same
as a 403 after it; the people this serves (residents, companies, and the hall's own clerks) read
Chinese; and machines (the platform's own service clients, partner cities) branch on `code` and
send `Accept-Language: en` for English words in their logs. A request that names only languages
the platform has no words in (`fr-FR`) gets English, the nearer of the two for a foreign reader.
In Chinese, a validation error names each field by its Chinese label where one is known
(`LABELS`), else by the field's name, and says what is wrong in Chinese.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from typing import Any

ZH, EN = "zh-CN", "en"
DEFAULT = ZH
language_var: ContextVar[str] = ContextVar("language", default=DEFAULT)
# A validation error's kind (pydantic's `type`), carried to `localize` and never sent.
ERROR_TYPE = "_type"

# code|标题|说明 — one line per code (tests/test_messages.py: every AppError's code is here).
_CATALOGUE = """
bad_idempotency_key|请求标识无效|请求头 Idempotency-Key 的格式不正确，请重新提交。
bad_message_id|报文标识无效|跨域报文的标识格式不正确。
digest_mismatch|报文摘要不符|报文内容与摘要不一致，可能在传输中被改动。
error|请求有误|请求无法处理，请检查后重试。
invalid_grant|用户名或密码错误|请检查用户名和密码后重新登录；刷新令牌失效时请重新登录。
invalid_request|登录请求有误|登录请求缺少必要信息或格式不正确。
invalid_scope|权限范围不可用|所申请的权限范围没有授予该账号。
signature_malformed|报文签名格式错误|跨域报文的签名信息格式不正确。
unsupported_grant_type|不支持的登录方式|不支持该登录方式。
bad_signature|报文签名无效|跨域报文的签名校验未通过。
invalid_client|客户端认证失败|客户端标识或密钥不正确。
invalid_token|登录凭证无效|登录凭证无效，请重新登录。
signature_missing|报文未签名|跨域报文缺少签名。
signature_refused|报文签名被拒绝|跨域报文的签名不被接受。
stale_timestamp|报文时间不符|报文的时间与本系统时间相差过大。
token_expired|登录已过期|登录已过期，请刷新登录凭证或重新登录。
token_revoked|登录已失效|您已退出登录或凭证已被吊销，请重新登录。
unauthorized|请先登录|此操作需要先登录。
unknown_kid|签名密钥未知|报文使用了本系统不认识的签名密钥。
booking_suspended|预约功能已暂停|由于多次预约未到，您的预约功能暂时停用。
cannot_take_ticket|无法取号|只有居民本人或大厅窗口人员可以取号。
consent_required|需要证照持有人授权|使用该证照需要持有人本人授权。
forbidden|无权操作|您没有进行此操作的权限。
insufficient_scope|权限不足|当前登录凭证没有此操作所需的权限。
item_not_granted|事项未授权|合作城市未获授权办理该事项。
licence_use_refused|证照使用未获授权|没有覆盖此次用途的证照使用授权。
no_department|仅限部门人员|只有部门工作人员可以使用证照。
not_a_holder|不是证照持有人|只有居民和企业用户持有证照。
not_a_partner|不是合作城市|只有合作城市的系统可以调用此接口。
not_a_service|仅限平台服务|只有平台自身的服务可以代持有人操作。
not_allowed_for_role|无权处理该办件|您的身份不能对该办件进行此操作。
not_at_counter|请到窗口办理|只有大厅窗口人员可以现场采集申请人的授权。
not_issuer|仅限发证部门|只有发证部门可以进行此操作。
not_legal_representative|无权委托|只有本人（已实名的居民，或企业的法定代表人、管理员）可以委托他人。
not_owner|无权查看|该记录不属于您。
not_permitted|无权操作|您的身份不能进行此操作。
outside_delegation|超出委托范围|您的委托不包括此事项或此操作。
outside_scope|超出管辖范围|该记录不在您负责的大厅或部门范围内。
real_name_required|请先完成实名认证|此操作需要先完成实名认证。
seal_use_refused|无权使用该印章|您没有使用该电子印章的授权。
sender_mismatch|发送方不符|报文的发送方与登录凭证不一致。
service_not_granted|服务未授权|合作城市未获授权使用该服务。
unknown_partner|未知的合作城市|发送方不是已登记的合作城市。
account_not_found|账号不存在|找不到该账号。
appointment_not_found|预约不存在|找不到该预约。
bundle_not_found|“一件事”不存在|找不到该“一件事”。
case_not_found|办件不存在|找不到该办件，请核对办件编号。
category_not_found|业务类别不存在|该大厅没有这个业务类别。
client_not_found|客户端不存在|找不到该客户端。
consent_not_found|授权不存在|找不到该授权记录。
counter_not_found|窗口不存在|找不到该窗口。
delegation_not_found|委托不存在|找不到该委托。
document_not_found|材料不存在|找不到该材料。
hall_not_found|办事大厅不存在|找不到该办事大厅。
implementation_not_found|实施清单不存在|找不到该事项的实施清单。
incoming_case_not_found|办件不存在|找不到合作城市转来的该办件。
issuer_not_found|发证机关不存在|找不到该发证机关。
item_not_found|事项不存在|找不到该办事事项。
licence_not_found|证照不存在|找不到该电子证照。
licence_type_mapping_not_found|证照类型对照不存在|找不到该证照类型对照。
licence_type_not_found|证照类型不存在|找不到该证照类型。
message_not_logged|报文不存在|日志中没有该报文。
not_comparable|无法比较|两个城市中有一个没有该事项的实施清单。
not_found|未找到|找不到您要的内容。
outgoing_case_not_found|办件不存在|找不到该转出的办件。
partner_key_not_found|密钥不存在|该合作城市没有这个密钥。
partner_not_found|合作城市不存在|找不到该合作城市。
referral_not_found|转办单不存在|找不到该转办单。
remedy_not_found|整改任务不存在|找不到该差评整改任务。
schedule_not_found|节假日安排不存在|尚未导入该年度的节假日安排。
seal_delegation_not_found|印章授权不存在|找不到该印章授权。
seal_not_found|印章不存在|找不到该电子印章。
signing_key_not_found|签名密钥不存在|找不到该签名密钥。
slot_not_found|预约时段不存在|找不到该预约时段。
status_list_not_found|状态列表不存在|找不到该证照状态列表。
ticket_not_found|工单不存在|找不到该工单。
already_booked|已有预约|您当天已预约过该业务。
already_queued|已在排队|您在该大厅已有一个等候中的该业务排队号。
already_rated|已评价|该办件已经评价过了。
appointment_not_active|预约状态不允许此操作|该预约当前的状态不能进行此操作。
basic_code_taken|事项编码已存在|已有相同基本编码的事项。
bundle_code_taken|编码已存在|已有相同编码的“一件事”。
cannot_deactivate_self|不能停用自己的账号|管理员不能停用自己的账号。
case_already_forwarded|办件已转出|该合作城市办件已经转出。
case_has_licence|办件已有证照|该办件已经发放了证照。
category_taken|业务类别已存在|该大厅已有这个业务类别编码。
clerk_signed_in_elsewhere|已在其他窗口签到|您已在另一个窗口签到。
client_exists|客户端已存在|已有相同标识的客户端。
conflict|操作冲突|当前状态不允许此操作，请刷新后重试。
consent_already_revoked|授权已撤回|该授权已经撤回了。
counter_busy|窗口正在办理|该窗口还有正在办理的业务。
counter_not_open|窗口未开放|该窗口无人签到或已暂停服务。
counter_number_taken|窗口号已存在|该大厅已有这个窗口号。
counter_taken|窗口已被占用|已有其他工作人员在该窗口签到。
delegation_revoked|委托已撤销|该委托已经撤销。
gaps_outstanding|仍有材料待补|容缺受理的材料尚未补齐。
hall_closed|大厅未开放|该办事大厅现在不在办公时间。
hold_expired|预约保留已过期|预约时段的保留时间已过，请重新预约。
implementation_exists|实施清单已存在|本市已有该事项的实施清单（或编码已被使用）。
invalid_status_transition|证照状态不允许此操作|该证照当前的状态不能进行此操作。
licence_type_mapping_exists|对照已存在|该证照类型对照已经存在。
licence_type_taken|证照类型已存在|已有相同编码的证照类型。
no_current_ticket|没有对应的排队号|该窗口没有处于此状态的排队号。
nonce_replayed|重复的报文|该报文已经收到过，疑似重放。
not_a_citizen|不是居民账号|只有居民账号有实名等级。
not_an_agent_account|代办人账号不符|代办人须是另一个有效的居民账号。
not_an_agent_of_the_company|不是该企业的经办人|该账号不是本企业的经办人。
not_check_in_time|不在签到时间|预约签到在预约时段开始前不久开放，时段结束时关闭。
not_presentable|证照不可出示|只有有效的证照可以出示。
not_staff|不是工作人员|只有窗口人员和审批人员有管辖范围。
partner_case_number_reused|办件编号重复|该办件编号已用于另一个办件。
partner_exists|合作城市已登记|该合作城市已经登记。
partner_key_exists|密钥已存在|该合作城市已有相同标识的密钥。
person_has_account|身份证号已注册|该身份证号码已经注册过居民账号，请直接登录。
provider_answer_used|核验结果已使用|该实名核验结果已经使用过，请重新核验。
seal_delegation_revoked|印章授权已撤销|该印章授权已经撤销。
seal_exists|印章已存在|企业已有一枚同类有效印章。
seal_revoked|印章已注销|该电子印章已经注销。
signing_key_in_use|签名密钥正在使用|最新的密钥正在签名，请先添加新密钥再停用。
slot_full|时段已约满|该时段已经约满，请选择其他时段。
stale_version|内容已被修改|内容已被他人修改，请重新读取后再提交。
ticket_closed|工单状态不允许此操作|该工单当前的状态不能进行此操作。
username_taken|用户名已被使用|该用户名已被注册，请换一个。
wrong_case_state|办件状态不允许此操作|该办件当前的状态不能进行此操作。
wrong_item_status|事项状态不允许此操作|该事项当前的状态不能进行此操作。
document_too_large|文件过大|上传的文件超过了大小限制。
payload_too_large|请求内容过大|提交的内容超过了大小限制。
unsupported_document_type|文件类型不支持|不支持这种文件类型，请上传 PDF 或图片。
answer_for_another_person|核验对象不符|实名核验的是另一个身份证号码。
bundle_item_refused|“一件事”包含不可办理的事项|该“一件事”包含无法办理的事项。
case_refused|无法在此申请|该办件不能在此受理。
document_unusable|材料不可用|该材料无法使用。
idempotency_key_reused|重复的请求标识|该请求标识已用于另一个请求。
invalid_field|填写有误|有一项内容填写不正确。
invalid_provider_answer|实名核验结果无效|实名核验服务的结果校验未通过，请重新核验。
item_not_available|事项暂不受理|该事项目前不接受申请。
item_not_offered_in_city|本市不办理该事项|本市不提供该事项。
licence_not_usable|证照不可用|该证照不能用于此办件。
malformed_presentation|不是有效的亮证码|这不是通办平台出示的证照。
malformed_stamp|不是有效的电子印章|这不是通办平台的电子印章。
materials_missing|材料不齐|还缺少必需的申请材料。
on_behalf_of_mismatch|持有人不符|报文代表的持有人与内容不一致。
own_region|不能添加本市|合作城市不能是本市。
schedule_exists|节假日安排已存在|该年度的节假日安排已经导入。
schedule_invalid|节假日安排有误|节假日安排的内容不正确。
unknown_case|办件不存在|找不到该授权所对应的办件。
unknown_city|未知的城市|城市行政区划代码不正确。
unknown_provider|未知的核验服务|没有这个实名核验服务。
login_locked|登录失败次数过多|登录失败次数过多，请稍后再试。
too_many_requests|操作太频繁|请求过于频繁，请稍后再试。
partner_refused|合作城市拒绝了请求|合作城市拒绝了该请求。
response_not_bound|合作城市的答复无效|合作城市的答复与本次请求不对应。
cases_not_configured|服务暂不可用|证照服务暂时无法查询办件。
credentials_unavailable|证照核验暂不可用|证照核验服务暂时不可用，请稍后再试。
partner_unavailable|合作城市暂不可用|合作城市暂时没有响应，请稍后再试。
search_busy|搜索繁忙|当前搜索的人较多，请稍后再试。
search_timed_out|搜索超时|搜索时间过长，请增加关键词或筛选条件。
server_busy|登录繁忙|当前登录的人较多，请稍后再试。
signing_key_unavailable|服务暂不可用|签名密钥暂不可用，请稍后再试。
upstream_unavailable|服务暂不可用|有一项服务暂时不可用，请稍后再试。
validation_failed|填写有误|提交的内容有误，请按提示修改。
malformed_json|请求格式错误|提交的内容不是有效的 JSON。
internal_error|系统错误|系统出现错误，已记录，请稍后再试；如需帮助，请提供请求编号。
database_busy|系统繁忙|系统繁忙，请稍后再试。
database_unavailable|服务暂不可用|服务暂时不可用，请稍后再试。
method_not_allowed|不支持的操作|该地址不支持这种请求方式。
account_has_other_wechat|账号已绑定其他微信|该账号已绑定另一个微信用户，请先解除原绑定。
wechat_bound_elsewhere|微信已绑定其他账号|该微信用户已绑定另一个账号。
wechat_binding_not_found|微信绑定不存在|找不到该微信绑定。
wechat_code_invalid|微信登录码无效|微信登录码无效或已过期，请重新进入小程序后再试。
wechat_not_bound|微信尚未绑定账号|请先用账号登录或注册并完成实名认证，再绑定微信。
wechat_unavailable|微信服务暂不可用|暂时无法连接微信服务，请稍后再试。
unknown_mini_program|小程序未登记|该小程序未在本平台登记。
invalid_bind_ticket|绑定凭证无效|绑定凭证无效或已过期，请重新用微信登录。
phone_bound_elsewhere|手机号已绑定其他账号|该手机号已绑定另一个账号。
phone_not_bound|手机号尚未绑定账号|该手机号尚未绑定已实名的账号，请先登录并绑定手机号。
already_granted|已享受该政策|您已享受过该政策，不能重复申请。
benefit_grant_not_found|政策兑现记录不存在|找不到该政策兑现记录。
benefit_policy_not_found|政策不存在|找不到该政策。
benefit_policy_not_open|政策不在申报期内|该政策尚未发布或不在申报期内。
budget_exhausted|政策额度已用完|该政策的资金额度已用完。
not_eligible|不符合政策条件|您暂不符合该政策的条件，请查看缺少的条件。
rule_invalid|政策规则有误|政策的条件或金额规则有误，请检查后重新配置。
commitment_check_not_found|承诺核查不存在|找不到该告知承诺核查记录。
commitment_refused|不适用告知承诺制|根据信用记录，该申请人不适用告知承诺制，请按常规方式提交材料。
callback_refused|支付通知被拒绝|支付平台的通知未通过校验，未作任何改动。
order_not_payable|订单不可支付|该缴费订单已支付、已过期或已关闭。
payment_order_not_found|缴费订单不存在|找不到该缴费订单。
payment_outstanding|尚未缴费|该办件需先缴费，缴费后才能受理。
payment_provider_unavailable|支付平台暂不可用|暂时无法连接支付平台，请稍后再试。
unknown_payment_provider|支付方式不支持|不支持所选的支付方式。
reconciliation_not_found|对账记录不存在|找不到该对账记录。
case_document_not_found|文书不存在|找不到该办件文书。
document_already_sealed|文书已盖章|该文书已经加盖电子印章。
document_not_due|文书尚不能出具|办件尚未到达出具该文书的环节。
document_not_sealed|文书尚未盖章|该文书尚未加盖电子印章，暂不能下载。
sealed_document_not_found|盖章文书不存在|找不到该盖章文书的记录。
not_a_pdf|文件不是 PDF|请上传 PDF 格式的文书。
cjk_font_missing|缺少中文字体|服务器缺少中文字体，暂时无法生成文书，请联系管理员。
delivery_not_failed|消息未失败|只有发送失败的消息才能重新发送。
delivery_not_found|消息发送记录不存在|找不到该消息发送记录。
message_not_found|消息不存在|找不到该消息。
local_sink_off|本地消息记录未开启|本地消息记录只在开发环境中开启。
"""
CATALOGUE: dict[str, tuple[str, str]] = {
    code: (title, detail) for code, title, detail in
    (line.split("|") for line in _CATALOGUE.strip().splitlines())
}
# What a status means, for a code some day missing above (an `http_<status>` from a bare HTTPException).
BY_STATUS = {400: ("请求有误", "请求无法处理，请检查后重试。"), 401: ("请先登录", "此操作需要先登录。"),
             403: ("无权操作", "您没有进行此操作的权限。"), 404: ("未找到", "找不到您要的内容。"),
             409: ("操作冲突", "当前状态不允许此操作，请刷新后重试。"), 413: ("请求内容过大", "提交的内容超过了大小限制。"),
             422: ("填写有误", "提交的内容有误，请按提示修改。"), 429: ("操作太频繁", "请稍后再试。"),
             500: ("系统错误", "系统出现错误，请稍后再试。"), 502: ("服务暂不可用", "请稍后再试。"),
             503: ("服务暂不可用", "请稍后再试。")}

# Field names residents meet in forms, as a form labels them.
LABELS = {
    "username": "用户名", "password": "密码", "display_name": "姓名", "name": "姓名", "id_number": "身份证号码",
    "phone": "手机号码", "email": "电子邮箱", "credit_code": "统一社会信用代码", "basic_code": "事项编码",
    "implementation_code": "实施编码", "city_code": "城市代码", "form_data": "申请表", "applicant": "申请人",
    "materials": "材料", "commitment_signed": "承诺书", "level": "评价等级", "rating": "评价等级",
    "comment": "评价内容", "reason": "原因", "q": "搜索关键词", "limit": "每页条数", "offset": "起始位置",
    "hall_id": "办事大厅", "slot_id": "预约时段", "category": "业务类别", "category_code": "业务类别",
    "case_id": "办件编号", "item_id": "事项", "licence_id": "证照", "document_id": "材料",
    "face_image": "人脸照片", "agent_id": "代办人", "items": "事项", "actions": "操作", "expires_at": "有效期至",
    "content": "内容", "title": "标题", "address": "地址", "day": "日期", "date": "日期", "purpose": "用途",
    "grant_type": "登录方式", "refresh_token": "刷新令牌", "Idempotency-Key": "请求标识",
}
# Pydantic's error types, in words a resident reads.
_TYPES = {
    "missing": "必须填写", "string_too_short": "太短", "string_too_long": "太长", "string_pattern_mismatch": "格式不正确",
    "string_type": "应为文字", "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "bool_parsing": "应为是或否", "bool_type": "应为是或否",
    "greater_than": "数值太小", "greater_than_equal": "数值太小", "less_than": "数值太大", "less_than_equal": "数值太大",
    "too_short": "项目太少", "too_long": "项目太多", "enum": "不是可选的值", "literal_error": "不是可选的值",
    "date_parsing": "日期格式不正确", "date_from_datetime_parsing": "日期格式不正确", "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确", "uuid_parsing": "编号格式不正确", "uuid_type": "编号格式不正确",
    "extra_forbidden": "不应提交此项", "dict_type": "格式不正确", "list_type": "应为列表", "model_type": "格式不正确",
    "value_error": "内容不正确", "json_invalid": "不是有效的 JSON",
}


# Clients send a handful of distinct headers; each is parsed once (the edge asks on every request).
@lru_cache(maxsize=512)
def negotiate(accept_language: str | None) -> str:
    """The language of a request's answer: zh-CN or en, whichever its Accept-Language prefers
    (q-values honoured). No preference at all (no header, empty, only `*`) gives `DEFAULT`
    (Chinese); only languages without words here (`fr`) give English."""
    best, best_q = DEFAULT, -1.0
    named = False
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        named = named or tag not in ("", "*")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        lang = ZH if tag == "zh" or tag.startswith("zh-") else EN if tag == "en" or tag.startswith("en-") else None
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best if best_q >= 0 or not named else EN


def language_of(headers: Any) -> str:
    """The language an ASGI scope's raw headers ask for (paths outside the edge middleware)."""
    for key, value in headers or ():
        if key.lower() == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return negotiate(None)


def label(field: str) -> str:
    """A field's Chinese label (its last part: `applicant.id_number` → 身份证号码), else its name."""
    last = field.rsplit(".", 1)[-1]
    return LABELS.get(last, LABELS.get(field, field))


def localize(status: int, code: str, title: str, detail: str | None, errors: list[dict[str, Any]] | None = None,
             language: str | None = None) -> tuple[str, str | None, list[dict[str, Any]] | None]:
    """(title, detail, errors) in the request's language (`language`, else the one the edge
    negotiated): as given in English, or from the catalogue in Chinese (validation errors
    field by field, each with its `label`)."""
    kinds = [str(e.get(ERROR_TYPE, "")) for e in errors] if errors else []
    errors = [{k: v for k, v in e.items() if k != ERROR_TYPE} for e in errors] if errors else errors
    if (language or language_var.get()) != ZH:
        return title, detail, errors
    zh_title, zh_detail = CATALOGUE.get(code) or BY_STATUS.get(status) or BY_STATUS[500 if status >= 500 else 400]
    if errors:
        errors = [{**e, "label": label(str(e.get("field", ""))), "message": _TYPES.get(kind, "内容不正确")}
                  for e, kind in zip(errors, kinds, strict=True)]
        zh_detail = "；".join(f"{e['label']}：{e['message']}" for e in errors) + "。"
    return zh_title, zh_detail, errors
