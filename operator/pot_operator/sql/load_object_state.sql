-- Every remembered object state of one kind; read once at start-up into memory.
SELECT namespace, name, data FROM operator_object_state WHERE kind = $1;
