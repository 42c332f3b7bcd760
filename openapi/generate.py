"""The OpenAPI documents, checked in: one per service and the gateway's aggregate (what the
gateway serves at `/openapi.json` when every service is up). `make openapi` writes them;
tests/test_openapi_files.py fails when the code and these files differ.

The apps are built, never started (no database, no NATS), so this runs on any checkout; the
output depends on the code alone (keys in the code's order, UTF-8, a newline at the end).

    python openapi/generate.py            write openapi/<name>.json
    python openapi/generate.py --check    exit 1 and name the files that differ
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVICES = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
AGGREGATE = "platform"            # openapi/platform.json: the gateway's /openapi.json
JWKS = '{"keys": []}'


def service_document(name: str) -> dict[str, Any]:
    main = importlib.import_module(f"tongban.{name}.main")
    settings = main.SERVICE.settings(database_url="postgresql+asyncpg://nobody@/nowhere",
                                     nats_url="nats://127.0.0.1:1", jwks_json=JWKS)
    outer = main.create_app(settings)
    return getattr(outer, "app", outer).openapi()


def documents() -> dict[str, dict[str, Any]]:
    """Every file's content by its name (without `.json`)."""
    os.environ.setdefault("TONGBAN_ENV", "development")  # development secrets: the apps are only built
    from tongban.gateway.config import UPSTREAMS
    from tongban.gateway.docs.service import TITLE, merge

    own = {name: service_document(name) for name in SERVICES}
    aggregate = merge(TITLE, {"gateway": own["gateway"], **{n: own[n] for n in UPSTREAMS}}, [])
    return {**own, AGGREGATE: aggregate}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def differing(folder: Path = HERE, docs: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The files that are missing or differ from what the code gives (`docs`, else built now)."""
    out = []
    for name, doc in (docs if docs is not None else documents()).items():
        path = folder / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(doc):
            out.append(path.name)
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = differing()
        if stale:
            print(f"out of date: {', '.join(stale)}; run make openapi", file=sys.stderr)
            return 1
        return 0
    for name, doc in documents().items():
        (HERE / f"{name}.json").write_text(render(doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
