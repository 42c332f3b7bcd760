"""The demo catalogue (seeded once per module) read back through the public API: statistics,
implementations and their benchmark, bundles, guides, and search."""

import pytest

from tongban.catalog.main import SERVICE
from tongban.catalog.seed import demo_items
from tongban.catalog.seed_data import BUNDLES, LICENCE_TYPES
from tongban.shared.testing.plugin import running_service

pytestmark = pytest.mark.usefixtures("clean_nats")
API = "/api/v1/catalog"
N = len(demo_items())


@pytest.fixture
async def client(infra, token_issuer, seeded_db):
    async with running_service(SERVICE, infra, token_issuer, database_url=seeded_db[0], run_worker=False) as c:
        yield c


def test_seed_is_idempotent_and_big_enough(seeded_db):
    _, first, second = seeded_db
    items = demo_items()
    assert len(items) >= 60 and first == len(items) * 3 + len(BUNDLES) and second == 0
    assert all(i.synthetic for i in items)
    codes = {code for _, code in LICENCE_TYPES.values()}
    used = {m.licence_type_code for i in items for m in i.materials if m.licence_type_code}
    used |= {i.result_licence_type for i in items if i.result_licence_type}
    assert used <= codes and len(used) == len(codes)  # every code is a real one, and every one is used


async def test_statistics_per_flag_and_zhongshan_share_online(client):
    overall = (await client.get(f"{API}/items/statistics")).json()
    assert overall["total"] == N and overall["flags"]["cross_city"] > 0 and overall["flags"]["instant_approval"] > 0
    zs = (await client.get(f"{API}/items/statistics", params={"city_code": "442000"})).json()
    assert zs["total"] == N and int(zs["fully_online_share"] * 100) == 87     # 56 of 64: 87.5%
    sz = (await client.get(f"{API}/items/statistics", params={"city_code": "440300"})).json()
    assert sz["fully_online_share"] != zs["fully_online_share"]


