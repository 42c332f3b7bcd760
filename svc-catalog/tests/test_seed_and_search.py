"""The demo catalogue (seeded once per module) read back through the public API: statistics,
implementations and their benchmark, bundles, guides, and search."""

import pytest

from tongban.catalog.main import SERVICE
from tongban.catalog.seed import demo_items
from tongban.catalog.seed_data import BUNDLES
from tongban.shared.testing.plugin import running_service

pytestmark = pytest.mark.usefixtures("clean_nats")
API = "/api/v1/catalog"


@pytest.fixture
async def client(infra, token_issuer, seeded_db):
    async with running_service(SERVICE, infra, token_issuer, database_url=seeded_db[0], run_worker=False) as c:
        yield c


def test_seed_is_idempotent_and_big_enough(seeded_db):
    _, first, second = seeded_db
    items = demo_items()
    assert len(items) >= 60 and first == len(items) * 3 + len(BUNDLES) and second == 0
    assert all(i.synthetic for i in items)


async def test_statistics_per_flag_and_zhongshan_share_online(client):
    overall = (await client.get(f"{API}/items/statistics")).json()
    assert overall["total"] == 62 and overall["flags"]["cross_city"] > 0 and overall["flags"]["instant_approval"] > 0
    zs = (await client.get(f"{API}/items/statistics", params={"city_code": "442000"})).json()
    assert zs["total"] == 62 and round(zs["fully_online_share"] * 100) == 87
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
    assert report["compared"] == 62 and report["items_where_a_lags"] > 0 and report["items_where_b_lags"] > 0
    assert len(report["items"]) == 5 and report["next_offset"] == 5
    assert sum(v["a_lags"] for v in report["lags_per_element"].values()) > 0
    missing = await client.get(f"{API}/benchmark/items/442000999000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_comparable"


async def test_guides_as_json_and_printable_html(client):
    impls = (await client.get(f"{API}/implementations", params={"city_code": "442000", "limit": 200})).json()
    assert impls["total"] == 62
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
    assert everything["total"] == 62 and len(everything["items"]) == 10 and everything["next_offset"] == 10
    facets = everything["facets"]
    assert sum(facets["item_type"].values()) == 62 and facets["city"] == {"442000": 62, "440300": 62}
    assert facets["audience"]["person"] > facets["audience"]["company"] > 0
    online = (await client.get(f"{API}/search", params={"flag": ["instant_approval", "cross_city"]})).json()
    assert 0 < online["total"] < 62 and all(i["flags"]["instant_approval"] and i["flags"]["cross_city"]
                                            for i in online["items"])
    licences = (await client.get(f"{API}/search", params={"item_type": "01", "audience": "company"})).json()
    expected = [i.name for i in demo_items() if i.basic_code[2:4] == "01" and i.service_objects == ["company"]]
    assert licences["total"] == len(expected) < facets["item_type"]["01"]
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
    page3 = (await client.get(f"{API}/search", params={"q": "身份证", "limit": 10, "offset": 20})).json()
    assert page3["total_is_exact"] is False and len(page3["items"]) == 10


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
