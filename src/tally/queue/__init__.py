"""The task queue: the ``tasks`` row that tasks/status reads is the job itself.

No broker: a task is inserted in the transaction of the request that asks for it, claimed
by a worker with a guarded UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), held by a
renewable lease, and put back by updating the same row if its worker dies.
"""
