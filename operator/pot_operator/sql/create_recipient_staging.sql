-- Session-local staging for COPY; dropped at commit. `ord` numbers the rows in the list's order (the
-- order COPY or the imported list's insert gave them), which the send jobs keep.
CREATE TEMP TABLE IF NOT EXISTS recipient_staging (
    ord bigint GENERATED ALWAYS AS IDENTITY,
    address text NOT NULL,
    variables jsonb NOT NULL
) ON COMMIT DROP;
