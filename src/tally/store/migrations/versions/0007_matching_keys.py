"""Matching keys: profiles.email_key (email without regard to case), phones in E.164

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:50:00

The keys are those of tally.profiles.keys as of this revision, copied: a migration is a
snapshot, and the store layer imports no capability. A later change of those rules comes
with its own migration.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 10_000
_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[0-9]{7,15}")


def email_key(email: str | None) -> str | None:
    return None if email is None else (email.strip().lower() or None)


def phone_key(phone: str) -> str:
    compact = _SEPARATORS.sub("", phone)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if _E164.fullmatch(compact) else phone.strip()


def upgrade() -> None:
    op.add_column("profiles", sa.Column("email_key", sa.String(length=320), nullable=True))
    bind = op.get_bind()
    profiles = sa.table(
        "profiles",
        sa.column("id", sa.BigInteger()),
        sa.column("database_id", sa.BigInteger()),
        sa.column("email", sa.String()),
        sa.column("phones", sa.Text()),
        sa.column("email_key", sa.String()),
    )
    phones = sa.table(
        "profile_phones",
        sa.column("profile_id", sa.BigInteger()),
        sa.column("phone", sa.String()),
        sa.column("database_id", sa.BigInteger()),
    )
    op.execute(phones.delete())
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(profiles.c.id, profiles.c.database_id, profiles.c.email, profiles.c.phones)
            .where(profiles.c.id > last_id)
            .order_by(profiles.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        keyed = [{"profile_id": row.id, "key": email_key(row.email)} for row in rows if row.email is not None]
        if keyed:
            bind.execute(
                profiles.update()
                .where(profiles.c.id == sa.bindparam("profile_id"))
                .values(email_key=sa.bindparam("key")),
                keyed,
            )
        phone_rows = [
            {"profile_id": row.id, "phone": key, "database_id": row.database_id}
            for row in rows
            for key in dict.fromkeys(phone_key(phone) for phone in _phones(row.phones))
            if len(key) <= 64
        ]
        if phone_rows:
            bind.execute(phones.insert(), phone_rows)
    op.drop_index("ix_profiles_database_id_email", "profiles")
    op.create_index("ix_profiles_database_id_email_key", "profiles", ["database_id", "email_key"])


def _phones(stored: Any) -> list[str]:
    value = json.loads(stored) if isinstance(stored, str) else stored
    return [phone for phone in value or [] if isinstance(phone, str)]


def downgrade() -> None:
    op.drop_index("ix_profiles_database_id_email_key", "profiles")
    op.create_index("ix_profiles_database_id_email", "profiles", ["database_id", "email"])
    op.drop_column("profiles", "email_key")
