"""The demo data: halls the demo clerk can operate, counters with skills, bookable slots; seeding
twice adds nothing."""

from queue_helpers import BASE
from tongban.queue import seed


async def test_demo_halls_are_usable_and_seeding_twice_adds_nothing(client, tokens):
    sessionmaker = client.app.state.sessionmaker
    assert await seed.seed(sessionmaker) == 3
    assert await seed.seed(sessionmaker) == 0

    halls = (await client.get(f"{BASE}/halls")).json()["items"]
    assert sorted(h["name"] for h in halls) == sorted(h[1] for h in seed.demo_halls("442000"))
    main = str(seed.MAIN_HALL_ID)
    assert main in {h["id"] for h in halls}
    counters = (await client.get(f"{BASE}/halls/{main}/counters")).json()["items"]
    assert len(counters) == 10 and {c["kind"] for c in counters} >= {"comprehensive", "cross_city"}

    # Demo halls open every day, all day: no calendar override needed, whatever today is.
    assert all(h["open_on_rest_days"] for h in halls)
    for day in ("2026-10-01", "2026-12-06", "2027-02-08"):   # National Day, a Sunday, Spring Festival
        slots = (await client.get(f"{BASE}/halls/{main}/slots", params={"day": day})).json()
        assert slots["total"] > 0, (day, slots)
    assert (await client.get(f"{BASE}/halls/{main}/live")).json()["open"] is True

    # The demo clerk's token names the main hall: they can sign in to a counter and call.
    clerk = tokens.clerk(main)
    counter = next(c for c in counters if c["number"] == "9")
    r = await client.post(f"{BASE}/counters/{counter['id']}/sign-in", headers=clerk)
    assert r.status_code == 200, r.text
    r = await client.post(f"{BASE}/halls/{main}/tickets", headers={**clerk, "Idempotency-Key": "seed-t1"},
                          json={"category": "C"})
    assert r.status_code == 201, r.text
    r = await client.post(f"{BASE}/counters/{counter['id']}/call-next", headers=clerk, json={})
    assert r.status_code == 200 and r.json()["number"] == "C001", r.text


async def test_seeding_again_after_the_main_hall_was_renamed_adds_nothing(client, tokens):
    """The main hall has a fixed id: a renamed one is still there (seeding by name re-inserted the
    id, and `make run` stopped at the duplicate key)."""
    sessionmaker = client.app.state.sessionmaker
    await seed.seed(sessionmaker)
    r = await client.patch(f"{BASE}/halls/{seed.MAIN_HALL_ID}", headers=tokens.admin(), json={"name": "新名字"})
    assert r.status_code == 200, r.text
    assert await seed.seed(sessionmaker) == 0
