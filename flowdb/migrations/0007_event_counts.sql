-- Events counted per subscriber and cell, for each event type and ingested day: per hour in
-- events.subscriber_cell_hours, per day in events.subscriber_cell_days. Each row also keeps the
-- time of the latest event it counts. Queries that need no more than these counts (the usual
-- location rules, location_event_counts) read them instead of the events: a typical day has
-- about half as many hour rows as events and a tenth as many day rows.
--
-- Both tables are partitioned by event type, then by day, like the events. flowdb/cell_counts.py
-- builds a day's two partitions when the day is loaded or generated, and attaches them in the
-- same transaction as the day itself. Partition pruning finds a day's rows, so the tables need
-- no index.

CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours (
    cdr_type text NOT NULL,
    cdr_date date NOT NULL,
    hour_start timestamptz NOT NULL,
    msisdn text NOT NULL,
    location_id text,
    event_count bigint NOT NULL,
    last_event timestamptz NOT NULL
) PARTITION BY LIST (cdr_type);

CREATE TABLE IF NOT EXISTS events.subscriber_cell_days (
    cdr_type text NOT NULL,
    cdr_date date NOT NULL,
    msisdn text NOT NULL,
    location_id text,
    event_count bigint NOT NULL,
    last_event timestamptz NOT NULL
) PARTITION BY LIST (cdr_type);

-- One table per event type, partitioned by day: events.subscriber_cell_hours_calls_20160101...
CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours_calls
    PARTITION OF events.subscriber_cell_hours FOR VALUES IN ('calls') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours_sms
    PARTITION OF events.subscriber_cell_hours FOR VALUES IN ('sms') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours_mds
    PARTITION OF events.subscriber_cell_hours FOR VALUES IN ('mds') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_hours_topups
    PARTITION OF events.subscriber_cell_hours FOR VALUES IN ('topups') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_days_calls
    PARTITION OF events.subscriber_cell_days FOR VALUES IN ('calls') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_days_sms
    PARTITION OF events.subscriber_cell_days FOR VALUES IN ('sms') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_days_mds
    PARTITION OF events.subscriber_cell_days FOR VALUES IN ('mds') PARTITION BY RANGE (cdr_date);
CREATE TABLE IF NOT EXISTS events.subscriber_cell_days_topups
    PARTITION OF events.subscriber_cell_days FOR VALUES IN ('topups') PARTITION BY RANGE (cdr_date);

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
