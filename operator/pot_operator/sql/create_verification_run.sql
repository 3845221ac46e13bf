-- A Campaign's verification run ($1 tenant, $2 owner, $3 mode, $4 max age); its addresses follow.
INSERT INTO verification_runs (tenant, owner, mode, max_age) VALUES ($1, $2, $3, $4) RETURNING id;
