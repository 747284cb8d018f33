{#- Each upload's latest gate run: the one whose rejected rows count (a re-gate replaces them). -#}
select distinct on (upload_id)
    upload_id,
    run_id
from {{ ref('stg_quality__validation_runs') }}
order by upload_id asc, started_at desc, run_id desc
