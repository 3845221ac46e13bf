DELETE FROM operator_object_state WHERE kind = $1 AND namespace = $2 AND name = $3;
