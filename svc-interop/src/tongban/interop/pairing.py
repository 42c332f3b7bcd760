"""Make two running cities each other's partner, with every exchange service granted (深中通办):
what `make run-two-cities` and demo data need, and what tests and bench/interop.py use.

    python -m tongban.interop.pair --here http://127.0.0.1:8000 --here-token <admin token> \\
        --there http://127.0.0.1:9000 --token-url http://127.0.0.1:9000/auth/token --client-id zs-at-sz

registers `there` (its name and public keys from its public `GET /api/v1/interop/identity`) as a
partner of `here` through `here`'s admin API (`interop:admin`), or, when it is registered
already, brings its grants and items up to date and adds keys it does not have. Run it once in
each direction. Safe to run again: a partner already up to date is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, get_args

import httpx

from tongban.interop.partner.schemas import Service

API = "/api/v1/interop"
# Every exchange service: a partner city under the cross-city agreement may call all of them
# (discovery, case forwarding and status, licence keys and verification, hotline referrals and
# their status, company migration). Narrow them per partner with PATCH /partners/{region}.
CITY_SERVICES: list[str] = list(get_args(Service))


async def pair(http: httpx.AsyncClient, here: str, admin_token: str, there: str, token_url: str | None,
               client_id: str | None, services: list[str] | None = None, items: list[str] | None = None,
               reason: str = "paired (tongban.interop.pairing)") -> dict[str, Any]:
    """Register `there` as a partner of `here` (or update it); returns `here`'s partner record."""
    auth = {"Authorization": f"Bearer {admin_token}"}
    identity = (await http.get(f"{there}{API}/identity")).raise_for_status().json()
    region = identity["region_code"]
    services = CITY_SERVICES if services is None else services
    items = ["*"] if items is None else items
    r = await http.post(f"{here}{API}/partners", headers=auth, json={
        "region_code": region, "name": identity["name"], "base_url": there, "token_url": token_url,
        "client_id": client_id, "services": services, "items": items, "keys": identity["keys"]})
    if r.status_code != 409:
        return r.raise_for_status().json()
    current = (await http.get(f"{here}{API}/partners/{region}", headers=auth)).raise_for_status().json()
    known = {k["kid"] for k in current.get("keys", [])}
    for key in identity["keys"]:
        if key["kid"] not in known:
            (await http.post(f"{here}{API}/partners/{region}/keys", headers=auth, json=key)).raise_for_status()
    wanted = {"base_url": there.rstrip("/"), "token_url": token_url, "client_id": client_id, "services": services,
              "items": items}
    if known >= {k["kid"] for k in identity["keys"]} and all(current.get(k) == v for k, v in wanted.items()):
        return current
    r = await http.patch(f"{here}{API}/partners/{region}", headers=auth, json={**wanted, "reason": reason})
    return r.raise_for_status().json()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tongban.interop.pair", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--here", required=True, help="our gateway (or svc-interop) base URL")
    parser.add_argument("--here-token", required=True, help="an access token with interop:admin at --here")
    parser.add_argument("--there", required=True, help="the partner city's public base URL")
    parser.add_argument("--token-url", help="the partner gateway's token endpoint (client credentials)")
    parser.add_argument("--client-id", help="our client id at the partner's gateway")
    parser.add_argument("--service", action="append", choices=CITY_SERVICES,
                        help="grant only these (repeat); default: every service")
    args = parser.parse_args(argv)

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            partner = await pair(http, args.here, args.here_token, args.there, args.token_url, args.client_id,
                                 services=args.service)
        print(json.dumps({k: partner[k] for k in ("region_code", "name", "services", "status")}, ensure_ascii=False))

    asyncio.run(run())
