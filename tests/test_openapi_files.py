"""The checked-in OpenAPI documents (openapi/<name>.json, written by `make openapi`) are what
the code gives: a route or model changed without them fails here, naming the files."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def generator():
    spec = importlib.util.spec_from_file_location("openapi_generate", ROOT / "openapi" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built():
    """The generator and what it gives for this code (built once: the apps are only built)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TONGBAN_ENV", "development")  # development secrets
        gen = generator()
        return gen, gen.documents()


def test_the_checked_in_openapi_documents_match_the_code(built):
    gen, docs = built
    stale = gen.differing(docs=docs)
    assert not stale, f"openapi/ is out of date ({', '.join(stale)}): run make openapi"
    aggregate = json.loads((ROOT / "openapi" / f"{gen.AGGREGATE}.json").read_text(encoding="utf-8"))
    # The aggregate holds every service's paths, and what a generated client needs to log in.
    for name in gen.SERVICES:
        own = json.loads((ROOT / "openapi" / f"{name}.json").read_text(encoding="utf-8"))
        assert set(own["paths"]) <= set(aggregate["paths"]), name
    assert set(aggregate["components"]["securitySchemes"]) == {"bearer", "partner"}


def test_a_stale_file_is_named(tmp_path, built):
    gen, docs = built
    for name in [*gen.SERVICES, gen.AGGREGATE]:
        (tmp_path / f"{name}.json").write_text((ROOT / "openapi" / f"{name}.json").read_text(encoding="utf-8"),
                                               encoding="utf-8")
    (tmp_path / "queue.json").write_text("{}\n", encoding="utf-8")
    assert gen.differing(tmp_path, docs) == ["queue.json"]


# What a mini-program calls: each has a Chinese summary (in its route decorator) and a tag for its
# audience; each that needs a token says so (`security`), the public ones do not.
MINI_PROGRAM = {
    ("post", "/auth/token"): False, ("post", "/auth/register"): False, ("get", "/auth/userinfo"): True,
    ("post", "/auth/real-name/verifications"): True,
    ("get", "/api/v1/catalog/search"): False, ("get", "/api/v1/catalog/items"): False,
    ("get", "/api/v1/catalog/items/{item_id}"): False,
    ("get", "/api/v1/catalog/implementations/{implementation_id}/guide"): False,
    ("post", "/api/v1/cases/cases"): True, ("get", "/api/v1/cases/cases"): True,
    ("get", "/api/v1/cases/cases/{case_id}"): True, ("post", "/api/v1/cases/documents"): True,
    ("post", "/api/v1/cases/cases/{case_id}/materials"): True, ("post", "/api/v1/cases/ratings"): True,
    ("get", "/api/v1/credentials/me/licences"): True,
    ("post", "/api/v1/credentials/licences/{licence_id}/presentations"): True,
    ("post", "/api/v1/credentials/verifications"): False,
    ("get", "/api/v1/queue/halls"): False, ("get", "/api/v1/queue/halls/{hall_id}/slots"): False,
    ("post", "/api/v1/queue/appointments"): True, ("get", "/api/v1/queue/appointments/mine"): True,
    ("post", "/api/v1/queue/halls/{hall_id}/tickets"): True, ("get", "/api/v1/queue/tickets/mine"): True,
}


def test_what_a_mini_program_calls_is_described_in_chinese(built):
    gen, docs = built
    paths = docs[gen.AGGREGATE]["paths"]
    for (method, path), needs_token in MINI_PROGRAM.items():
        op = paths[path][method]
        assert any("\u4e00" <= c <= "\u9fff" for c in op.get("summary", "")), (method, path)
        assert op["tags"][0] in {"居民", "企业"}, (method, path, op["tags"])
        assert ("security" in op) is needs_token, (method, path)
        if needs_token:
            assert op["security"][0] == {"bearer": []}
