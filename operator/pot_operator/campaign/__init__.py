"""The Campaign controller: validates pool and recipients, materialises send jobs once, tracks the lifecycle.

reconcile.py runs observe.py → plan.py (`plan_projection`: conditions, preflight gate, the row) →
apply.py (row, jobs) → the counts → plan.py (`plan_lifecycle`: phase, counts) → apply.py (status).
recipients.py parses the recipient CSV.
"""
