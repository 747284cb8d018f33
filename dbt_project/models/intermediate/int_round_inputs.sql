{#-
    What each round is made of, one row per round and reporting unit: the unit's upload in force
    as of the round (its latest accepted upload with a round <= the round: uploads are
    cumulative extracts), that upload's latest gate run (which rows it rejected), and two
    fingerprints. Uploads never change once landed, so
    - unit_inputs (md5 of upload and gate run) unchanged means the unit's case versions, periods
      and partial sums of the round are as when they were built: the incremental models rebuild
      only the (round, unit) pairs whose fingerprint changed (a new round, a corrected upload, a
      re-gated upload) and delete pairs that are gone;
    - round_inputs (md5 of every unit's unit_inputs) does the same for the models per round
      (the areas and figures that add units up).
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
        uploads.upload_id,
        uploads.round_id as source_round_id
    from rounds
    inner join uploads on rounds.round_id >= uploads.round_id
    order by rounds.round_id asc, uploads.unit_kod asc, uploads.round_id desc
),

unit_inputs as (
    select
        state_upload.round_id,
        state_upload.unit_kod,
        state_upload.upload_id,
        state_upload.source_round_id,
        md5(state_upload.upload_id || ':' || coalesce(latest_run.run_id, 0)) as unit_inputs
    from state_upload
    left join latest_run on state_upload.upload_id = latest_run.upload_id
)

select
    unit_inputs.*,
    md5(
        string_agg(unit_inputs.unit_kod || ':' || unit_inputs.unit_inputs, ',') over (
            partition by unit_inputs.round_id
            order by unit_inputs.unit_kod
            rows between unbounded preceding and unbounded following
        )
    ) as round_inputs
from unit_inputs
