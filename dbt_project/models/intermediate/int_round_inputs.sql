{#-
    What each round's case versions are made of, as one fingerprint per round: per reporting
    unit, the in-force upload that is its state as of the round (the unit's latest round <= R)
    and that upload's latest gate run (which rows it rejected). Uploads never change once
    landed, so a round whose fingerprint is unchanged has the same versions, periods and figures
    as when they were built: the incremental models rebuild only the rounds whose fingerprint
    changed (a new round, a corrected upload, a re-gated upload) and drop rounds that are gone.
    A change of the project or the pseudonymisation key needs a full refresh instead
    (sukvinnofrid.pipeline.build_warehouse does that).
-#}
with uploads as (
    select * from {{ ref('int_uploads_in_force') }}
),

latest_run as (
    select * from {{ ref('int_upload_latest_runs') }}
),

rounds as (
    select distinct round_id from uploads
),

state_upload as (
    select distinct on (rounds.round_id, uploads.unit_kod)
        rounds.round_id,
        uploads.unit_kod,
        uploads.upload_id
    from rounds
    inner join uploads on uploads.round_id <= rounds.round_id
    order by rounds.round_id, uploads.unit_kod, uploads.round_id desc
)

select
    state_upload.round_id,
    md5(string_agg(
        state_upload.unit_kod || ':' || state_upload.upload_id || ':' || coalesce(latest_run.run_id, 0),
        ',' order by state_upload.unit_kod
    )) as round_inputs
from state_upload
left join latest_run on state_upload.upload_id = latest_run.upload_id
group by state_upload.round_id
