-- Remember one object's state; the caller only calls this when the state changed. The key `uid` names
-- the object the state belongs to (pot_operator.lifecycle.StateOwners): data without one keeps the
-- stored uid, data of only {"uid": ...} stamps the stored state without replacing it.
INSERT INTO operator_object_state (kind, namespace, name, data)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (kind, namespace, name) DO UPDATE
SET data = CASE
        WHEN EXCLUDED.data ? 'uid' THEN operator_object_state.data || EXCLUDED.data
        ELSE EXCLUDED.data || jsonb_strip_nulls(jsonb_build_object('uid', operator_object_state.data -> 'uid'))
    END,
    updated_at = now();
