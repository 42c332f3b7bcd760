"""A keyed submission's stored answer (Idempotency.remember) costs no round trip of its own: its
UPDATE goes with the kept rows, in the COMMIT's round trip (db.keep_update); the replay answers
the same case."""

import asyncpg

from tongban.cases.main import SERVICE
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"


async def submit(client, headers, key):  # noqa: ANN001, ANN201
    return await client.post("/api/v1/cases/cases", json={"basic_code": ITEM, "form_data": {"phone": "13800138000"}},
                             headers=dict(headers) | {"Idempotency-Key": key})


class Trips:
    """Every exchange with PostgreSQL, whole: simple queries (BEGIN, COMMIT and what rides with
    them), statements with parameters and prepared statements' executions."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.seen: list[str] = []
        execute, raw = asyncpg.connection.Connection.execute, asyncpg.connection.Connection._execute
        bound = asyncpg.prepared_stmt.PreparedStatement._PreparedStatement__bind_execute

        async def counted_execute(conn, query, *args, **kw):  # noqa: ANN001, ANN202
            if not args:
                self.seen.append(query)
            return await execute(conn, query, *args, **kw)

        async def counted_raw(conn, query, *args, **kw):  # noqa: ANN001, ANN202
            self.seen.append(query)
            return await raw(conn, query, *args, **kw)

        async def counted_bound(stmt, *args, **kw):  # noqa: ANN001, ANN202
            self.seen.append(stmt.get_query())
            return await bound(stmt, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted_execute)
        monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counted_raw)
        monkeypatch.setattr(asyncpg.prepared_stmt.PreparedStatement, "_PreparedStatement__bind_execute", counted_bound)


async def test_a_keyed_submission_stores_its_answer_in_the_commits_round_trip(infra, token_issuer, tokens, kit,
                                                                               monkeypatch):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        r = await client.put(f"/api/v1/cases/item-configs/{ITEM}", headers=tokens.admin(),
                             json={"form_fields": [{"name": "phone", "type": "phone", "required": True}]})
        assert r.status_code == 200, r.text
        for i in range(2):  # warm: statements prepared, caches filled
            assert (await submit(client, tokens.citizen(), key=f"warm-{i}")).status_code == 201
        trips = Trips(monkeypatch)
        first = await submit(client, tokens.citizen(), key="counted")
        assert first.status_code == 201, first.text
        seen = list(trips.seen)
        print("\nkeyed submission round trips:", len(seen), [" ".join(s.split())[:50] for s in seen])
        # (the outbox relay and the consumers run beside it, on their own connections: only the
        # submission's stored answer is looked for)
        remembered = [s for s in seen if "UPDATE cases.idempotency_key" in s]
        assert len(remembered) == 1, seen
        assert "COMMIT;" in remembered[0] and remembered[0].index("UPDATE") < remembered[0].index("COMMIT;")
        again = await submit(client, tokens.citizen(), key="counted")
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
