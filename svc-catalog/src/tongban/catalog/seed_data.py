"""Demo catalogue for `make run`. Names, item types and legal bases follow real Guangdong items;
codes, credit codes, limits, fees, halls and every Zhongshan/Shenzhen difference are SYNTHETIC
(each record says so with `synthetic: true`)."""

from tongban.shared.ids import credit_code_check_char

ZS, SZ = "442000", "440300"

# Licence types by the short key this file uses: name and svc-credentials' type code (the defining
# body's credit code + 3 digits; SYNTHETIC codes with valid GB 32100 check characters, the same
# table as svc-credentials' demo data). Catalogues seeded before used the keys themselves as codes;
# seed.py upgrades those records (see LEGACY_CODES there).
LICENCE_TYPES = {
    "RESIDENT-ID": ("居民身份证", "11100000000019211T001"),
    "HUKOU": ("居民户口簿", "11100000000019211T002"),
    "VEHICLE-REG": ("机动车登记证书", "11100000000019211T003"),
    "DRIVING-LICENCE": ("机动车驾驶证", "11100000000019211T004"),
    "MARRIAGE-CERT": ("结婚证", "1110000000001922XJ001"),
    "BIZ-LICENCE": ("营业执照", "11100000000019238J001"),
    "FOOD-LICENCE": ("食品经营许可证", "11100000000019238J002"),
    "BIRTH-CERT": ("出生医学证明", "11100000000019246D001"),
    "PROPERTY-CERT": ("不动产权证书", "111000000000192548001"),
    "SOCIAL-CARD": ("社会保障卡", "111000000000192623001"),
    "DEGREE-CERT": ("学历证书", "11100000000019270X001"),
}
LT = {key: code for key, (_, code) in LICENCE_TYPES.items()}

