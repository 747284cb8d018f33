with source as (
    select * from {{ source('quality', 'row_findings') }}
)

select
    run_id,
    upload_id,
    source_row,
    rule_id,
    severity
from source
