"""One OpenAPI document for the whole platform, served at the gateway's `/openapi.json`.

Each service already serves its own document under its public prefix
(`/api/v1/<name>/openapi.json`), so its paths are kept as they are. Component names are
prefixed with the service's name (`catalog.ItemRead`) and every `$ref` is rewritten to match,
so two services' `ItemRead` never clash (the security schemes, shared by all, keep their names). Documents are cached for a short while; a service that
cannot be reached is listed under `x-unavailable` and asked again on the next request.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

import httpx

log = logging.getLogger("tongban.gateway.docs")
REF = "#/components/"
TITLE = "Tongban API (through the gateway)"


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF):
                kind, _, name = value[len(REF):].partition("/")
                out[key] = f"{REF}{kind}/{prefix}.{name}"
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def merge(title: str, documents: dict[str, dict[str, Any]], unavailable: list[str]) -> dict[str, Any]:
    """Merge OpenAPI documents by service name: paths as they are, components prefixed."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0", "info": {"title": title, "version": "1.0.0"}, "paths": {}, "components": {},
        "tags": [],
    }
    seen_tags: set[str] = set()
    for name, doc in documents.items():
        doc = _rewrite_refs(copy.deepcopy(doc), name)
        for path, item in doc.get("paths", {}).items():
            if path in merged["paths"]:
                log.warning("path %s is served by more than one service; keeping the first", path)
                continue
            merged["paths"][path] = item
        for kind, entries in doc.get("components", {}).items():
            target = merged["components"].setdefault(kind, {})
            for key, value in entries.items():
                # Security requirements name their scheme, not a $ref: the schemes (the same in
                # every document, tongban.shared.apidocs) keep their names.
                target[key if kind == "securitySchemes" else f"{name}.{key}"] = value
        for tag in doc.get("tags", []):
            if tag.get("name") not in seen_tags:
                seen_tags.add(tag.get("name"))
                merged["tags"].append(tag)
    if unavailable:
        merged["x-unavailable"] = sorted(unavailable)
    return merged


class OpenApiAggregator:
    """Fetches and merges the services' documents; keeps the result for `ttl` seconds."""

    def __init__(self, upstreams: dict[str, str], ttl: float, timeout: float) -> None:
        self.upstreams = upstreams
        self.ttl = ttl
        self.timeout = timeout
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, client: httpx.AsyncClient, name: str, base: str) -> dict[str, Any] | None:
        try:
            resp = await client.get(f"{base.rstrip('/')}/api/v1/{name}/openapi.json")
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("no OpenAPI document from %s: %r", name, exc)
            return None
        return doc if isinstance(doc, dict) else None

    async def document(self, own: dict[str, Any]) -> dict[str, Any]:
        """The merged document: the gateway's own (`own`) and every service's reachable one."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and self._cached[0] > now:
                return self._cached[1]
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
                fetched = await asyncio.gather(*(self._fetch(client, n, u) for n, u in self.upstreams.items()))
            docs = {"gateway": own}
            docs.update({name: doc for name, doc in zip(self.upstreams, fetched, strict=True) if doc is not None})
            unavailable = [name for name, doc in zip(self.upstreams, fetched, strict=True) if doc is None]
            merged = merge(TITLE, docs, unavailable)
            # A document missing a service is kept only briefly, so it fills in once the service is up.
            self._cached = (now + (self.ttl if not unavailable else min(self.ttl, 2.0)), merged)
            return merged
