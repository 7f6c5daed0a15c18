"""task changes notified: every change of a task, or of a row that names it, on tally_task_changes

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00

PostgreSQL only (SQLite has no NOTIFY, and its one process needs none). API processes
remember what tasks/status showed of a task while they hear these (queue/known_statuses.py):
a change of the task's row names the task and its dedupe key (the tasks sharing that key
show whether one of them is active), a change of one of its feedback deliveries names the
task. A notification is sent at commit, and only if the transaction commits.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

CHANNEL = "tally_task_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION tally_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.id);
                IF OLD.dedupe_key IS NOT NULL THEN
                    PERFORM pg_notify('{CHANNEL}', 'key:' || OLD.dedupe_key);
                END IF;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('{CHANNEL}', NEW.id);
                IF NEW.dedupe_key IS NOT NULL THEN
                    PERFORM pg_notify('{CHANNEL}', 'key:' || NEW.dedupe_key);
                END IF;
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute(f"""
        CREATE FUNCTION tally_delivery_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.task_id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('{CHANNEL}', NEW.task_id);
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER tasks_changed AFTER INSERT OR UPDATE OR DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION tally_task_changed()"
    )
    op.execute(
        "CREATE TRIGGER feedback_deliveries_changed AFTER INSERT OR UPDATE OR DELETE ON feedback_deliveries "
        "FOR EACH ROW EXECUTE FUNCTION tally_delivery_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER feedback_deliveries_changed ON feedback_deliveries")
    op.execute("DROP TRIGGER tasks_changed ON tasks")
    op.execute("DROP FUNCTION tally_delivery_changed()")
    op.execute("DROP FUNCTION tally_task_changed()")
