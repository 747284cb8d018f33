{#-
    One row per case in its latest state: the case versions as of the latest round (a unit that
    did not upload in the latest round keeps its last accepted state). A case missing from a
    unit's newer cumulative extract is no longer a case.
-#}
-- int_case_versions is read three times: named in each place, not as one CTE, so PostgreSQL
-- does not materialise the whole history; first_round_id is one index lookup per case.
with latest as (
    select versions.*
    from {{ ref('int_case_versions') }} as versions
    where
        versions.round_id = (
            select max(latest_round.round_id)
            from {{ ref('int_case_versions') }} as latest_round
        )
)

select
    latest.*,
    (
        select min(earlier.round_id)
        from {{ ref('int_case_versions') }} as earlier
        where earlier.case_id = latest.case_id
    ) as first_round_id
from latest
