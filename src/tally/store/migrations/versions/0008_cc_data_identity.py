"""cc_data identity: an id or phone is keyed by its text, so JSON 123 and XML "123" are one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:30:00

The stored ``address_key`` of every cc_data subscription (telegram_bot, viber, whatsapp,
notify) is recomputed by the rules of catalog/channels.py ``address_key`` as of this
revision; addresses stay as given. Rows of one (profile, resource, channel) whose keys now
agree are one subscription: the first of them in the effective rule's order (not deleted,
lowest priority, highest change_seq, highest id) is kept and the others are deleted. The
rule's own pick is never deleted that way, so no profile's effective subscription changes
and every count stays what it was; the flags of the profiles touched are recomputed anyway.

The key rules, the channel codes, the statuses and the flag recompute (profiles/queries.py
``subscriptions_recompute_flags``) are copied: a migration is a snapshot, and the store
layer imports no capability.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Profiles per batch: their cc_data rows are read, merged and rekeyed together.
_BATCH = 1_000
#: telegram_bot, viber, whatsapp, notify (catalog/channels.py CHANNEL_CODES).
_CC_DATA_CODES = (3, 4, 5, 6)
_MAX_PLAIN_KEY_BYTES = 500
#: subscribed, unconfirmed; unsubscribed, complained, hardbounced, suspended, invalid.
_SENDABLE = (0, 4)
_BLOCKING = (1, 2, 3, 5, 6)

_subscriptions = sa.table(
    "subscriptions",
    sa.column("id", sa.BigInteger()),
    sa.column("profile_id", sa.BigInteger()),
    sa.column("resource_id", sa.BigInteger()),
    sa.column("channel", sa.SmallInteger()),
    sa.column("address", sa.JSON()),
    sa.column("address_key", sa.String()),
    sa.column("status", sa.SmallInteger()),
    sa.column("priority", sa.Integer()),
    sa.column("is_deleted", sa.Boolean()),
    sa.column("change_seq", sa.BigInteger()),
    sa.column("is_deliverable", sa.Boolean()),
    sa.column("is_effective", sa.Boolean()),
    sa.column("is_sendable", sa.Boolean()),
)
#: What a batch reads of each cc_data row: its identity, its key and its rank.
_READ = ("id", "profile_id", "resource_id", "channel", "address", "address_key", "is_deleted", "priority", "change_seq")
_profiles = sa.table(
    "profiles",
    sa.column("id", sa.BigInteger()),
    sa.column("global_status", sa.SmallInteger()),
    sa.column("is_deleted", sa.Boolean()),
)


def _cc_data_text(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def address_key(address: Mapping[str, Any]) -> str:
    cc_data = address.get("cc_data")
    if isinstance(cc_data, Mapping):
        canonical = {
            name: _cc_data_text(value) if name in ("id", "phone") else value for name, value in cc_data.items()
        }
        address = {**address, "cc_data": canonical}
    text = json.dumps(address, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= _MAX_PLAIN_KEY_BYTES:
        return text
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    s = _subscriptions
    last_profile = 0
    while True:
        # Whole profiles per batch, so that every row a key could collide with is in it.
        profile_ids = (
            bind.execute(
                sa.select(s.c.profile_id)
                .distinct()
                .where(s.c.channel.in_(_CC_DATA_CODES), s.c.profile_id > last_profile)
                .order_by(s.c.profile_id)
                .limit(_BATCH)
            )
            .scalars()
            .all()
        )
        if not profile_ids:
            break
        rows = bind.execute(
            sa.select(*(s.c[name] for name in _READ)).where(
                s.c.channel.in_(_CC_DATA_CODES), s.c.profile_id.between(profile_ids[0], profile_ids[-1])
            )
        ).all()
        last_profile = profile_ids[-1]
        _rekey(bind, rows)


def _rekey(bind: sa.Connection, rows: Sequence[sa.Row[Any]]) -> None:
    identities: dict[tuple[int, int, int, str], list[sa.Row[Any]]] = {}
    for row in rows:
        key = address_key(row.address) if isinstance(row.address, Mapping) else row.address_key
        identities.setdefault((row.profile_id, row.resource_id, row.channel, key), []).append(row)
    kept: list[dict[str, Any]] = []
    merged: list[int] = []
    touched: set[int] = set()
    for (profile_id, _, _, key), same in identities.items():
        same.sort(key=lambda row: (row.is_deleted, row.priority, -row.change_seq, -row.id))
        winner, *others = same
        if others:
            merged.extend(row.id for row in others)
            touched.add(profile_id)
        if winner.address_key != key:
            kept.append({"row_id": winner.id, "key": key})
    s = _subscriptions
    # Deleted first: a kept row may take the key one of them holds.
    for start in range(0, len(merged), _BATCH):
        bind.execute(s.delete().where(s.c.id.in_(merged[start : start + _BATCH])))
    if kept:
        bind.execute(s.update().where(s.c.id == sa.bindparam("row_id")).values(address_key=sa.bindparam("key")), kept)
    if touched:
        _recompute_flags(bind, sorted(touched))


def _recompute_flags(bind: sa.Connection, profile_ids: list[int]) -> None:
    """is_effective and is_sendable of these profiles' subscriptions, by the rules of counting.md."""
    s, p = _subscriptions.alias("s"), _profiles
    rank = sa.func.row_number().over(
        partition_by=(s.c.profile_id, s.c.resource_id, s.c.channel),
        order_by=(s.c.is_deleted, s.c.priority, s.c.change_seq.desc(), s.c.id.desc()),
    )
    ranked = (
        sa.select(
            s.c.id,
            s.c.status,
            s.c.is_deliverable,
            sa.and_(rank == 1, sa.not_(s.c.is_deleted), sa.not_(p.c.is_deleted)).label("is_effective"),
            sa.or_(p.c.global_status.is_(None), p.c.global_status.not_in(_BLOCKING)).label("is_unblocked"),
        )
        .join(p, p.c.id == s.c.profile_id)
        .where(s.c.profile_id.in_(profile_ids))
        .subquery("ranked")
    )
    flags = sa.select(
        ranked.c.id,
        ranked.c.is_effective,
        sa.and_(
            ranked.c.is_effective, ranked.c.status.in_(_SENDABLE), ranked.c.is_deliverable, ranked.c.is_unblocked
        ).label("is_sendable"),
    ).subquery("flags")
    target = _subscriptions
    bind.execute(
        target.update()
        .where(
            target.c.id == flags.c.id,
            sa.or_(target.c.is_effective != flags.c.is_effective, target.c.is_sendable != flags.c.is_sendable),
        )
        .values(is_effective=flags.c.is_effective, is_sendable=flags.c.is_sendable)
    )


def downgrade() -> None:
    """Nothing on the data: merged rows were copies of one subscription, and a key in the new
    form is still unique. Code of 0007 then finds a numeric id's subscription by its text
    (``"123"``), and adds a row beside it for the number, as it did before this revision."""
