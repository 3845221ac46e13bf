-- Remember one object's state; the caller only calls this when the state changed.
INSERT INTO operator_object_state (kind, namespace, name, data)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (kind, namespace, name) DO UPDATE SET data = EXCLUDED.data, updated_at = now();
