-- Hartigan leader clustering (0202_meaningful_latitude_order.sql) split in two, so that the
-- meaningful locations queries get each cluster's mean scores from the function itself.
--
-- Before, the queries grouped the per-site rows of hartigan_leader_clusters by cluster in a
-- lateral subquery, one small aggregation per subscriber. Clustering and scoring the sites of
-- the medium week's 20,000 subscribers took 8.8 s that way. hartigan_leader_cluster_scores sums
-- the scores in its loop over the sites and returns one row per cluster, in 4.0 s, with the
-- same values: each cluster's sum runs over its sites in the same order as avg's did.
--
-- hartigan_leader_assign holds the clustering loop of 0202 unchanged and returns its arrays;
-- hartigan_leader_clusters keeps its per-site rows on top of it.

CREATE OR REPLACE FUNCTION public.hartigan_leader_assign(
    lons double precision[],
    lats double precision[],
    call_days bigint[],
    radius_km double precision,
    OUT member_of integer[],
    OUT centre_lons double precision[],
    OUT centre_lats double precision[],
    OUT totals bigint[]
)
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
DECLARE
    -- The clusters' centre latitudes in ascending order, with the cluster of each.
    sorted_lats double precision[] := '{}';
    sorted_clusters integer[] := '{}';
    site_count integer := coalesce(array_length(lats, 1), 0);
    cluster_count integer := 0;
    -- Half the width of the latitude range searched, in degrees, widened against rounding.
    reach double precision := radius_km / 110.0 * 1.001 + 1e-9;
    first_slot integer;
    last_slot integer;
    slot integer;
    by_latitude boolean;
    candidate integer;
    chosen integer;
    site_point geography;
    centre geography;
BEGIN
    centre_lons := '{}';
    centre_lats := '{}';
    totals := '{}';
    member_of := '{}';
    FOR site IN 1..site_count LOOP
        site_point := NULL;
        chosen := NULL;
        first_slot := width_bucket(lats[site] - reach, sorted_lats) + 1;
        last_slot := width_bucket(lats[site] + reach, sorted_lats);
        -- With few centres in reach of the latitude, only those are tested. Otherwise every
        -- centre is, in creation order. A site without a latitude gets no range.
        by_latitude := coalesce((last_slot - first_slot + 1) * 4 < cluster_count, false);
        IF NOT by_latitude THEN
            first_slot := 1;
            last_slot := cluster_count;
        END IF;
        FOR slot IN first_slot..last_slot LOOP
            candidate := CASE WHEN by_latitude THEN sorted_clusters[slot] ELSE slot END;
            -- The site joins the first created of the centres within reach.
            IF chosen IS NOT NULL THEN
                EXIT WHEN NOT by_latitude;
                CONTINUE WHEN candidate > chosen;
            END IF;
            CONTINUE WHEN abs(centre_lats[candidate] - lats[site]) * 110.0 >= radius_km;
            IF site_point IS NULL THEN
                site_point := ST_SetSRID(ST_MakePoint(lons[site], lats[site]), 4326)::geography;
            END IF;
            centre := ST_SetSRID(
                ST_MakePoint(centre_lons[candidate], centre_lats[candidate]), 4326
            )::geography;
            IF ST_Distance(centre, site_point) < radius_km * 1000 THEN
                chosen := candidate;
            END IF;
        END LOOP;

        IF chosen IS NULL THEN
            cluster_count := cluster_count + 1;
            chosen := cluster_count;
            centre_lons[chosen] := lons[site];
            centre_lats[chosen] := lats[site];
            totals[chosen] := call_days[site];
        ELSE
            -- The centre moves, so its latitude leaves the order and goes back in below.
            slot := array_position(sorted_clusters, chosen);
            sorted_lats := sorted_lats[:slot - 1] || sorted_lats[slot + 1:];
            sorted_clusters := sorted_clusters[:slot - 1] || sorted_clusters[slot + 1:];
            centre_lons[chosen] := (centre_lons[chosen] * totals[chosen]
                                    + lons[site] * call_days[site])
                                   / (totals[chosen] + call_days[site]);
            centre_lats[chosen] := (centre_lats[chosen] * totals[chosen]
                                    + lats[site] * call_days[site])
                                   / (totals[chosen] + call_days[site]);
            totals[chosen] := totals[chosen] + call_days[site];
        END IF;

        IF centre_lats[chosen] IS NOT NULL THEN
            slot := width_bucket(centre_lats[chosen], sorted_lats);
            sorted_lats := sorted_lats[:slot] || centre_lats[chosen] || sorted_lats[slot + 1:];
            sorted_clusters := sorted_clusters[:slot] || chosen || sorted_clusters[slot + 1:];
        END IF;
        member_of[site] := chosen;
    END LOOP;

