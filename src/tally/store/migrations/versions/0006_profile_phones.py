"""profile_phones: a profile's phones as rows, indexed for matching by phone

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_phones",
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_profile_phones_profile_id_profiles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("profile_id", "phone", name=op.f("pk_profile_phones")),
    )
    op.create_index("ix_profile_phones_database_id_phone", "profile_phones", ["database_id", "phone"])
    # Phones stored so far; one longer than the new limit of 64 characters cannot be matched.
    elements = (
        "json_array_elements_text(profiles.phones) AS phone(value)"
        if op.get_bind().dialect.name == "postgresql"
        else "json_each(profiles.phones) AS phone"
    )
    op.execute(
        "INSERT INTO profile_phones (profile_id, phone, database_id) "
        f"SELECT DISTINCT profiles.id, phone.value, profiles.database_id FROM profiles, {elements} "
        "WHERE length(phone.value) <= 64"
    )


def downgrade() -> None:
    op.drop_index("ix_profile_phones_database_id_phone", "profile_phones")
    op.drop_table("profile_phones")