# Materials, reused across items (licence_type_code: an e-licence of that type replaces the paper).
M = {
    "id": {"name": "居民身份证", "issuer": "公安机关", "originals": 1, "licence_type_code": LT["RESIDENT-ID"]},
    "hukou": {"name": "居民户口簿", "issuer": "公安机关", "originals": 1, "licence_type_code": LT["HUKOU"]},
    "licence": {"name": "营业执照", "issuer": "市场监督管理部门", "originals": 1, "licence_type_code": LT["BIZ-LICENCE"]},
    "photo": {"name": "近期免冠彩色照片", "originals": 1, "accept_with_gaps": True},
    "birth": {"name": "出生医学证明", "issuer": "助产医疗机构", "originals": 1, "licence_type_code": LT["BIRTH-CERT"]},
    "marriage": {"name": "结婚证", "issuer": "民政部门", "originals": 1, "licence_type_code": LT["MARRIAGE-CERT"]},
    "lease": {"name": "经营场所使用证明", "copies": 1, "accept_with_gaps": True},
    "articles": {"name": "公司章程", "originals": 1},
    "form": {"name": "申请表", "originals": 1},
    "property": {"name": "不动产权证书", "issuer": "自然资源部门", "originals": 1, "licence_type_code": LT["PROPERTY-CERT"]},
    "contract": {"name": "购房合同", "copies": 1},
    "income": {"name": "收入证明", "originals": 1, "required": False},
    "medical": {"name": "就医证明材料", "copies": 1, "accept_with_gaps": True},
    "social": {"name": "社会保障卡", "issuer": "人力资源社会保障部门", "originals": 1, "licence_type_code": LT["SOCIAL-CARD"]},
    "food": {"name": "食品安全管理制度文本", "originals": 1},
    "health": {"name": "从业人员健康证明", "copies": 1, "accept_with_gaps": True},
    "vehicle": {"name": "机动车登记证书", "issuer": "公安交通管理部门", "originals": 1, "licence_type_code": LT["VEHICLE-REG"]},
    "driving": {"name": "机动车驾驶证", "issuer": "公安交通管理部门", "originals": 1, "licence_type_code": LT["DRIVING-LICENCE"]},
    "tax": {"name": "纳税申报表", "originals": 1},
    "degree": {"name": "学历证书", "copies": 1, "licence_type_code": LT["DEGREE-CERT"]},
    "migration": {"name": "企业迁移登记申请书", "originals": 1},
}
FIELDS = {
    "applicant_name": {"type": "string", "title": "申请人姓名"},
    "id_number": {"type": "string", "title": "身份证号码"},
    "phone": {"type": "string", "title": "联系电话"},
    "address": {"type": "string", "title": "联系地址"},
    "company_name": {"type": "string", "title": "企业名称"},
    "credit_code": {"type": "string", "title": "统一社会信用代码"},
    "registered_capital": {"type": "number", "title": "注册资本（万元）"},
    "child_name": {"type": "string", "title": "新生儿姓名"},
    "birth_date": {"type": "string", "format": "date", "title": "出生日期"},
    "property_address": {"type": "string", "title": "不动产坐落"},
    "loan_amount": {"type": "number", "title": "贷款金额（万元）"},
    "shop_address": {"type": "string", "title": "经营场所"},
    "target_city": {"type": "string", "pattern": "^\\d{6}$", "title": "迁入地行政区划代码（GB/T 2260）"},
    "origin_city": {"type": "string", "pattern": "^\\d{6}$", "title": "迁出地行政区划代码（GB/T 2260）"},
    "new_address": {"type": "string", "title": "迁入后住所"},
}
# Departments (implementing bodies) per city: name and a synthetic credit code body (17 chars).
DEPARTMENTS = {
    "psb": ("公安局", "11{city}MB{n}"), "amr": ("市场监督管理局", "11{city}MB{n}"),
    "hrss": ("人力资源和社会保障局", "11{city}MB{n}"), "hf": ("住房公积金管理中心", "12{city}MB{n}"),
    "nr": ("自然资源局", "11{city}MB{n}"), "tax": ("税务局", "11{city}MB{n}"), "hs": ("医疗保障局", "11{city}MB{n}"),
    "ca": ("民政局", "11{city}MB{n}"), "tr": ("交通运输局", "11{city}MB{n}"), "edu": ("教育局", "11{city}MB{n}"),
}
CITY_PREFIX = {ZS: "中山市", SZ: "深圳市"}

