-- The query cache: stored results (cache.x<query_id> tables) with their metadata, and the state
-- of every submitted query. PostgreSQL is the only place this state lives, so every server
-- process and every restart read the same states.
CREATE SCHEMA IF NOT EXISTS cache;

-- One row per stored result; the columns up to obj match FlowKit's cache.cached.
CREATE TABLE IF NOT EXISTS cache.cached (
    query_id character(32) PRIMARY KEY,
    version character varying,                    -- flowcore version that stored the result
    query text,                                   -- the DDL that made the table
    created timestamptz NOT NULL DEFAULT now(),
    access_count integer NOT NULL DEFAULT 0,
    last_accessed timestamptz NOT NULL DEFAULT now(),
    compute_time numeric NOT NULL DEFAULT 0,      -- milliseconds
    cache_score_multiplier numeric NOT NULL DEFAULT 0,
    class character varying,                      -- query kind
    schema character varying NOT NULL DEFAULT 'cache',
    tablename character varying NOT NULL,
    obj bytea,                                    -- unused by flowcore, kept for FlowKit
    size_bytes bigint,                            -- table plus indexes, measured when stored
    spec jsonb
);

-- Each stored result and the nearest stored results its SQL read.
CREATE TABLE IF NOT EXISTS cache.dependencies (
    query_id character(32) NOT NULL REFERENCES cache.cached (query_id) ON DELETE CASCADE,
    depends_on character(32) NOT NULL REFERENCES cache.cached (query_id) ON DELETE CASCADE,
    PRIMARY KEY (depends_on, query_id)
);
CREATE INDEX IF NOT EXISTS dependencies_query_id_idx ON cache.dependencies (query_id);

CREATE TABLE IF NOT EXISTS cache.cache_config (
    key text PRIMARY KEY,
    value text
);

-- half_life: touches after which an old access is worth half a new one.
-- cache_size: 10 GiB, the size above which `flowcore cache shrink` evicts results.
-- cache_protected_period: seconds after creation during which a result is never evicted.
INSERT INTO cache.cache_config (key, value) VALUES
    ('half_life', '1000'),
    ('cache_size', '10737418240'),
    ('cache_protected_period', '86400')
ON CONFLICT (key) DO NOTHING;

-- Global count of cache reads; later touches weigh geometrically more than earlier ones.
CREATE SEQUENCE IF NOT EXISTS cache.cache_touches START 1;

CREATE OR REPLACE FUNCTION cache.cache_half_life()
RETURNS numeric
LANGUAGE sql STABLE
AS $$
    SELECT value::numeric FROM cache.cache_config WHERE key = 'half_life'
$$;

CREATE OR REPLACE FUNCTION cache.cache_max_size()
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT value::bigint FROM cache.cache_config WHERE key = 'cache_size'
$$;

CREATE OR REPLACE FUNCTION cache.cache_protected_period()
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT value::bigint FROM cache.cache_config WHERE key = 'cache_protected_period'
$$;

-- Size in bytes of an ordinary table with its indexes and TOAST data; 0 when it is missing.
CREATE OR REPLACE FUNCTION cache.table_size(table_name text, table_schema text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT pg_total_relation_size(c.oid)
         FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE c.relname = table_name AND n.nspname = table_schema AND c.relkind = 'r'),
        0)
$$;

-- Worth of keeping a result: access multiplier x compute seconds / bytes.
CREATE OR REPLACE FUNCTION cache.cache_score(
    multiplier numeric, compute_time_ms numeric, size_bytes numeric
)
RETURNS numeric
LANGUAGE sql IMMUTABLE
AS $$
    SELECT multiplier * (compute_time_ms / 1000) / greatest(size_bytes, 0.00001)
$$;

-- Record one read of a stored result and return its new score.
-- Each touch adds (1 + ln 2 / half_life) ^ (n - 2) to the multiplier, n being the next value
-- of cache.cache_touches, so a touch half_life touches ago counts half as much as this one.
CREATE OR REPLACE FUNCTION cache.touch_cache(touched_query_id text)
RETURNS numeric
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    touch_number bigint := nextval('cache.cache_touches');
    new_score numeric;
BEGIN
    UPDATE cache.cached AS c
    SET access_count = c.access_count + 1,
        last_accessed = now(),
        cache_score_multiplier = c.cache_score_multiplier
            + power(1 + ln(2::numeric) / cache.cache_half_life(), (touch_number - 2)::numeric)
    WHERE c.query_id = touched_query_id::character(32)
    RETURNING cache.cache_score(
        c.cache_score_multiplier,
        c.compute_time,
        coalesce(c.size_bytes, cache.table_size(c.tablename, c.schema))
    ) INTO new_score;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Cache record % not found', touched_query_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN new_score;
END
$$;

-- The state of every submitted query; the states and their transitions follow FlowKit's.
CREATE TABLE IF NOT EXISTS cache.query_states (
    query_id character(32) PRIMARY KEY,
    query_kind text NOT NULL,
    spec jsonb NOT NULL,
    state text NOT NULL DEFAULT 'known' CHECK (
        state IN ('known', 'queued', 'executing', 'completed', 'errored', 'cancelled', 'resetting')
    ),
    owner text,          -- worker that queued or is executing the query
    backend_pid integer, -- PostgreSQL backend running its SQL while executing
    error text,          -- why it errored
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now(),
    started timestamptz,
    finished timestamptz
);
CREATE INDEX IF NOT EXISTS query_states_running_idx
    ON cache.query_states (owner) WHERE state IN ('queued', 'executing');

-- Every edge of the planned dependency trees of submitted queries, stored or not (for progress).
CREATE TABLE IF NOT EXISTS cache.query_tree (
    query_id character(32) NOT NULL REFERENCES cache.query_states (query_id) ON DELETE CASCADE,
    depends_on character(32) NOT NULL REFERENCES cache.query_states (query_id) ON DELETE CASCADE,
    PRIMARY KEY (query_id, depends_on)
);

-- Event dates each stored result read directly, as half-open ranges [start_date, end_date).
-- Reloading a date invalidates the results whose ranges cover it.
CREATE TABLE IF NOT EXISTS cache.event_reads (
    query_id character(32) NOT NULL REFERENCES cache.cached (query_id) ON DELETE CASCADE,
    event_type text NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    CHECK (start_date <= end_date)
);
CREATE INDEX IF NOT EXISTS event_reads_query_id_idx ON cache.event_reads (query_id);
CREATE INDEX IF NOT EXISTS event_reads_range_idx
    ON cache.event_reads (event_type, start_date, end_date);

-- Executor processes that are alive. Each holds a session advisory lock on its own key, so a
-- row whose lock is free belongs to a process that died.
CREATE TABLE IF NOT EXISTS cache.workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now()
);
