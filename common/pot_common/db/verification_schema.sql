-- Recipient verification results (issue 15: verification as cluster Jobs); filled in by that work.
-- Applied after schema.sql by pot_common.db.apply_schema; every statement idempotent.
SELECT 1;
