"""halls, counters, tickets, appointments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Halls (categories, closures, calendar overrides), counters and skills, the catalogue read copy,
tickets with their daily number sequences, slot templates, slots and appointments.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "queue"

# Value ranges the API validates, kept by the database as well.
CHECKS = [
    ("hall", "latitude", "latitude BETWEEN -90 AND 90"),
    ("hall", "longitude", "longitude BETWEEN -180 AND 180"),
    ("counter_skill", "weight", "weight BETWEEN 0 AND 3"),
    ("ticket", "rating", "rating BETWEEN 1 AND 5"),
    ("slot_template", "capacity", "capacity > 0"),
    ("slot_template", "weekday", "weekday BETWEEN 1 AND 7"),
    ("slot_template", "times", "ends > starts"),
    ("hall_closure", "period", "ends_at > starts_at"),
]


def upgrade() -> None:
    op.create_table('calendar_override',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_working_day', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_override')),
    schema=SCHEMA
    )
    op.create_table('catalog_item',
    sa.Column('item_id', sa.UUID(), nullable=False),
    sa.Column('basic_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('item_type', sa.String(length=2), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_catalog_item')),
    schema=SCHEMA
    )
    op.create_index(op.f('ix_catalog_item_basic_code'), 'catalog_item', ['basic_code'], unique=False, schema=SCHEMA)
    op.create_table('hall',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('opening_hours', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hall')),
    schema=SCHEMA
    )
    op.create_index(op.f('ix_hall_region_code'), 'hall', ['region_code'], unique=False, schema=SCHEMA)
    op.create_table('ticket_sequence',
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('prefix', sa.String(length=1), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hall_id', 'day', 'prefix', name=op.f('pk_ticket_sequence')),
    schema=SCHEMA
    )
    op.create_table('counter',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('clerk_sub', sa.String(length=200), nullable=True),
    sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_ticket_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_counter_hall_id_hall'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter')),
    sa.UniqueConstraint('hall_id', 'number', name=op.f('uq_counter_hall_id_number')),
    schema=SCHEMA
    )
    op.create_index(op.f('ix_counter_hall_id'), 'counter', ['hall_id'], unique=False, schema=SCHEMA)
    op.create_table('hall_category',
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=1), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_hall_category_hall_id_hall'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hall_id', 'code', name=op.f('pk_hall_category')),
    schema=SCHEMA
    )
    op.create_table('hall_closure',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_hall_closure_hall_id_hall'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hall_closure')),
    schema=SCHEMA
    )
    op.create_index(op.f('ix_hall_closure_hall_id'), 'hall_closure', ['hall_id'], unique=False, schema=SCHEMA)
    op.create_table('slot_template',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('category', sa.String(length=1), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_slot_template_hall_id_hall'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_template')),
    schema=SCHEMA
    )
    op.create_index(op.f('ix_slot_template_hall_id'), 'slot_template', ['hall_id'], unique=False, schema=SCHEMA)
    op.create_table('ticket',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=1), nullable=False),
    sa.Column('number', sa.String(length=10), nullable=False),
    sa.Column('item_code', sa.String(length=12), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('priority_reason', sa.String(length=20), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('person_sub', sa.String(length=200), nullable=True),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('target_counter_id', sa.UUID(), nullable=True),
    sa.Column('counter_id', sa.UUID(), nullable=True),
    sa.Column('appointment_id', sa.UUID(), nullable=True),
    sa.Column('case_id', sa.String(length=64), nullable=True),
    sa.Column('call_count', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approach_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_ticket_hall_id_hall'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('hall_id', 'day', 'number', name=op.f('uq_ticket_hall_id_day_number')),
    schema=SCHEMA
    )
    op.create_index('ix_ticket_hall_day_status', 'ticket', ['hall_id', 'day', 'status'], unique=False, schema=SCHEMA)
    op.create_index(op.f('ix_ticket_person_sub'), 'ticket', ['person_sub'], unique=False, schema=SCHEMA)
    op.create_index('ix_ticket_targeted', 'ticket', ['target_counter_id'], unique=False, schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
    op.create_index('ix_ticket_waiting', 'ticket', ['hall_id', 'day', 'category', sa.literal_column('priority DESC'), 'queued_at'], unique=False, schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
    op.create_table('appointment',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('hall_id', sa.UUID(), nullable=False),
    sa.Column('template_id', sa.UUID(), nullable=False),
    sa.Column('category', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('person_sub', sa.String(length=200), nullable=False),
    sa.Column('person_key', sa.String(length=200), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('missed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ticket_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['hall_id'], [f'{SCHEMA}.hall.id'], name=op.f('fk_appointment_hall_id_hall'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], [f'{SCHEMA}.slot_template.id'], name=op.f('fk_appointment_template_id_slot_template'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment')),
    schema=SCHEMA
    )
    op.create_index('ix_appointment_hall_day', 'appointment', ['hall_id', 'day'], unique=False, schema=SCHEMA)
    op.create_index(op.f('ix_appointment_person_key'), 'appointment', ['person_key'], unique=False, schema=SCHEMA)
    op.create_index(op.f('ix_appointment_person_sub'), 'appointment', ['person_sub'], unique=False, schema=SCHEMA)
    op.create_index('ix_appointment_slot', 'appointment', ['template_id', 'day'], unique=False, schema=SCHEMA)
    op.create_index('uq_appointment_person_category_day', 'appointment', ['person_key', 'category', 'day'], unique=True, schema=SCHEMA, postgresql_where=sa.text("status IN ('held', 'confirmed', 'checked_in')"))
    op.create_table('counter_skill',
    sa.Column('counter_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('value', sa.String(length=12), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['counter_id'], [f'{SCHEMA}.counter.id'], name=op.f('fk_counter_skill_counter_id_counter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('counter_id', 'kind', 'value', name=op.f('pk_counter_skill')),
    schema=SCHEMA
    )
    op.create_table('slot',
    sa.Column('template_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], [f'{SCHEMA}.slot_template.id'], name=op.f('fk_slot_template_id_slot_template'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('template_id', 'day', name=op.f('pk_slot')),
    schema=SCHEMA
    )
    for table, name, condition in CHECKS:
        op.create_check_constraint(f"ck_{table}_{name}", table, condition, schema=SCHEMA)


def downgrade() -> None:
    op.drop_table('slot', schema=SCHEMA)
    op.drop_table('counter_skill', schema=SCHEMA)
    op.drop_index('uq_appointment_person_category_day', table_name='appointment', schema=SCHEMA, postgresql_where=sa.text("status IN ('held', 'confirmed', 'checked_in')"))
    op.drop_index('ix_appointment_slot', table_name='appointment', schema=SCHEMA)
    op.drop_index(op.f('ix_appointment_person_sub'), table_name='appointment', schema=SCHEMA)
    op.drop_index(op.f('ix_appointment_person_key'), table_name='appointment', schema=SCHEMA)
    op.drop_index('ix_appointment_hall_day', table_name='appointment', schema=SCHEMA)
    op.drop_table('appointment', schema=SCHEMA)
    op.drop_index('ix_ticket_waiting', table_name='ticket', schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
    op.drop_index('ix_ticket_targeted', table_name='ticket', schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
    op.drop_index(op.f('ix_ticket_person_sub'), table_name='ticket', schema=SCHEMA)
    op.drop_index('ix_ticket_hall_day_status', table_name='ticket', schema=SCHEMA)
    op.drop_table('ticket', schema=SCHEMA)
    op.drop_index(op.f('ix_slot_template_hall_id'), table_name='slot_template', schema=SCHEMA)
    op.drop_table('slot_template', schema=SCHEMA)
    op.drop_index(op.f('ix_hall_closure_hall_id'), table_name='hall_closure', schema=SCHEMA)
    op.drop_table('hall_closure', schema=SCHEMA)
    op.drop_table('hall_category', schema=SCHEMA)
    op.drop_index(op.f('ix_counter_hall_id'), table_name='counter', schema=SCHEMA)
    op.drop_table('counter', schema=SCHEMA)
    op.drop_table('ticket_sequence', schema=SCHEMA)
    op.drop_index(op.f('ix_hall_region_code'), table_name='hall', schema=SCHEMA)
    op.drop_table('hall', schema=SCHEMA)
    op.drop_index(op.f('ix_catalog_item_basic_code'), table_name='catalog_item', schema=SCHEMA)
    op.drop_table('catalog_item', schema=SCHEMA)
    op.drop_table('calendar_override', schema=SCHEMA)
