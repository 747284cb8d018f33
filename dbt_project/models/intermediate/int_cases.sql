{#-
    One row per case in its latest state: the case versions as of the latest round (a unit that
    did not upload in the latest round keeps its last accepted state). A case missing from a
    unit's newer cumulative extract is no longer a case.
-#}
with versions as (
    select * from {{ ref('int_case_versions') }}
),

history as (
    select case_id, min(round_id) as first_round_id
    from versions
    group by case_id
)

select
    versions.*,
    history.first_round_id
from versions
inner join history on versions.case_id = history.case_id
where versions.round_id = (select max(latest.round_id) from versions as latest)
