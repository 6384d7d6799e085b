-- Ingestion bookkeeping. etl_records is append-only: every state change of a (cdr_type,
-- cdr_date) pair adds a row, and the latest row decides the pair's current state.

CREATE TABLE IF NOT EXISTS etl.etl_records (
    id serial PRIMARY KEY,
    cdr_type varchar NOT NULL,
    cdr_date date NOT NULL,
    state varchar NOT NULL,
    timestamp timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS etl_records_type_date_idx ON etl.etl_records (cdr_type, cdr_date);

-- Outcomes of quality checks run after a day is ingested.
CREATE TABLE IF NOT EXISTS etl.post_etl_queries (
    id serial PRIMARY KEY,
    cdr_date date,
    cdr_type text,
    type_of_query_or_check text,
    outcome text,
    optional_comment_or_description text,
    timestamp timestamptz NOT NULL DEFAULT now()
);

-- The latest state of each (cdr_type, cdr_date); ties on timestamp go to the later row.
CREATE OR REPLACE VIEW etl.ingest_state AS
SELECT DISTINCT ON (r.cdr_type, r.cdr_date)
    r.cdr_type,
    r.cdr_date,
    r.state,
    r.timestamp
FROM etl.etl_records AS r
ORDER BY r.cdr_type, r.cdr_date, r.timestamp DESC, r.id DESC;

-- Dates whose latest state is "ingested": the dates queries may use.
CREATE OR REPLACE VIEW etl.available_dates AS
SELECT s.cdr_type, s.cdr_date
FROM etl.ingest_state AS s
WHERE s.state = 'ingested';

-- The latest outcome of each check per (cdr_date, cdr_type), for ingested dates only.
CREATE OR REPLACE VIEW etl.deduped_post_etl_queries AS
SELECT DISTINCT ON (q.cdr_date, q.cdr_type, q.type_of_query_or_check)
    q.id,
    q.cdr_date,
    q.cdr_type,
    q.type_of_query_or_check,
    q.outcome,
    q.optional_comment_or_description,
    q.timestamp
FROM etl.post_etl_queries AS q
JOIN etl.available_dates AS d
    ON d.cdr_type = q.cdr_type AND d.cdr_date = q.cdr_date
ORDER BY q.cdr_date, q.cdr_type, q.type_of_query_or_check, q.timestamp DESC, q.id DESC;

-- True when value is valid input for the named type, e.g. is_valid_input('2016-13-01', 'date')
-- is false. The loader calls it only while diagnosing a rejected file, because the exception
-- block costs a subtransaction per call.
-- TODO: on PostgreSQL 16 and later, pg_input_is_valid() does this without subtransactions.
CREATE OR REPLACE FUNCTION etl.is_valid_input(value text, type_name text)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF value IS NULL THEN
        RETURN true;
    END IF;
    CASE type_name
        WHEN 'text' THEN NULL;
        WHEN 'boolean' THEN PERFORM value::boolean;
        WHEN 'integer' THEN PERFORM value::integer;
        WHEN 'bigint' THEN PERFORM value::bigint;
        WHEN 'numeric' THEN PERFORM value::numeric;
        WHEN 'numeric(8)' THEN PERFORM value::numeric(8);
        WHEN 'double precision' THEN PERFORM value::double precision;
        WHEN 'date' THEN PERFORM value::date;
        WHEN 'timestamptz' THEN PERFORM value::timestamptz;
        ELSE RAISE EXCEPTION 'etl.is_valid_input: unsupported type %', type_name
            USING ERRCODE = 'feature_not_supported';
    END CASE;
    RETURN true;
EXCEPTION WHEN data_exception THEN
    RETURN false;
END
$$;
