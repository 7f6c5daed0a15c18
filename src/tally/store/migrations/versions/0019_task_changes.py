"""task changes notified: every change of a task, or of a row that names it, on tally_task_changes

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00

PostgreSQL only (SQLite has no NOTIFY, and its one process needs none). API processes
remember what tasks/status showed of a task while they hear these (queue/known_statuses.py):
a change of what tasks/status shows of a task's row (not a lease renewed) names the task,
and its dedupe key when the task becomes or stops being active (the tasks sharing that key
show which of them is active); a change of one of its feedback deliveries names the task.
A notification is sent at commit, and only if the transaction commits; the same payload
twice in a transaction is sent once.
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
    # The key is named only when the set of active tasks holding it changes (a task queued,
    # or ended): that is all the other tasks of the key show of it.
    op.execute(f"""
        CREATE FUNCTION tally_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            was_active boolean := false;
            is_active boolean := false;
            old_key text;
            new_key text;
        BEGIN
            IF TG_OP = 'UPDATE' AND ROW(NEW.status, NEW.progress, NEW.error_text, NEW.started_at,
                    NEW.finished_at, NEW.dedupe_key, NEW.result::text, NEW.params::text)
                    IS NOT DISTINCT FROM ROW(OLD.status, OLD.progress, OLD.error_text, OLD.started_at,
                    OLD.finished_at, OLD.dedupe_key, OLD.result::text, OLD.params::text) THEN
                RETURN NULL;  -- a lease renewed, nothing tasks/status shows
            END IF;
            IF TG_OP <> 'INSERT' THEN
                was_active := OLD.status IN ('queued', 'processing');
                old_key := OLD.dedupe_key;
                PERFORM pg_notify('{CHANNEL}', OLD.id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                is_active := NEW.status IN ('queued', 'processing');
                new_key := NEW.dedupe_key;
                PERFORM pg_notify('{CHANNEL}', NEW.id);
            END IF;
            IF was_active IS DISTINCT FROM is_active OR old_key IS DISTINCT FROM new_key THEN
                IF old_key IS NOT NULL AND was_active THEN
                    PERFORM pg_notify('{CHANNEL}', 'key:' || old_key);
                END IF;
                IF new_key IS NOT NULL AND is_active THEN
                    PERFORM pg_notify('{CHANNEL}', 'key:' || new_key);
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