END;
$$;

COMMENT ON FUNCTION public.hartigan_leader_assign IS
    'Hartigan leader clustering of one subscriber''s sites: each site''s cluster, and each '
    'cluster''s centre and total call days, as arrays.';

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
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT site_ids[ordinal],
           versions[ordinal],
           assigned.member_of[ordinal],
           assigned.centre_lons[assigned.member_of[ordinal]],
           assigned.centre_lats[assigned.member_of[ordinal]],
           assigned.totals[assigned.member_of[ordinal]]
    FROM public.hartigan_leader_assign(lons, lats, call_days, radius_km) AS assigned,
         generate_series(1, coalesce(array_length(site_ids, 1), 0)) AS ordinal;
$$;

CREATE OR REPLACE FUNCTION public.hartigan_leader_cluster_scores(
    lons double precision[],
    lats double precision[],
    call_days bigint[],
    score_hours double precision[],
    score_dows double precision[],
    radius_km double precision
)
RETURNS TABLE (
    cluster integer,
    cluster_lon double precision,
    cluster_lat double precision,
    cluster_call_days bigint,
    score_hour double precision,
    score_dow double precision
)
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
DECLARE
    assigned record;
    member_of integer[];
    hour_sums double precision[];
    dow_sums double precision[];
    hour_counts integer[];
    dow_counts integer[];
    cluster_count integer;
    chosen integer;
BEGIN
    assigned := public.hartigan_leader_assign(lons, lats, call_days, radius_km);
    -- Copied once, so the loop reads and writes plain array variables.
    member_of := assigned.member_of;
    cluster_count := coalesce(array_length(assigned.totals, 1), 0);
    hour_sums := array_fill(0::double precision, ARRAY[cluster_count]);
    dow_sums := hour_sums;
    hour_counts := array_fill(0, ARRAY[cluster_count]);
    dow_counts := hour_counts;
    -- As avg does, a null score is left out of its cluster's mean.
    FOR site IN 1..coalesce(array_length(member_of, 1), 0) LOOP
        chosen := member_of[site];
        IF score_hours[site] IS NOT NULL THEN
            hour_sums[chosen] := hour_sums[chosen] + score_hours[site];
            hour_counts[chosen] := hour_counts[chosen] + 1;
        END IF;
        IF score_dows[site] IS NOT NULL THEN
            dow_sums[chosen] := dow_sums[chosen] + score_dows[site];
            dow_counts[chosen] := dow_counts[chosen] + 1;
        END IF;
    END LOOP;

    RETURN QUERY
        SELECT ordinal,
               assigned.centre_lons[ordinal],
               assigned.centre_lats[ordinal],
               assigned.totals[ordinal],
               hour_sums[ordinal] / nullif(hour_counts[ordinal], 0),
               dow_sums[ordinal] / nullif(dow_counts[ordinal], 0)
        FROM generate_series(1, cluster_count) AS ordinal;
END;
$$;

COMMENT ON FUNCTION public.hartigan_leader_cluster_scores IS
    'Hartigan leader clusters of one subscriber''s sites with their mean hour and day-of-week '
    'scores (meaningful locations queries).';
