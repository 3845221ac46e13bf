-- Ended campaigns whose feedback counts are still counted live, though the retention has passed since
-- they ended (pot_operator.retention.freeze_feedback): their final_counts were written before $1, in
-- the served namespaces ($2; empty: all). Up to $3, oldest first.
SELECT id
FROM campaigns
WHERE final_counts IS NOT NULL AND final_feedback IS NULL AND final_at < $1
  AND state IN ('completed', 'failed')
  AND (cardinality($2::text[]) = 0 OR namespace = ANY($2::text[]))
ORDER BY final_at, id
LIMIT $3;
