-- Event tables, one per event type, each partitioned by day on datetime.
-- A day's partition is events.<type>_YYYYMMDD covering [day 00:00 UTC, next day 00:00 UTC);
-- flowdb/partitions.py and the loader create them as days arrive. The indexes below are
-- declared on the parents, so every partition gets the same ones.
-- Calls and sms are stored with one row per party: the same id, outgoing true for the
-- initiator and false for the receiver, msisdn_counterpart the other party.

CREATE TABLE IF NOT EXISTS events.calls (
    id text,
    outgoing boolean,
    datetime timestamptz NOT NULL,
    duration numeric,
    network text,
    msisdn text NOT NULL,
    msisdn_counterpart text,
    location_id text,
    imsi text,
    imei text,
    tac numeric(8),
    operator_code numeric,
    country_code numeric
) PARTITION BY RANGE (datetime);

CREATE TABLE IF NOT EXISTS events.sms (
    id text,
    outgoing boolean,
    datetime timestamptz NOT NULL,
    network text,
    msisdn text NOT NULL,
    msisdn_counterpart text,
    location_id text,
    imsi text,
    imei text,
    tac numeric(8),
    operator_code numeric,
    country_code numeric
) PARTITION BY RANGE (datetime);

-- Mobile data sessions.
CREATE TABLE IF NOT EXISTS events.mds (
    id text,
    datetime timestamptz NOT NULL,
    duration numeric,
    volume_total numeric,
    volume_upload numeric,
    volume_download numeric,
    msisdn text NOT NULL,
    location_id text,
    imsi text,
    imei text,
    tac numeric(8),
    operator_code numeric,
    country_code numeric
) PARTITION BY RANGE (datetime);

CREATE TABLE IF NOT EXISTS events.topups (
    id text,
    datetime timestamptz NOT NULL,
    type text,
    recharge_amount numeric,
    airtime_fee numeric,
    tax_and_fee numeric,
    pre_event_balance numeric,
    post_event_balance numeric,
    msisdn text NOT NULL,
    location_id text,
    imsi text,
    imei text,
    tac numeric(8),
    operator_code numeric,
    country_code numeric
) PARTITION BY RANGE (datetime);

CREATE INDEX IF NOT EXISTS calls_msisdn_idx ON events.calls (msisdn);
CREATE INDEX IF NOT EXISTS calls_msisdn_counterpart_idx ON events.calls (msisdn_counterpart);
CREATE INDEX IF NOT EXISTS calls_tac_idx ON events.calls (tac);
CREATE INDEX IF NOT EXISTS calls_location_id_idx ON events.calls (location_id);
CREATE INDEX IF NOT EXISTS calls_datetime_idx ON events.calls (datetime);

CREATE INDEX IF NOT EXISTS sms_msisdn_idx ON events.sms (msisdn);
CREATE INDEX IF NOT EXISTS sms_msisdn_counterpart_idx ON events.sms (msisdn_counterpart);
CREATE INDEX IF NOT EXISTS sms_tac_idx ON events.sms (tac);
CREATE INDEX IF NOT EXISTS sms_location_id_idx ON events.sms (location_id);
CREATE INDEX IF NOT EXISTS sms_datetime_idx ON events.sms (datetime);

CREATE INDEX IF NOT EXISTS mds_msisdn_idx ON events.mds (msisdn);
CREATE INDEX IF NOT EXISTS mds_tac_idx ON events.mds (tac);
CREATE INDEX IF NOT EXISTS mds_location_id_idx ON events.mds (location_id);
CREATE INDEX IF NOT EXISTS mds_datetime_idx ON events.mds (datetime);
CREATE INDEX IF NOT EXISTS mds_id_idx ON events.mds (id);

CREATE INDEX IF NOT EXISTS topups_msisdn_idx ON events.topups (msisdn);
CREATE INDEX IF NOT EXISTS topups_tac_idx ON events.topups (tac);
CREATE INDEX IF NOT EXISTS topups_location_id_idx ON events.topups (location_id);
CREATE INDEX IF NOT EXISTS topups_datetime_idx ON events.topups (datetime);
CREATE INDEX IF NOT EXISTS topups_id_idx ON events.topups (id);

INSERT INTO public.available_tables (table_name, has_locations, has_subscribers, has_counterparts)
VALUES
    ('calls', true, true, true),
    ('sms', true, true, true),
    ('mds', true, true, false),
    ('topups', true, true, false)
ON CONFLICT (table_name) DO UPDATE
SET has_locations = EXCLUDED.has_locations,
    has_subscribers = EXCLUDED.has_subscribers,
    has_counterparts = EXCLUDED.has_counterparts;
