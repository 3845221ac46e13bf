-- Every remembered object state of one kind; read once at start-up into memory (and by
-- pot_operator.lifecycle.StateOwners for the `uid` each state carries).
SELECT namespace, name, data FROM operator_object_state WHERE kind = $1;