async def test_benchmark_of_one_item_and_the_catalogue_report(client):
    code = demo_items()[1].basic_code  # 个体工商户设立登记: Shenzhen promises 5 working days, Zhongshan 9
    r = await client.get(f"{API}/benchmark/items/{code}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["element"] for e in body["elements"]] == [
        "handling_form", "visits", "promised_limit", "statutory_limit", "materials_count", "fees", "online_depth",
        "instant_approval", "no_certificate", "cross_city"]
    by = {e["element"]: e for e in body["elements"]}
    assert by["statutory_limit"]["better"] == "equal"
    assert by["promised_limit"] == {"element": "promised_limit", "a": 9 * 7 / 5, "b": 5 * 7 / 5, "better": "b",
                                    "rule": by["promised_limit"]["rule"]}
    assert body["b_better"] == ["promised_limit"] and body["a_better"] == []
    report = (await client.get(f"{API}/benchmark/report", params={"limit": 5})).json()
    assert report["compared"] == N and report["items_where_a_lags"] > 0 and report["items_where_b_lags"] > 0
    assert len(report["items"]) == 5 and report["next_offset"] == 5
    assert sum(v["a_lags"] for v in report["lags_per_element"].values()) > 0
    missing = await client.get(f"{API}/benchmark/items/442000999000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_comparable"


async def test_guides_as_json_and_printable_html(client):
    impls = (await client.get(f"{API}/implementations", params={"city_code": "442000", "limit": 200})).json()
    assert impls["total"] == N
    impl = next(i for i in impls["items"] if i["basic_code"] == "442000003000")  # 居民身份证换领
    guide = (await client.get(f"{API}/implementations/{impl['id']}/guide")).json()
    assert guide["title"] == "居民身份证换领办事指南" and guide["city"] == "中山市" and guide["total_fee"] == "20.00"
    html = await client.get(f"{API}/implementations/{impl['id']}/guide.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "居民身份证换领办事指南" in html.text and impl["code"] in html.text and "示例数据" in html.text


async def test_bundles_merge_forms_and_materials(client):
    page = (await client.get(f"{API}/bundles")).json()
    assert page["total"] == len(BUNDLES) >= 5
    birth = next(b for b in page["items"] if b["name"] == "新生儿出生一件事")
    merged = birth["merged"]
    names = [m["name"] for m in merged["materials"]]
    assert len(names) == len(set(names)) and merged["materials_before_merge"] > len(names)
    # 出生医学证明 comes from the first item and the 户口簿 from 新生儿入户: later items do not ask for them.
    assert "出生医学证明" not in names and "居民户口簿" in names  # 入户 itself still needs the parents' 户口簿
    assert {p["material"] for p in merged["materials_produced_in_bundle"]} == {"出生医学证明", "居民户口簿"}
    props = merged["form_schema"]["properties"]
    assert len(props["child_name"]["x-items"]) == 4  # asked once for four items
    assert merged["total_promised"]


@pytest.mark.parametrize("q, expected", [
    ("sfz", "居民身份证换领"),           # pinyin initials
    ("身份证", "居民身份证换领"),
    ("公积金 贷款", "住房公积金贷款"),
    ("刻章", "公章刻制备案"),            # an alias
    ("出生医学证明", "出生医学证明签发"),
    # forgiving: the pinyin initials and full pinyin of a known word (营业执照), also with spaces
    ("yyzz", "企业设立登记"),
    ("yingyezhizhao", "企业设立登记"),
    ("ying ye zhi zhao", "企业设立登记"),
    ("jiehundengji", "结婚登记"),               # full pinyin of a name
    ("jie hun deng ji", "结婚登记"),
    ("身分证 换领", "居民身份证换领"),            # a common wrong character (forgiving.json)
    ("营业直照", "企业设立登记"),
    ("社保卡", "社会保障卡申领（新生儿）"),          # 俗称 (forgiving.json)
    ("低保", "最低生活保障审批"),
    ("个税", "个人所得税综合所得汇算"),           # found only through the synonym data
    ("失业金", "失业保险金申领"),
])
async def test_search_finds_by_keyword_alias_and_initials(client, q, expected):
    r = await client.get(f"{API}/search", params={"q": q})
    assert r.status_code == 200, r.text
    names = [i["name"] for i in r.json()["items"]]
    assert expected in names[:3], names


async def test_search_by_material_and_department(client):
    by_material = (await client.get(f"{API}/search", params={"q": "结婚证"})).json()
    assert "新生儿入户" in [i["name"] for i in by_material["items"]]
    dept = (await client.get(f"{API}/search", params={"department": "深圳市公安局", "limit": 200})).json()
    assert dept["total"] > 5 and all("440300" in i["cities"] for i in dept["items"])


async def test_search_filters_facets_and_pagination(client):
    everything = (await client.get(f"{API}/search", params={"limit": 10})).json()
    assert everything["total"] == N and len(everything["items"]) == 10 and everything["next_offset"] == 10
    facets = everything["facets"]
    assert sum(facets["item_type"].values()) == N and facets["city"] == {"442000": N, "440300": N}
    assert facets["audience"]["person"] > facets["audience"]["company"] > 0
    online = (await client.get(f"{API}/search", params={"flag": ["instant_approval", "cross_city"]})).json()
    assert 0 < online["total"] < N and all(i["flags"]["instant_approval"] and i["flags"]["cross_city"]
                                            for i in online["items"])
    licences = (await client.get(f"{API}/search", params={"item_type": "01", "audience": "company"})).json()
    expected = [i.name for i in demo_items() if i.basic_code[2:4] == "01" and i.service_objects == ["company"]]
    assert licences["total"] == len(expected) < facets["item_type"]["01"]
    bare = (await client.get(f"{API}/search", params={"limit": 10, "facets": "false"})).json()
    assert bare["total"] == N and bare["items"] == everything["items"] and bare["facets"]["city"] == {}
    theme = (await client.get(f"{API}/search", params={"theme": "新生儿出生"})).json()
    assert theme["total"] >= 5
    bad = await client.get(f"{API}/search", params={"flag": "flying"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "flag"
    none = (await client.get(f"{API}/search", params={"q": "火星移民"})).json()
    assert none["total"] == 0 and none["items"] == []


async def test_broad_searches_are_bounded(client, monkeypatch):
    """Past the cap the total is "N+", the facets describe the first N matches, and ranking reads a
    bounded window of the best tier: small caps here stand in for 1000 and 200."""
    from tongban.catalog.search import repository

    monkeypatch.setattr(repository, "COUNT_CAP", 20)
    monkeypatch.setattr(repository, "WINDOW", 5)
    r = (await client.get(f"{API}/search", params={"q": "身份证", "limit": 10, "facets": "true"})).json()
    assert r["total"] == 20 and r["total_is_exact"] is False and r["facets_exact"] is False
    assert r["next_offset"] == 10 and sum(r["facets"]["item_type"].values()) == 20
    assert r["items"][0]["name"] == "居民身份证换领"          # the title tier comes first
    scores = [i["score"] for i in r["items"]]
    assert len(scores) == 10
    assert r["items"][-1]["score"] < 100 <= r["items"][0]["score"]   # filled from the second tier
    page2 = (await client.get(f"{API}/search", params={"q": "身份证", "limit": 10, "offset": 10})).json()
    page3 = (await client.get(f"{API}/search", params={"q": "身份证", "limit": 10, "offset": 20})).json()
    assert page3["total_is_exact"] is False and len(page3["items"]) == 10
    seen = [i["id"] for p in (r, page2, page3) for i in p["items"]]
    assert len(seen) == len(set(seen)) == 30                   # pages follow on, across the tiers
    titles = sum(1 for i in demo_items() if "身份证" in i.name or any("身份证" in a for a in i.aliases))
    assert [i["score"] >= 100 for i in r["items"]] == [True] * titles + [False] * (10 - titles)


async def test_a_search_past_its_time_answers_503(client, monkeypatch):
    """The statement timeout is a guard: a search that runs past it answers 503 at once, and the
    connection it used serves the next search (the SQL statement: this replica's index is off)."""
    from tongban.catalog.search import index, repository, router

    monkeypatch.setattr(index.of(client.app), "generation", -1)

    real = repository._statement

    def slow(*args):
        s = real(*args)
        s.sql = s.sql.replace(" SELECT (SELECT coalesce", " SELECT pg_sleep(1)::text AS slept, (SELECT coalesce", 1)
        return s

    monkeypatch.setattr(repository, "_statement", slow)
    monkeypatch.setattr(router, "STATEMENT_TIMEOUT_MS", 50)
    r = await client.get(f"{API}/search", params={"q": "户口迁移"})
    assert r.status_code == 503 and r.json()["code"] == "search_timed_out"
    monkeypatch.setattr(repository, "_statement", real)
    assert (await client.get(f"{API}/search", params={"q": "户口迁移"})).json()["total"] >= 2


async def test_an_overloaded_replica_answers_503_at_once(client, monkeypatch):
    """With every compute slot taken, a search that is not cached is refused quickly (503), not
    queued for the database pool; a cached answer is still served."""
    import asyncio

    from tongban.catalog.search import cache

    cached = await client.get(f"{API}/search", params={"q": "公积金"})
    monkeypatch.setattr(cache, "SLOT_WAIT_SECONDS", 0.05)
    answers = cache.of(client.app)
    monkeypatch.setattr(answers, "slots", asyncio.Semaphore(0))
    busy = await client.get(f"{API}/search", params={"q": "公积金 提取"})
    assert busy.status_code == 503 and busy.json()["code"] == "search_busy"
    assert (await client.get(f"{API}/search", params={"q": "公积金"})).json() == cached.json()


async def test_company_migration_items_run_across_both_cities(client):
    """The two items svc-interop's 企业迁移 runs on: appended last, so the other basic codes stay."""
    items = demo_items()
    assert [i.basic_code for i in items[-2:]] == ["440100162000", "440100163000"]
    biz = LICENCE_TYPES["BIZ-LICENCE"][1]
    for code, name, city_field in [("440100162000", "企业跨市迁移登记（迁出）", "target_city"),
                                   ("440100163000", "企业跨市迁移登记（迁入）", "origin_city")]:
        hit = (await client.get(f"{API}/search", params={"q": name})).json()["items"][0]
        assert (hit["basic_code"], hit["name"]) == (code, name)
        item = (await client.get(f"{API}/items/{hit['id']}")).json()
        assert item["service_objects"] == ["company"] and item["themes"] == ["企业迁移"]
        assert item["flags"]["cross_city"] and not item["flags"]["instant_approval"]
        form = item["form_schema"]["properties"]
        assert set(form) == {"company_name", "credit_code", city_field, "new_address"}
        assert form[city_field]["pattern"] == r"^\d{6}$"
        assert [(m["name"], m["licence_type_code"]) for m in item["materials"]] == [("营业执照", biz),
                                                                                   ("企业迁移登记申请书", None)]
        impls = (await client.get(f"{API}/implementations", params={"basic_code": code})).json()["items"]
        assert {i["city_code"] for i in impls} == {"442000", "440300"}
        assert all(i["flags"]["cross_city"] and not i["flags"]["instant_approval"] for i in impls)
    moving_in = (await client.get(f"{API}/search", params={"q": "企业迁入"})).json()["items"][0]
    assert moving_in["basic_code"] == "440100163000"        # by its alias
    themed = (await client.get(f"{API}/search", params={"theme": "企业迁移", "flag": "cross_city"})).json()
    assert themed["total"] == 2


async def test_seed_upgrades_symbolic_licence_codes_through_the_service(infra):
    """A catalogue seeded when materials carried symbolic keys (RESIDENT-ID ...) is upgraded by the
    next seed: each record holding one becomes its next version, announced, and nothing else moves."""
    from sqlalchemy import text

    from tongban.catalog.seed import seed
    from tongban.shared.db import make_engine, make_sessionmaker

    engine = make_engine(infra.fresh_database(SERVICE), 2)
    try:
        sm = make_sessionmaker(engine)
        await seed(sm)
        keys = {key: code for key, (_, code) in LICENCE_TYPES.items()}
        symbolic = "|".join(keys)
        async with sm() as s, s.begin():
            for key, code in keys.items():  # back to what the earlier demo data wrote
                p = {"k": key, "c": code}
                await s.execute(text("UPDATE catalog.item SET materials = replace(materials::text, :c, :k)::jsonb, "
                                     "result_licence_type = replace(result_licence_type, :c, :k)"), p)
                await s.execute(text("UPDATE catalog.implementation SET "
                                     "materials = replace(materials::text, :c, :k)::jsonb"), p)
                await s.execute(text("UPDATE catalog.bundle SET merged = replace(merged::text, :c, :k)::jsonb"), p)
            counts = {}
            for table, column in [("item", "materials::text || coalesce(result_licence_type, '')"),
                                  ("implementation", "materials::text"), ("bundle", "merged::text")]:
                counts[table] = (await s.execute(text(
                    f"SELECT count(*) FROM catalog.{table} WHERE {column} ~ :re"), {"re": symbolic})).scalar_one()
            sent_before = (await s.execute(text("SELECT count(*) FROM catalog.outbox"))).scalar_one()
        assert all(counts.values())

        assert await seed(sm) == sum(counts.values())
        assert await seed(sm) == 0                                   # upgraded once
        async with sm() as s:
            for table, column in [("item", "materials::text || coalesce(result_licence_type, '')"),
                                  ("implementation", "materials::text"), ("bundle", "merged::text")]:
                left = (await s.execute(text(f"SELECT count(*) FROM catalog.{table} WHERE {column} ~ :re"),
                                        {"re": symbolic})).scalar_one()
                assert left == 0, table
            sent = (await s.execute(text("SELECT subject, envelope FROM catalog.outbox ORDER BY created_at OFFSET :n"),
                                    {"n": sent_before})).all()
            versions = (await s.execute(text("SELECT max(version) FROM catalog.item"))).scalar_one()
        subjects = [r.subject for r in sent]
        assert subjects.count("catalog.item.published") == counts["item"]
        assert subjects.count("catalog.bundle.published") == counts["bundle"]
        assert subjects.count("catalog.implementation.published") == counts["implementation"]
        assert versions == 2
        upgraded = next(r.envelope["data"] for r in sent if r.subject == "catalog.item.published")
        assert upgraded["version"] == 2 and all(not m["licence_type_code"] or m["licence_type_code"] in keys.values()
                                                for m in upgraded["record"]["materials"])
    finally:
        await engine.dispose()


QUERIES = [{"q": "身份证"}, {"q": "sfz"}, {"q": "公积金 贷款"}, {"q": "刻章"}, {"q": "结婚证"}, {"q": "证明", "limit": 5},
           {"q": "登记", "city": "442000"}, {"q": "办理", "audience": "company", "offset": 20},
           {"department": "深圳市公安局", "limit": 200}, {"flag": ["instant_approval", "cross_city"]},
           {"item_type": "01", "audience": "company"}, {"theme": "新生儿出生"}, {"q": "火星移民"}, {"limit": 10},
           {"q": "gjj", "facets": "false"}, {"q": "yyzz"}, {"q": "ying ye zhi zhao"}, {"q": "身分证 换领"},
           {"q": "社保"}, {"q": "jiehundengji", "city": "442000"}]


async def test_the_index_answers_as_the_sql_statement_does(client):
    """Below the window and the cap (the demo catalogue) both ways rank exactly: the same answers."""
    from tongban.catalog.search import cache, index

    idx = index.of(client.app)
    assert idx.ready and len(idx.docs) == N
    by_index = [(await client.get(f"{API}/search", params=q)).json() for q in QUERIES]
    cache.of(client.app).clear()
    generation = idx.generation
    idx.generation = -1                      # as a replica whose index is not built: the SQL statement
    try:
        by_sql = [(await client.get(f"{API}/search", params=q)).json() for q in QUERIES]
    finally:
        idx.generation = generation
    for q, a, b in zip(QUERIES, by_index, by_sql, strict=True):
        assert a == b, q


def test_forgiving_data_reads_words_by_pinyin_synonym_and_correction():
    from tongban.catalog.search.text import alternatives, joined_pinyin, syllables, variants

    assert syllables("yingyezhizhao") == ["ying", "ye", "zhi", "zhao"] and syllables("yyzz") is None
    assert joined_pinyin(["ying", "ye", "zhi", "zhao", "sfz"]) == ["yingyezhizhao", "sfz"]
    assert "营业执照" in variants("yyzz") and "营业执照" in variants("yingyezhizhao")
    assert "居民身份证" in variants("身份证") and "身份证" in variants("身分证")
    assert ("py:yezhi", "py:yingye", "py:zhizhao") in alternatives("yingyezhizhao")


async def test_the_summary_view_lists_fifty_items_in_a_fraction_of_the_bytes(client):
    """`?view=summary`: a mini-program's list rows (id, code, name, limit, the flags that are on,
    links to the item and its cities' implementations with their guides), paginated as the full view."""
    full = await client.get(f"{API}/items", params={"limit": 50})
    summary = await client.get(f"{API}/items", params={"limit": 50, "view": "summary"})
    assert full.status_code == summary.status_code == 200, summary.text
    f, s = full.json(), summary.json()
    assert len(s["items"]) == len(f["items"]) == 50
    assert (s["total"], s["limit"], s["offset"], s["next_offset"]) == (f["total"], 50, 0, 50)
    assert [i["id"] for i in s["items"]] == [i["id"] for i in f["items"]]
    # Measured on the demo catalogue: 50 items are 112,547 bytes in full and 25,376 as list rows.
    assert len(summary.content) * 4 < len(full.content), (len(summary.content), len(full.content))
    for row, item in zip(s["items"], f["items"], strict=True):
        assert set(row) == {"id", "basic_code", "item_type", "name", "implementing_body", "promised_limit",
                            "promised_limit_unit", "visits", "flags", "cities", "status", "links"}
        assert row["flags"] == [k for k, v in item["flags"].items() if v is True]
        assert row["links"] == {"self": f"/api/v1/catalog/items/{item['id']}",
                                "implementations": f"/api/v1/catalog/implementations?basic_code={item['basic_code']}"}
    guide = await client.get(s["items"][0]["links"]["implementations"])
    assert guide.status_code == 200 and all(i["basic_code"] == s["items"][0]["basic_code"]
                                            for i in guide.json()["items"])
    second = (await client.get(f"{API}/items", params={"limit": 50, "offset": 50, "view": "summary"})).json()
    assert second["offset"] == 50 and not {i["id"] for i in second["items"]} & {i["id"] for i in s["items"]}
    r = await client.get(f"{API}/items", params={"view": "tiny"})
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
