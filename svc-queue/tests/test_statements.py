"""What taking a ticket and calling the next cost in SQL statements (every one a round trip to
PostgreSQL): counted on the service's own engine, so a change that adds one shows here."""

import collections

from queue_helpers import BASE, make_hall
from tongban.queue.counter.models import Counter  # noqa: F401 - the mapped tables are loaded
from tongban.shared.testing.plugin import RoundTrips, Statements


async def test_take_ticket_and_call_next_statements(client, tokens, monkeypatch):
    hall = await make_hall(client, tokens)
    clerk = tokens.clerk(hall["id"], sub="clerk-count")
    r = await client.post(f"{BASE}/halls/{hall['id']}/counters", headers=tokens.admin(), json={
        "number": "1", "skills": [{"category": "A", "weight": "high"}, {"category": "B", "weight": "normal"}]})
    assert r.status_code == 201, r.text
    counter = r.json()["id"]
    assert (await client.post(f"{BASE}/counters/{counter}/sign-in", headers=clerk)).status_code == 200
    for _ in range(3):  # warm: later tickets have served ones before them (the wait estimate's figures)
        assert (await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk,
                                  json={"category": "A"})).status_code == 201
        assert (await client.post(f"{BASE}/counters/{counter}/call-next", headers=clerk)).status_code == 200
    counted = Statements(client.app.state.runtime.engine)
    trips = RoundTrips(monkeypatch)
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "A"})
    assert r.status_code == 201, r.text
    assert r.json()["ahead"] == 0 and r.json()["estimated_wait_seconds"] is not None
    take, take_trips = counted.take(), trips.take()
    r = await client.post(f"{BASE}/counters/{counter}/call-next", headers=clerk)
    assert r.status_code == 200, r.text
    call, call_trips = counted.take(), trips.take()
    print("\ntake ticket:", len(take), collections.Counter(take).most_common())
    print("call next:", len(call), collections.Counter(call).most_common())
    print("round trips: take", len(take_trips), take_trips, "\n             call", len(call_trips), call_trips)
    # Round trips, all of them: taking a ticket is the number's statement, then the ticket with its
    # audit record and event in one statement that is its own transaction, then the NOTIFY.
    assert len(take_trips) <= 3, take_trips
    assert not any(t.startswith(("BEGIN", "COMMIT")) for t in take_trips), take_trips
    # Calling the next: BEGIN with the counter's lock (db.begin_with), the claim (reading the
    # counter), then the events and audit records, the COMMIT and the NOTIFYs behind it, one
    # simple query (db.PlatformConnection).
    assert len(call_trips) <= 3, call_trips
    assert call_trips[0].startswith("BEGIN; SELECT 1 FROM queue.counter"), call_trips
    assert call_trips[-1].startswith("INSERT INTO queue."), call_trips
    # Upper bounds on SQLAlchemy's statements, so that one more shows. Taking a ticket runs none
    # through SQLAlchemy: the number's statement and the ticket's (with its wait figures, its
    # event and its audit record, db.write_last) are raw asyncpg on the request's connection
    # (A001-A003 were the warm-up's).
    assert len(take) <= 0, take
    assert r.json()["number"] == "A004"
    # Calling the next: one statement reads the counter, closes its ticket, claims and calls the
    # next (the lock goes with the BEGIN); the events and audit records go with the COMMIT.
    assert len(call) <= 1, call


async def test_with_an_idempotency_key_the_number_takes_a_second_connection(client, tokens):
    """The key's claim begins the request's transaction: the number's statement then runs on a
    second connection, in autocommit (inside the transaction its row lock would be held to the
    commit). Still one statement for the number, and a replay takes none."""
    hall = await make_hall(client, tokens)
    clerk = tokens.clerk(hall["id"], sub="kiosk-key")
    counted = Statements(client.app.state.runtime.engine)
    headers = {**clerk, "Idempotency-Key": "take-1"}
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=headers, json={"category": "B"})
    assert r.status_code == 201 and r.json()["number"] == "B001", r.text
    take = counted.take()
    assert sum("take_ticket_number" in s for s in take) == 1 and len(take) <= 6, take  # claim, number, 3, remember
    again = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=headers, json={"category": "B"})
    assert again.status_code == 201 and again.json() == r.json()
    assert not any("take_ticket_number" in s for s in counted.take())
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=clerk, json={"category": "B"})
    assert r.json()["number"] == "B002"


async def test_with_an_idempotency_key_the_stored_answer_rides_the_commit(client, tokens, monkeypatch):
    """The key's stored answer (Idempotency.remember) is no round trip of its own: its UPDATE goes
    in the COMMIT's round trip (db.keep_update), before the COMMIT. Round trips of a keyed take:
    BEGIN, the claim, the number (a second connection), the ticket's statement (db.write_last),
    then the answer, the COMMIT and the NOTIFY in one simple query: 5 (6 before)."""
    hall = await make_hall(client, tokens)
    clerk = tokens.clerk(hall["id"], sub="kiosk-key-trips")
    for i in range(2):  # warm: statements prepared on the pool's connections
        r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers={**clerk, "Idempotency-Key": f"warm-{i}"},
                              json={"category": "A"})
        assert r.status_code == 201, r.text
    trips = RoundTrips(monkeypatch)
    headers = {**clerk, "Idempotency-Key": "take-trips"}
    r = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=headers, json={"category": "A"})
    assert r.status_code == 201 and r.json()["number"] == "A003", r.text
    seen = trips.take()
    print("\nkeyed take round trips:", len(seen), seen)
    # No COMMIT of its own: the last round trip is "UPDATE queue.idempotency_key ...; COMMIT; SELECT
    # pg_notify(...)" (the ticket's audit row and event went with write_last's statement).
    assert len(seen) <= 5, seen
    assert not any(t.startswith("COMMIT") for t in seen), seen
    assert [t for t in seen if "idempotency_key" in t] == [seen[1], seen[-1]], seen
    assert seen[-1].startswith("UPDATE queue.idempotency_key"), seen
    again = await client.post(f"{BASE}/halls/{hall['id']}/tickets", headers=headers, json={"category": "A"})
    assert again.status_code == 201 and again.json() == r.json() and again.headers["Idempotent-Replayed"] == "true"
