-- Forget a deleted object's remembered state, so an object re-created under its name starts fresh.
DELETE FROM operator_object_state WHERE kind = $1 AND namespace = $2 AND name = $3;
