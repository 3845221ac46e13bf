SELECT id FROM pools WHERE namespace = $1 AND name = $2;
