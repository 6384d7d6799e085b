-- Cells, sites and handset models. A cell or site id may have several versions (rows), each
-- valid from date_of_first_service to date_of_last_service inclusive; a null last date means
-- still in service. The exclusion constraints reject two versions of one id whose service
-- dates overlap, so an event's cell version is always unambiguous.

CREATE TABLE IF NOT EXISTS infrastructure.sites (
    site_id bigserial PRIMARY KEY,
    id text,
    version integer,
    name text,
    type text,
    status text,
    structure_type text,
    is_cow boolean,
    date_of_first_service date,
    date_of_last_service date,
    geom_point geometry(Point, 4326),
    geom_polygon geometry(MultiPolygon, 4326),
    UNIQUE (id, version),
    CONSTRAINT sites_service_dates_ordered
        CHECK (date_of_first_service <= date_of_last_service),
    CONSTRAINT sites_versions_do_not_overlap EXCLUDE USING gist (
        id WITH =,
        daterange(date_of_first_service, date_of_last_service, '[]') WITH &&
    )
);

CREATE INDEX IF NOT EXISTS sites_geom_point_idx ON infrastructure.sites USING gist (geom_point);
CREATE INDEX IF NOT EXISTS sites_geom_polygon_idx ON infrastructure.sites USING gist (geom_polygon);
CREATE INDEX IF NOT EXISTS sites_id_idx ON infrastructure.sites (id);

CREATE TABLE IF NOT EXISTS infrastructure.cells (
    cell_id bigserial PRIMARY KEY,
    id text,
    version integer,
    site_id text,
    name text,
    type text,
    msc text,
    bsc_rnc text,
    antenna_type text,
    status text,
    lac text,
    height numeric,
    azimuth numeric,
    transmitter text,
    max_range numeric,
    min_range numeric,
    electrical_tilt numeric,
    mechanical_downtilt numeric,
    date_of_first_service date,
    date_of_last_service date,
    geom_point geometry(Point, 4326),
    geom_polygon geometry(MultiPolygon, 4326),
    UNIQUE (id, version),
    CONSTRAINT cells_service_dates_ordered
        CHECK (date_of_first_service <= date_of_last_service),
    CONSTRAINT cells_versions_do_not_overlap EXCLUDE USING gist (
        id WITH =,
        daterange(date_of_first_service, date_of_last_service, '[]') WITH &&
    )
);

CREATE INDEX IF NOT EXISTS cells_geom_point_idx ON infrastructure.cells USING gist (geom_point);
CREATE INDEX IF NOT EXISTS cells_geom_polygon_idx ON infrastructure.cells USING gist (geom_polygon);
CREATE INDEX IF NOT EXISTS cells_id_idx ON infrastructure.cells (id);
CREATE INDEX IF NOT EXISTS cells_site_id_idx ON infrastructure.cells (site_id);

-- Handset models by Type Allocation Code (the first 8 digits of an IMEI).
CREATE TABLE IF NOT EXISTS infrastructure.tacs (
    id numeric PRIMARY KEY,
    brand text,
    model text,
    width numeric,
    height numeric,
    depth numeric,
    weight numeric,
    display_type text,
    display_colors boolean,
    display_width numeric,
    display_height numeric,
    mms_receiver boolean,
    mms_built_in_camera boolean,
    wap_push_ota_support boolean,
    hardware_gprs boolean,
    hardware_edge boolean,
    hardware_umts boolean,
    hardware_wifi boolean,
    hardware_bluetooth boolean,
    hardware_gps boolean,
    software_os_vendor text,
    software_os_name text,
    software_os_version text,
    wap_push_ota_settings boolean,
    wap_push_ota_bookmarks boolean,
    wap_push_ota_app_internet boolean,
    wap_push_ota_app_browser boolean,
    wap_push_ota_app_mms boolean,
    wap_push_ota_single_shot boolean,
    wap_push_ota_multi_shot boolean,
    wap_push_oma_settings boolean,
    wap_push_oma_app_internet boolean,
    wap_push_oma_app_browser boolean,
    wap_push_oma_app_mms boolean,
    wap_push_oma_cp_bookmarks boolean,
    wap_1_2_1 boolean,
    wap_2_0 boolean,
    syncml_dm_settings boolean,
    syncml_dm_acc_gprs boolean,
    syncml_dm_app_internet boolean,
    syncml_dm_app_browser boolean,
    syncml_dm_app_mms boolean,
    syncml_dm_app_bookmark boolean,
    syncml_dm_app_java boolean,
    wap_push_oma_app_ims boolean,
    wap_push_oma_app_poc boolean,
    j2me_midp_10 boolean,
    j2me_midp_20 boolean,
    j2me_midp_21 boolean,
    j2me_cldc_10 boolean,
    j2me_cldc_11 boolean,
    j2me_cldc_20 boolean,
    hnd_type text
);
