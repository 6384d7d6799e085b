-- Administrative boundaries, one table per level. Each level repeats its parents' names and
-- p-codes, so a query can aggregate to any coarser level without a join. Queries need only
-- admin{n}pcod, admin{n}name and geom; the other columns keep FlowKit's layout for data
-- loaded from the usual boundary files.

CREATE TABLE IF NOT EXISTS geography.admin0 (
    gid serial PRIMARY KEY,
    admin0name text,
    admin0pcod text NOT NULL,
    admin0refn text,
    admin0altn text,
    admin0al_1 text,
    date date,
    validon date,
    validto date,
    shape_star double precision,
    shape_stle double precision,
    shape_leng double precision,
    shape_area double precision,
    geom geometry(MultiPolygon, 4326)
);

CREATE INDEX IF NOT EXISTS admin0_geom_idx ON geography.admin0 USING gist (geom);
CREATE INDEX IF NOT EXISTS admin0_admin0pcod_idx ON geography.admin0 (admin0pcod);

CREATE TABLE IF NOT EXISTS geography.admin1 (
    gid serial PRIMARY KEY,
    admin0name text,
    admin0pcod text,
    admin1name text,
    admin1pcod text NOT NULL,
    admin1refn text,
    admin1altn text,
    admin1al_1 text,
    date date,
    validon date,
    validto date,
    shape_star double precision,
    shape_stle double precision,
    shape_leng double precision,
    shape_area double precision,
    geom geometry(MultiPolygon, 4326)
);

CREATE INDEX IF NOT EXISTS admin1_geom_idx ON geography.admin1 USING gist (geom);
CREATE INDEX IF NOT EXISTS admin1_admin1pcod_idx ON geography.admin1 (admin1pcod);

CREATE TABLE IF NOT EXISTS geography.admin2 (
    gid serial PRIMARY KEY,
    admin0name text,
    admin0pcod text,
    admin1name text,
    admin1pcod text,
    admin2name text,
    admin2pcod text NOT NULL,
    admin2refn text,
    admin2altn text,
    admin2al_1 text,
    date date,
    validon date,
    validto date,
    shape_star double precision,
    shape_stle double precision,
    shape_leng double precision,
    shape_area double precision,
    geom geometry(MultiPolygon, 4326)
);

CREATE INDEX IF NOT EXISTS admin2_geom_idx ON geography.admin2 USING gist (geom);
CREATE INDEX IF NOT EXISTS admin2_admin2pcod_idx ON geography.admin2 (admin2pcod);

CREATE TABLE IF NOT EXISTS geography.admin3 (
    gid serial PRIMARY KEY,
    admin0name text,
    admin0pcod text,
    admin1name text,
    admin1pcod text,
    admin2name text,
    admin2pcod text,
    admin3name text,
    admin3pcod text NOT NULL,
    admin3refn text,
    admin3altn text,
    admin3al_1 text,
    date date,
    validon date,
    validto date,
    shape_star double precision,
    shape_stle double precision,
    shape_leng double precision,
    shape_area double precision,
    geom geometry(MultiPolygon, 4326)
);

CREATE INDEX IF NOT EXISTS admin3_geom_idx ON geography.admin3 USING gist (geom);
CREATE INDEX IF NOT EXISTS admin3_admin3pcod_idx ON geography.admin3 (admin3pcod);
