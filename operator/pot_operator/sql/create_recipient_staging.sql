-- Session-local staging for COPY; dropped at commit.
CREATE TEMP TABLE IF NOT EXISTS recipient_staging (address text NOT NULL, variables jsonb NOT NULL)
ON COMMIT DROP;
