"""`migration_drift` finds what alembic's comparison leaves out: a check constraint's condition and a
partial index's WHERE that differ between the migrations and the models (svc-queue's, altered in a
copy of its metadata)."""

import dataclasses

from sqlalchemy import CheckConstraint, Index, MetaData, text
from tongban.queue.main import SERVICE
from tongban.shared.testing.plugin import migration_drift


def _altered() -> MetaData:
    """svc-queue's models, but a rating allowed up to 10 and the clerk's counter index unconditional."""
    original = SERVICE.metadata
    copy = MetaData(schema=original.schema, naming_convention=original.naming_convention)
    for table in original.sorted_tables:
        table.to_metadata(copy)
    ticket = copy.tables["queue.ticket"]
    rating = next(c for c in ticket.constraints if isinstance(c, CheckConstraint) and c.name.endswith("rating"))
    ticket.constraints.remove(rating)
    ticket.append_constraint(CheckConstraint("rating BETWEEN 1 AND 10", name="rating"))
    counter = copy.tables["queue.counter"]
    clerk = next(i for i in counter.indexes if i.name == "uq_counter_clerk_sub")
    counter.indexes.remove(clerk)
    Index("uq_counter_clerk_sub", counter.c.clerk_sub, unique=True, postgresql_where=text("clerk_sub IS NULL"))
    return copy


async def test_a_changed_check_and_a_changed_partial_index_are_found(infra):
    assert await migration_drift(infra, SERVICE) == []
    found = await migration_drift(infra, dataclasses.replace(SERVICE, metadata=_altered()))
    assert sorted((kind, key) for kind, key, _ in found) == [
        ("constraint differs", "queue.ticket ck_ticket_rating"),
        ("index differs", "queue.counter uq_counter_clerk_sub"),
    ], found
    by_key = {key: sides for _, key, sides in found}
    assert "10" in by_key["queue.ticket ck_ticket_rating"]["models"]
    assert "IS NULL" in by_key["queue.counter uq_counter_clerk_sub"]["models"]
