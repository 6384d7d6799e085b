-- Extensions and the schemas every other migration builds on.
-- btree_gist lets the infrastructure tables combine "=" on ids with "&&" on date ranges in
-- one exclusion constraint, so the database rejects overlapping versions of a cell or site.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE SCHEMA IF NOT EXISTS events;
COMMENT ON SCHEMA events IS 'Event records per type (calls, sms, mds, topups), partitioned by day.';

CREATE SCHEMA IF NOT EXISTS infrastructure;
COMMENT ON SCHEMA infrastructure IS 'Cells, sites and handset models (TACs), with versions valid over service dates.';

CREATE SCHEMA IF NOT EXISTS geography;
COMMENT ON SCHEMA geography IS 'Administrative boundaries (admin0 to admin3) and other geometries.';

CREATE SCHEMA IF NOT EXISTS etl;
COMMENT ON SCHEMA etl IS 'Ingestion bookkeeping: which event days are loaded, and quality checks.';

CREATE SCHEMA IF NOT EXISTS cache;
COMMENT ON SCHEMA cache IS 'Materialised query results and their metadata.';
