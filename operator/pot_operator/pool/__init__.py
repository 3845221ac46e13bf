"""The MailboxPool controller: one scan reconciles a pool, its mailboxes, their limits and its workers.

reconcile.py runs observe.py (read the world into a PoolObserved) → plan.py (pure: status, rows,
Events, alerts, Deployment) → apply.py (write what differs). policy.py holds the pool's pure
decisions (policy objects, auto-pause, replicas); mailboxes.py plans the selected mailboxes with
the memo that keeps idle scans cheap.
"""
