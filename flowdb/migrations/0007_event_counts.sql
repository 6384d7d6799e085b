-- Events counted per subscriber and cell, for each event type and ingested day: per hour in
-- events.subscriber_cell_hours, per day in events.subscriber_cell_days. Each row also keeps the
-- time of the latest event it counts. Queries that need no more than these counts (the usual
-- location rules, location_event_counts) read them instead of the events: a typical day has
-- about half as many hour rows as events and a tenth as many day rows. flowdb/cell_counts.py
-- writes them when a day is loaded or generated, in the same transaction as the day itself.

CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours (
    cdr_type text NOT NULL,
    cdr_date date NOT NULL,
    hour_start timestamptz NOT NULL,
    msisdn text NOT NULL,
    location_id text,
    event_count bigint NOT NULL,
    last_event timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS subscriber_cell_hours_type_date_idx
    ON events.subscriber_cell_hours (cdr_type, cdr_date);

CREATE TABLE IF NOT EXISTS events.subscriber_cell_days (
    cdr_type text NOT NULL,
    cdr_date date NOT NULL,
    msisdn text NOT NULL,
    location_id text,
    event_count bigint NOT NULL,
    last_event timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS subscriber_cell_days_type_date_idx
    ON events.subscriber_cell_days (cdr_type, cdr_date);

-- The days whose counts are complete, with the ingestion they were counted from. A day
-- ingested again by other means (a newer etl_records row) no longer matches, so queries read
-- its events until `flowcore db count-events` counts it again.
CREATE TABLE IF NOT EXISTS etl.counted_days (
    cdr_type text NOT NULL,
    cdr_date date NOT NULL,
    ingested_at timestamptz NOT NULL,
    PRIMARY KEY (cdr_type, cdr_date)
);

CREATE OR REPLACE VIEW etl.counted_dates AS
SELECT c.cdr_type, c.cdr_date
FROM etl.counted_days AS c
JOIN etl.ingest_state AS s ON s.cdr_type = c.cdr_type AND s.cdr_date = c.cdr_date
WHERE s.state = 'ingested' AND s.timestamp = c.ingested_at;
