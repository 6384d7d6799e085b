-- Hartigan leader clustering of one subscriber's versioned sites, used by the meaningful
-- locations queries. Queries call it once per subscriber inside one set-based statement:
--   SELECT ... FROM per_subscriber_arrays, public.hartigan_leader_clusters(...)
--
-- Input: parallel arrays, one element per versioned site, already in processing order
-- (descending call days, then the caller's tie rule). Each site joins the first cluster, in
-- creation order, whose current centre lies less than radius_km away on the WGS 84 spheroid
-- (geography ST_Distance). The centre then moves to the call-day-weighted mean of the
-- longitudes and latitudes of its sites. A site near no cluster starts a new one.
--
-- Output: one row per input site with the number of its cluster (1 = created first), the
-- cluster's final centre and the cluster's total call days.

CREATE OR REPLACE FUNCTION public.hartigan_leader_clusters(
    site_ids text[],
    versions integer[],
    lons double precision[],
    lats double precision[],
    call_days bigint[],
    radius_km double precision
)
RETURNS TABLE (
    site_id text,
    version integer,
    cluster integer,
    cluster_lon double precision,
    cluster_lat double precision,
    cluster_call_days bigint
)
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
DECLARE
    centre_lons double precision[] := '{}';
    centre_lats double precision[] := '{}';
    totals bigint[] := '{}';
    member_of integer[] := '{}';
    site_count integer := coalesce(array_length(site_ids, 1), 0);
    cluster_count integer := 0;
    chosen integer;
    site_point geography;
    centre geography;
BEGIN
    FOR site IN 1..site_count LOOP
        site_point := ST_SetSRID(ST_MakePoint(lons[site], lats[site]), 4326)::geography;
        chosen := NULL;
        FOR candidate IN 1..cluster_count LOOP
            centre := ST_SetSRID(
                ST_MakePoint(centre_lons[candidate], centre_lats[candidate]), 4326
            )::geography;
            IF ST_Distance(centre, site_point) < radius_km * 1000 THEN
                chosen := candidate;
                EXIT;
            END IF;
        END LOOP;

        IF chosen IS NULL THEN
            cluster_count := cluster_count + 1;
            chosen := cluster_count;
            centre_lons[chosen] := lons[site];
            centre_lats[chosen] := lats[site];
            totals[chosen] := call_days[site];
        ELSE
            centre_lons[chosen] := (centre_lons[chosen] * totals[chosen]
                                    + lons[site] * call_days[site])
                                   / (totals[chosen] + call_days[site]);
            centre_lats[chosen] := (centre_lats[chosen] * totals[chosen]
                                    + lats[site] * call_days[site])
                                   / (totals[chosen] + call_days[site]);
            totals[chosen] := totals[chosen] + call_days[site];
        END IF;
        member_of[site] := chosen;
    END LOOP;

    RETURN QUERY
        SELECT site_ids[ordinal],
               versions[ordinal],
               member_of[ordinal],
               centre_lons[member_of[ordinal]],
               centre_lats[member_of[ordinal]],
               totals[member_of[ordinal]]
        FROM generate_series(1, site_count) AS ordinal;
END;
$$;

COMMENT ON FUNCTION public.hartigan_leader_clusters IS
    'Hartigan leader clustering of one subscriber''s sites (meaningful locations queries).';
