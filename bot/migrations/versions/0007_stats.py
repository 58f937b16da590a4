"""statistics the office can sign: richer activity records, items published elsewhere

Revision ID: 0007
Revises: 0006 (the lead relinks the chain at merge)
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", AutoString(length=16), nullable=False, server_default="residents")
        )
        batch_op.add_column(
            sa.Column("materials", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("site", AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("series", AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("lecturer", AutoString(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]")
        )
    # The defaults were for the rows already there; new rows get theirs from the model.
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.alter_column("audience", server_default=None)
        batch_op.alter_column("materials", server_default=None)
        batch_op.alter_column("attachments", server_default=None)
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", AutoString(length=16), nullable=False),
        sa.Column("title", AutoString(length=200), nullable=False),
        sa.Column("topic", AutoString(length=32), nullable=True),
        sa.Column("link", AutoString(length=500), nullable=True),
        sa.Column("created_by", AutoString(length=160), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publications_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publications_day"))
    op.drop_table("publications")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        for column in ("attachments", "lecturer", "series", "site", "materials", "audience"):
            batch_op.drop_column(column)
