"""benefit policy generation: what "what do I qualify for" reads to know its compiled policies are current

Revision ID: 0010_benefit_match
Revises: 0009_documents
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_benefit_match"
down_revision = "0010_policy_rest"
branch_labels = None
depends_on = None
S = "cases"


def upgrade() -> None:
    op.create_table(
        "benefit_policy_generation",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="one_row"),
        schema=S)
    op.execute(f"INSERT INTO {S}.benefit_policy_generation (id, n) VALUES (1, 0)")
    # Any change to a published policy (published, amended, closed, removed; a row that was or
    # becomes published) bumps the generation in the same transaction, whichever code made it.
    # Taking budget (budget_used alone) changes nothing matching answers, and a draft is never
    # matched: neither bumps it, so grants never invalidate the compiled policies.
    op.execute(f"""
        CREATE FUNCTION {S}.benefit_policy_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF OLD.state <> 'published' AND NEW.state <> 'published' THEN
                    RETURN NULL;
                END IF;
                IF (to_jsonb(OLD) - 'budget_used') = (to_jsonb(NEW) - 'budget_used') THEN
                    RETURN NULL;
                END IF;
            ELSIF TG_OP = 'INSERT' AND NEW.state <> 'published' THEN
                RETURN NULL;
            ELSIF TG_OP = 'DELETE' AND OLD.state <> 'published' THEN
                RETURN NULL;
            END IF;
            UPDATE {S}.benefit_policy_generation SET n = n + 1 WHERE id = 1;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE TRIGGER benefit_policy_bump AFTER INSERT OR UPDATE OR DELETE ON {S}.benefit_policy
            FOR EACH ROW EXECUTE FUNCTION {S}.benefit_policy_bump();
    """)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER benefit_policy_bump ON {S}.benefit_policy")
    op.execute(f"DROP FUNCTION {S}.benefit_policy_bump()")
    op.drop_table("benefit_policy_generation", schema=S)