# (name, item type, department, audience, themes/life events, materials, fields, result licence type key
# (LICENCE_TYPES), aliases). Append only: an item's basic code follows its position.
ITEMS = [
    ("企业设立登记", "01", "amr", "company", ["开办企业"], ["id", "articles", "lease"], ["company_name", "registered_capital", "applicant_name", "phone"], "BIZ-LICENCE", ["公司设立登记", "开公司"]),
    ("个体工商户设立登记", "01", "amr", "person", ["开办企业"], ["id", "lease"], ["applicant_name", "id_number", "shop_address"], "BIZ-LICENCE", ["个体户注册"]),
    ("企业变更登记", "01", "amr", "company", ["企业变更"], ["licence", "form"], ["company_name", "credit_code"], None, []),
    ("企业注销登记", "01", "amr", "company", ["企业注销"], ["licence", "form"], ["company_name", "credit_code"], None, ["公司注销"]),
    ("食品经营许可", "01", "amr", "company", ["开餐馆", "开办企业"], ["licence", "food", "health", "lease"], ["company_name", "credit_code", "shop_address"], "FOOD-LICENCE", ["食品经营许可证核发"]),
    ("食品生产许可", "01", "amr", "company", ["开办企业"], ["licence", "food"], ["company_name", "credit_code"], None, []),
    ("药品经营许可", "01", "amr", "company", ["开药店"], ["licence", "form"], ["company_name", "credit_code"], None, []),
    ("公章刻制备案", "20", "psb", "company", ["开办企业"], ["licence", "id"], ["company_name", "credit_code", "applicant_name"], None, ["刻章"]),
    ("居民身份证换领", "20", "psb", "person", ["证件办理"], ["id", "photo"], ["applicant_name", "id_number", "phone"], "RESIDENT-ID", ["身份证到期换证"]),
    ("居民身份证补领", "20", "psb", "person", ["证件办理"], ["hukou", "photo"], ["applicant_name", "id_number", "phone"], "RESIDENT-ID", ["身份证丢失补办"]),
    ("临时居民身份证申领", "20", "psb", "person", ["证件办理"], ["hukou", "photo"], ["applicant_name", "id_number"], None, ["临时身份证"]),
    ("户口迁移（市内）", "20", "psb", "person", ["户籍办理"], ["id", "hukou"], ["applicant_name", "id_number", "address"], None, ["户口迁入"]),
    ("户口迁移（跨市）", "20", "psb", "person", ["户籍办理", "人才引进"], ["id", "hukou", "degree"], ["applicant_name", "id_number", "address"], None, ["户口迁出", "准迁证"]),
    ("新生儿入户", "20", "psb", "person", ["新生儿出生"], ["birth", "hukou", "marriage"], ["child_name", "birth_date", "applicant_name", "id_number"], "HUKOU", ["出生登记", "新生儿落户"]),
    ("出生医学证明签发", "20", "ca", "person", ["新生儿出生"], ["id", "marriage"], ["child_name", "birth_date", "applicant_name"], "BIRTH-CERT", []),
    ("新生儿参加城乡居民医保", "20", "hs", "person", ["新生儿出生"], ["birth", "hukou"], ["child_name", "birth_date", "id_number"], None, ["新生儿医保参保"]),
    ("社会保障卡申领（新生儿）", "20", "hrss", "person", ["新生儿出生"], ["birth", "hukou", "photo"], ["child_name", "birth_date", "phone"], "SOCIAL-CARD", ["新生儿社保卡"]),
    ("异地就医备案", "20", "hs", "person", ["看病就医", "跨省通办"], ["social", "medical"], ["applicant_name", "id_number", "phone"], None, ["异地就医登记备案", "跨省就医备案"]),
    ("医疗费用手工报销", "05", "hs", "person", ["看病就医"], ["social", "medical"], ["applicant_name", "id_number"], None, ["医保报销"]),
    ("门诊特定病种待遇认定", "06", "hs", "person", ["看病就医"], ["social", "medical"], ["applicant_name", "id_number"], None, ["门特认定"]),
    ("住房公积金贷款", "20", "hf", "person", ["买房"], ["id", "contract", "income", "marriage"], ["applicant_name", "id_number", "loan_amount", "property_address"], None, ["公积金贷款申请"]),
    ("住房公积金提取（购房）", "20", "hf", "person", ["买房"], ["id", "contract"], ["applicant_name", "id_number", "property_address"], None, ["公积金提取"]),
    ("住房公积金提取（租房）", "20", "hf", "person", ["租房"], ["id"], ["applicant_name", "id_number"], None, []),
    ("住房公积金缴存登记", "20", "hf", "company", ["开办企业"], ["licence"], ["company_name", "credit_code"], None, ["公积金开户"]),
    ("不动产登记（首次登记）", "06", "nr", "person", ["买房"], ["id", "contract"], ["applicant_name", "id_number", "property_address"], "PROPERTY-CERT", ["房产证办理"]),
    ("不动产转移登记", "06", "nr", "person", ["买房", "二手房交易"], ["id", "property", "contract"], ["applicant_name", "id_number", "property_address"], "PROPERTY-CERT", ["过户"]),
    ("不动产抵押登记", "06", "nr", "person", ["买房"], ["id", "property", "contract"], ["applicant_name", "id_number", "property_address", "loan_amount"], None, ["抵押登记"]),
    ("不动产登记资料查询", "20", "nr", "person", ["买房"], ["id"], ["applicant_name", "id_number", "property_address"], None, ["查档"]),
    ("职工参保登记", "20", "hrss", "company", ["开办企业", "员工招聘"], ["licence"], ["company_name", "credit_code"], None, ["单位社保开户"]),
    ("灵活就业人员参保登记", "20", "hrss", "person", ["就业创业"], ["id"], ["applicant_name", "id_number", "phone"], None, ["个人社保参保"]),
    ("社会保险关系转移", "20", "hrss", "person", ["就业创业", "跨省通办"], ["id", "social"], ["applicant_name", "id_number"], None, ["社保转移"]),
    ("养老保险待遇申领", "05", "hrss", "person", ["退休"], ["id", "social"], ["applicant_name", "id_number"], None, ["退休金申领"]),
    ("失业保险金申领", "05", "hrss", "person", ["失业"], ["id", "social"], ["applicant_name", "id_number", "phone"], None, ["失业金"]),
    ("社会保障卡补换", "20", "hrss", "person", ["证件办理"], ["id", "photo"], ["applicant_name", "id_number", "phone"], "SOCIAL-CARD", ["社保卡补办"]),
    ("就业创业证申领", "20", "hrss", "person", ["就业创业"], ["id", "photo"], ["applicant_name", "id_number"], None, []),
    ("高校毕业生就业登记", "20", "hrss", "person", ["毕业生就业"], ["id", "degree"], ["applicant_name", "id_number"], None, []),
    ("人才引进入户", "20", "hrss", "person", ["人才引进"], ["id", "degree", "hukou"], ["applicant_name", "id_number", "address"], None, ["人才入户"]),
    ("税务登记（新办纳税人套餐）", "20", "tax", "company", ["开办企业"], ["licence", "id"], ["company_name", "credit_code"], None, ["新办纳税人"]),
    ("发票领用", "20", "tax", "company", ["开办企业"], ["licence"], ["company_name", "credit_code"], None, ["领发票", "申领发票"]),
    ("增值税申报", "04", "tax", "company", ["纳税"], ["tax"], ["company_name", "credit_code"], None, []),
    ("个人所得税综合所得汇算", "04", "tax", "person", ["纳税"], ["id"], ["applicant_name", "id_number"], None, ["个税汇算", "个税退税"]),
    ("完税证明开具", "20", "tax", "person", ["纳税"], ["id"], ["applicant_name", "id_number"], None, []),
    ("结婚登记", "06", "ca", "person", ["婚姻登记"], ["id", "hukou", "photo"], ["applicant_name", "id_number"], "MARRIAGE-CERT", ["领证"]),
    ("离婚登记", "06", "ca", "person", ["婚姻登记"], ["id", "hukou", "marriage"], ["applicant_name", "id_number"], None, []),
    ("最低生活保障审批", "07", "ca", "person", ["社会救助"], ["id", "hukou", "income"], ["applicant_name", "id_number", "address"], None, ["低保申请"]),
    ("高龄津贴申领", "05", "ca", "person", ["养老服务"], ["id"], ["applicant_name", "id_number"], None, ["老人津贴"]),
    ("残疾人两项补贴申领", "05", "ca", "person", ["残疾人服务"], ["id", "hukou"], ["applicant_name", "id_number"], None, []),
    ("殡葬补贴申领", "05", "ca", "person", ["身后事"], ["id", "hukou"], ["applicant_name", "id_number"], None, []),
    ("社会团体成立登记", "01", "ca", "social_organisation", ["社会组织"], ["id", "articles"], ["company_name", "applicant_name"], None, []),
    ("机动车注册登记", "06", "psb", "person", ["买车"], ["id", "vehicle"], ["applicant_name", "id_number"], "VEHICLE-REG", ["新车上牌"]),
    ("机动车驾驶证换证", "20", "psb", "person", ["驾驶证业务"], ["id", "driving", "photo"], ["applicant_name", "id_number"], "DRIVING-LICENCE", ["驾照到期换证"]),
    ("机动车检验合格标志核发", "20", "psb", "person", ["买车"], ["vehicle", "driving"], ["applicant_name", "id_number"], None, ["年检"]),
    ("道路运输经营许可", "01", "tr", "company", ["开办企业"], ["licence", "form"], ["company_name", "credit_code"], None, []),
    ("网络预约出租汽车驾驶员证核发", "01", "tr", "person", ["就业创业"], ["id", "driving"], ["applicant_name", "id_number"], None, ["网约车驾驶员证"]),
    ("义务教育阶段学位申请", "20", "edu", "person", ["入学"], ["id", "hukou", "property"], ["child_name", "applicant_name", "id_number", "address"], None, ["小学入学申请", "学位申请"]),
    ("教师资格认定", "06", "edu", "person", ["就业创业"], ["id", "degree", "photo"], ["applicant_name", "id_number"], None, []),
    ("民办学校设立", "01", "edu", "company", ["社会组织"], ["articles", "lease"], ["company_name", "applicant_name"], None, []),
    ("城乡居民医保参保登记", "20", "hs", "person", ["看病就医"], ["id", "hukou"], ["applicant_name", "id_number"], None, ["居民医保"]),
    ("生育津贴申领", "05", "hs", "person", ["新生儿出生"], ["id", "birth", "social"], ["applicant_name", "id_number"], None, ["生育保险"]),
    ("建设工程规划许可证核发", "01", "nr", "company", ["工程建设"], ["licence", "form"], ["company_name", "credit_code"], None, []),
    ("建设用地规划许可证核发", "01", "nr", "company", ["工程建设"], ["licence", "form"], ["company_name", "credit_code"], None, []),
    ("户外广告设置许可", "01", "amr", "company", ["开办企业"], ["licence", "lease"], ["company_name", "credit_code", "shop_address"], None, []),
    # Company migration between the cities (svc-interop's 企业迁移): cross-city in both cities (seed.py).
    # 迁入 registers the company in its new city, which issues the business licence anew.
    ("企业跨市迁移登记（迁出）", "01", "amr", "company", ["企业迁移"], ["licence", "migration"], ["company_name", "credit_code", "target_city", "new_address"], None, ["企业迁出", "公司跨市迁移"]),
    ("企业跨市迁移登记（迁入）", "01", "amr", "company", ["企业迁移"], ["licence", "migration"], ["company_name", "credit_code", "origin_city", "new_address"], "BIZ-LICENCE", ["企业迁入", "公司跨市迁入"]),
]
# Themes whose items every city runs across both cities (深中通办), whatever the synthetic pattern says.
CROSS_CITY_THEMES = {"企业迁移"}

