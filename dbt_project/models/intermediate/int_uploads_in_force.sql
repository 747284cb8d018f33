{#- The current accepted upload of each reporting unit (kommun/stadsdel) and round. -#}
select distinct on (unit_kod, round_id)
    upload_id,
    unit_kod,
    round_id,
    round_year,
    round_end_date,
    decided_at
from {{ ref('stg_raw__uploads') }}
where status = 'accepted'
order by unit_kod asc, round_id asc, decided_at desc nulls last, upload_id desc
