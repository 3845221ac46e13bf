-- The `pot_unsubscribe` Postgres role: exactly what pot-unsubscribe's one statement
-- (unsubscribe/pot_unsubscribe/queries/suppress.sql) needs, nothing else: it may add a suppression and
-- read, change or delete nothing. The endpoint faces the internet, so whoever takes it over can add
-- unsubscribes (which a token-forging attacker could not) but learn nothing about any tenant.
-- Run by the database's owner after the schema (schema.sql), and again after the schema changes; every
-- statement is idempotent and the grants are reset first. The role gets no password here: give it one
-- (ALTER ROLE pot_unsubscribe PASSWORD ...) or use your own authentication. docs/unsubscribe.md says more.
DO $$ BEGIN
    CREATE ROLE pot_unsubscribe LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Start from nothing; REVOKE on a table also takes back its column grants.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM pot_unsubscribe;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM pot_unsubscribe;
GRANT USAGE ON SCHEMA public TO pot_unsubscribe;

-- INSERT ... ON CONFLICT DO NOTHING RETURNING true: no column is read back, so INSERT is all it takes.
GRANT INSERT ON suppressions TO pot_unsubscribe;
