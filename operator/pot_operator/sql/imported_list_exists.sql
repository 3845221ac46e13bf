-- Whether a list of that name was imported for the tenant (the Campaign's namespace): $1 tenant, $2 list.
SELECT EXISTS (SELECT 1 FROM recipients WHERE tenant = $1 AND list_name = $2);
