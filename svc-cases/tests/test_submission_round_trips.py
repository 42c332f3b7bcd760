"""A keyed submission's stored answer (Idempotency.remember) costs no round trip of its own: its
UPDATE goes with the kept rows, in the COMMIT's round trip (db.keep_update); the replay answers
the same case."""

from tongban.cases.main import SERVICE
from tongban.shared.testing.plugin import RoundTrips, running_service

ITEM = "442020000900"


async def submit(client, headers, key):  # noqa: ANN001, ANN201
    return await client.post("/api/v1/cases/cases", json={"basic_code": ITEM, "form_data": {"phone": "13800138000"}},
                             headers=dict(headers) | {"Idempotency-Key": key})


async def test_a_keyed_submission_stores_its_answer_in_the_commits_round_trip(infra, token_issuer, tokens, kit,
                                                                               monkeypatch):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        r = await client.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(),
                             json={"form_fields": [{"name": "phone", "type": "phone", "required": True}]})
        assert r.status_code == 200, r.text
        for i in range(2):  # warm: statements prepared, caches filled
            assert (await submit(client, tokens.citizen(), key=f"warm-{i}")).status_code == 201
        trips = RoundTrips(monkeypatch)
        first = await submit(client, tokens.citizen(), key="counted")
        assert first.status_code == 201, first.text
        seen = list(trips.seen)
        print("\nkeyed submission round trips:", len(seen), [s[:50] for s in seen])
        # (the outbox relay and the consumers run beside it, on their own connections: only the
        # submission's stored answer is looked for)
        remembered = [s for s in seen if "UPDATE cases.idempotency_key" in s]
        assert len(remembered) == 1, seen
        assert "COMMIT;" in remembered[0] and remembered[0].index("UPDATE") < remembered[0].index("COMMIT;")
        again = await submit(client, tokens.citizen(), key="counted")
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
