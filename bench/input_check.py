"""Per-request cost of the edge's input check (tongban.shared.inputs.InputCheck), printed as a
table: the check alone on typical bodies and query strings, and a whole request through a
minimal FastAPI app with and without the middleware (in-process ASGI, back to back)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from fastapi import FastAPI, Request
from tongban.shared.inputs import InputCheck, json_problems, query_problems

FORM = {"item_basic_code": "442020000777", "applicant": {"name": "张三", "id_number": "11010519491231002X"},
        "form_data": {f"field_{i}": f"值 {i} 中山市东区松苑路" for i in range(20)}}
BODIES = {
    "small JSON, UTF-8 (300 B)": json.dumps(FORM["applicant"] | {"note": "申请" * 40}, ensure_ascii=False).encode(),
    "form JSON, UTF-8 (1 kB)": json.dumps(FORM, ensure_ascii=False).encode(),
    "form JSON, \\u escapes (2 kB)": json.dumps(FORM).encode(),
    "list of 100 objects (6 kB)": json.dumps({"items": [{"code": f"A{i:03d}", "n": i} for i in range(100)]}).encode(),
}
QUERIES = {"plain query": b"limit=50&offset=100&status=published",
           "escaped query": "q=中山市 社保&limit=20".encode().replace(b" ", b"+").decode().encode()}


def per_call(fn, arg, n: int = 20000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return (time.perf_counter() - started) / n * 1e6


async def per_request(app, body: bytes, n: int = 3000) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
        for _ in range(200):
            await client.post("/x", content=body, headers={"content-type": "application/json"})
        started = time.perf_counter()
        for _ in range(n):
            await client.post("/x", content=body, headers={"content-type": "application/json"})
        return (time.perf_counter() - started) / n * 1e6


def app(checked: bool) -> FastAPI:
    a = FastAPI()

    @a.post("/x")
    async def x(request: Request) -> dict:
        return {"n": len(await request.body())}

    if checked:
        a.add_middleware(InputCheck)
    return a


def main() -> None:
    print(f"{'input':<34} {'check alone (µs)':>17}")
    for name, body in BODIES.items():
        print(f"{name:<34} {per_call(json_problems, body):>17.2f}")
    for name, qs in QUERIES.items():
        print(f"{name:<34} {per_call(query_problems, qs):>17.2f}")
    print(f"\n{'whole request (in-process ASGI)':<34} {'without (µs)':>13} {'with (µs)':>10} {'ratio':>6}")
    for name, body in BODIES.items():
        without = asyncio.run(per_request(app(False), body))
        with_check = asyncio.run(per_request(app(True), body))
        print(f"{name:<34} {without:>13.1f} {with_check:>10.1f} {with_check / without:>6.2f}")


if __name__ == "__main__":
    main()
