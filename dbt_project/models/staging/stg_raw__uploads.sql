with source as (
    select * from {{ source('raw', 'uploads') }}
)

select
    upload_id,
    file_name,
    sha256,
    -- the reporting unit: a kommun code (0180) or a Stockholm/Göteborg stadsdel code (0180-EAV)
    btrim(kommun_kod) as unit_kod,
    round_id,
    left(round_id, 4)::integer as round_year,
    -- a round closes on the last day of its month
    (to_date(round_id || '-01', 'YYYY-MM-DD') + interval '1 month' - interval '1 day')::date
        as round_end_date,
    status,
    status_reason,
    received_at,
    decided_at,
    superseded_by,
    row_count,
    file_format
from source
