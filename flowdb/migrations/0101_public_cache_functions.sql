-- The cache functions of 0100_cache.sql under their FlowDB names in the public schema.
-- FlowDB defines them there, and FlowMachine calls them without a schema (for example
-- SELECT touch_cache('<query id>')), so tools written for FlowDB find them on the default
-- search path. Each one calls the function of the cache schema.

CREATE OR REPLACE FUNCTION public.cache_half_life()
RETURNS numeric
LANGUAGE sql STABLE
AS $$ SELECT cache.cache_half_life() $$;

CREATE OR REPLACE FUNCTION public.cache_max_size()
RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT cache.cache_max_size() $$;

CREATE OR REPLACE FUNCTION public.cache_protected_period()
RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT cache.cache_protected_period() $$;

CREATE OR REPLACE FUNCTION public.table_size(table_name text, table_schema text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT cache.table_size(table_name, table_schema) $$;

CREATE OR REPLACE FUNCTION public.cache_score(
    multiplier numeric, compute_time_ms numeric, size_bytes numeric
)
RETURNS numeric
LANGUAGE sql IMMUTABLE
AS $$ SELECT cache.cache_score(multiplier, compute_time_ms, size_bytes) $$;

CREATE OR REPLACE FUNCTION public.touch_cache(touched_query_id text)
RETURNS numeric
LANGUAGE sql VOLATILE
AS $$ SELECT cache.touch_cache(touched_query_id) $$;
