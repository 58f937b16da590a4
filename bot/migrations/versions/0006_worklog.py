"""legal work: the adviser's work log, the litigation register, reminders, history

Revision ID: 0006
Revises: 0005 (relinked into the chain at merge)
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("record_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_history", schema=None) as batch_op:
        batch_op.create_index("ix_legal_history_record", ["record_type", "record_id"], unique=False)

    op.create_table(
        "litigation_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("parties", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("our_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("community", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("responsible_id", sa.Integer(), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["responsible_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_litigation_cases_number"),
    )
    with op.batch_alter_table("litigation_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_litigation_cases_closed_on"), ["closed_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_litigation_cases_filed_on"), ["filed_on"], unique=False
        )
        batch_op.create_index("ix_litigation_cases_kind_stage", ["kind", "stage"], unique=False)

    op.create_table(
        "work_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("decision_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("opinion", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("work_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_entries_day"), ["day"], unique=False)
        batch_op.create_index("ix_work_entries_kind_day", ["kind", "day"], unique=False)

    op.create_table(
        "litigation_dates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["litigation_cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("litigation_dates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_litigation_dates_case_id"), ["case_id"], unique=False)

    op.create_table(
        "litigation_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("date_id", sa.Integer(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("remind_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["date_id"],
            ["litigation_dates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("date_id", "days_before", name="uq_litigation_reminders_date_days"),
    )
    with op.batch_alter_table("litigation_reminders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_litigation_reminders_status_at", ["status", "remind_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("litigation_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_litigation_reminders_status_at")

    op.drop_table("litigation_reminders")
    with op.batch_alter_table("litigation_dates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_litigation_dates_case_id"))

    op.drop_table("litigation_dates")
    with op.batch_alter_table("work_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_work_entries_kind_day")
        batch_op.drop_index(batch_op.f("ix_work_entries_day"))

    op.drop_table("work_entries")
    with op.batch_alter_table("litigation_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_litigation_cases_kind_stage")
        batch_op.drop_index(batch_op.f("ix_litigation_cases_filed_on"))
        batch_op.drop_index(batch_op.f("ix_litigation_cases_closed_on"))

    op.drop_table("litigation_cases")
    with op.batch_alter_table("legal_history", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_history_record")

    op.drop_table("legal_history")
