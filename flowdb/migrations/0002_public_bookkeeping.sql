-- Bookkeeping tables in the public schema that FlowKit's tools read, with their functions.

-- One row per root table of the events schema. Queries over "all" event types use the rows
-- with subscribers and counterparts; location queries use the rows with locations.
CREATE TABLE IF NOT EXISTS public.available_tables (
    table_name text PRIMARY KEY,
    has_locations boolean NOT NULL DEFAULT false,
    has_subscribers boolean NOT NULL DEFAULT false,
    has_counterparts boolean NOT NULL DEFAULT false
);

CREATE OR REPLACE FUNCTION public.available_tables()
RETURNS TABLE (
    table_name text,
    has_locations boolean,
    has_subscribers boolean,
    has_counterparts boolean
)
LANGUAGE sql STABLE
AS $$
    SELECT t.table_name, t.has_locations, t.has_subscribers, t.has_counterparts
    FROM public.available_tables AS t
    ORDER BY t.table_name
$$;

-- The table that event location_id values refer to (a single row).
CREATE TABLE IF NOT EXISTS public.location_table (
    location_table text PRIMARY KEY,
    changed boolean NOT NULL DEFAULT false
);

INSERT INTO public.location_table (location_table, changed)
SELECT 'infrastructure.cells', false
WHERE NOT EXISTS (SELECT 1 FROM public.location_table);

CREATE OR REPLACE FUNCTION public.location_table()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT location_table FROM public.location_table LIMIT 1
$$;

-- Schema version; flowcore's migration runner inserts its own version after each run.
CREATE TABLE IF NOT EXISTS public.flowdb_version (
    version text PRIMARY KEY,
    release_date date,
    updated boolean
);

CREATE OR REPLACE FUNCTION public.flowdb_version()
RETURNS TABLE (version text, release_date date)
LANGUAGE sql STABLE
AS $$
    SELECT v.version, v.release_date FROM public.flowdb_version AS v
$$;

-- True when a text value parses as a number.
CREATE OR REPLACE FUNCTION public.isnumeric(value text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    PERFORM value::numeric;
    RETURN true;
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;