BUNDLES = [
    ("KBQY-ONE", "开办企业一件事", ["企业设立登记", "公章刻制备案", "税务登记（新办纳税人套餐）", "发票领用", "职工参保登记", "住房公积金缴存登记"]),
    ("XSECS-ONE", "新生儿出生一件事", ["出生医学证明签发", "新生儿入户", "新生儿参加城乡居民医保", "社会保障卡申领（新生儿）"]),
    ("KCG-ONE", "开餐馆一件事", ["企业设立登记", "食品经营许可", "户外广告设置许可"]),
    ("GF-ONE", "二手房买卖一件事", ["不动产转移登记", "不动产抵押登记", "住房公积金贷款"]),
    ("TX-ONE", "退休一件事", ["养老保险待遇申领", "社会保险关系转移"]),
    ("RCYJ-ONE", "人才引进一件事", ["人才引进入户", "户口迁移（跨市）", "就业创业证申领"]),
]


def credit_code(body: str) -> str:
    return body + credit_code_check_char(body)


def department_code(key: str, city: str) -> str:
    """A synthetic 18-character credit code for a city's department (valid check character)."""
    n = f"{list(DEPARTMENTS).index(key) + 1:07d}"
    return credit_code(DEPARTMENTS[key][1].format(city=city, n=n))
