with source as (
    select * from {{ source('quality', 'validation_runs') }}
)

select
    run_id,
    upload_id,
    suite_name,
    started_at,
    finished_at,
    gx_success,
    rows_received,
    rows_rejected,
    rows_with_errors,
    rows_warned,
    outcome,
    outcome_reason
from source
