"""50 counters pressing 下一位 at the same moment: no ticket is called twice, none is lost."""

import asyncio
from collections import Counter

from sqlalchemy import func, select

from queue_helpers import BASE, Tokens, make_hall
from tongban.queue.db import platform
from tongban.queue.main import SERVICE
from tongban.queue.ticket.models import Ticket
from tongban.shared.testing.plugin import running_service

COUNTERS = 50
TICKETS = 200
WEIGHTS = ["low", "normal", "high"]


async def test_fifty_counters_calling_at_once_never_share_or_lose_a_ticket(infra, token_issuer, clean_nats):
    tokens = Tokens(token_issuer)
    # Enough connections that all 50 transactions really run at once in PostgreSQL.
    async with running_service(SERVICE, infra, token_issuer, run_worker=False, db_pool_size=30) as client:
        hall = await make_hall(client, tokens)
        h = hall["id"]
        counters = []
        for i in range(COUNTERS):
            skills = [{"category": c, "weight": WEIGHTS[(i + k) % 3]} for k, c in enumerate("ABC")]
            r = await client.post(f"{BASE}/halls/{h}/counters", headers=tokens.admin(),
                                  json={"number": str(i + 1), "skills": skills})
            clerk = tokens.clerk(h)
            assert (await client.post(f"{BASE}/counters/{r.json()['id']}/sign-in", headers=clerk)).status_code == 200
            counters.append((r.json()["id"], clerk))
        kiosk = tokens.clerk(h)

        async def take(i: int) -> str:
            body = {"category": "ABC"[i % 3], **({"green_reason": "elderly"} if i % 7 == 0 else {})}
            r = await client.post(f"{BASE}/halls/{h}/tickets", headers=kiosk, json=body)
            assert r.status_code == 201, r.text
            return r.json()["id"]

        issued: list[str] = []
        for start in range(0, TICKETS, 50):
            issued += await asyncio.gather(*(take(i) for i in range(start, min(TICKETS, start + 50))))

        calls: list[str] = []
        gate = asyncio.Event()

        async def counter_loop(counter_id: str, clerk: dict) -> None:
            await gate.wait()  # every counter's first call leaves at the same moment
            while True:
                r = await client.post(f"{BASE}/counters/{counter_id}/call-next", headers=clerk)
                if r.status_code == 204:
                    return
                assert r.status_code == 200, r.text
                calls.append(r.json()["id"])

        loops = [asyncio.create_task(counter_loop(c, clerk)) for c, clerk in counters]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*loops)

        doubles = [t for t, n in Counter(calls).items() if n > 1]
        assert doubles == []
        assert set(calls) == set(issued) and len(calls) == TICKETS
        async with client.app.state.sessionmaker() as s:
            statuses = dict((await s.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
            called_events = (await s.execute(select(platform.outbox.c.subject).where(
                platform.outbox.c.subject == "queue.ticket.called"))).scalars().all()
        # The call that found nobody waiting closed each counter's last ticket too.
        assert statuses == {"done": TICKETS}
        assert len(called_events) == TICKETS


async def test_a_double_press_on_one_counter_closes_the_first_call_before_the_second(infra, token_issuer,
                                                                                        clean_nats):
    """Two 下一位 presses on the same counter at once: the second waits for the counter's lock and
    then closes the ticket the first one called (it must see it, though it was called after the
    second press began); no ticket is left called at a counter that has moved on."""
    tokens = Tokens(token_issuer)
    async with running_service(SERVICE, infra, token_issuer, run_worker=False, db_pool_size=10) as client:
        hall = await make_hall(client, tokens)
        h = hall["id"]
        clerk = tokens.clerk(h)
        r = await client.post(f"{BASE}/halls/{h}/counters", headers=tokens.admin(),
                              json={"number": "1", "skills": [{"category": "A"}]})
        counter = r.json()["id"]
        assert (await client.post(f"{BASE}/counters/{counter}/sign-in", headers=clerk)).status_code == 200
        for _ in range(12):
            assert (await client.post(f"{BASE}/halls/{h}/tickets", headers=clerk,
                                      json={"category": "A"})).status_code == 201
        for _ in range(5):
            answers = await asyncio.gather(*(client.post(f"{BASE}/counters/{counter}/call-next", headers=clerk)
                                             for _ in range(2)))
            assert [a.status_code for a in answers] == [200, 200]
        async with client.app.state.sessionmaker() as s:
            statuses = Counter((await s.execute(select(Ticket.status))).scalars())
        # Ten calls: nine closed by the call after them, the last one at the counter.
        assert statuses == {"done": 9, "called": 1, "waiting": 2}, statuses
