{#- The current accepted upload of each reporting unit (kommun/stadsdel) and round.

    Before a round's first publication, only what was received by its last delivery day counts
    (var round_cutoffs: round → the end of that day, set from the round calendar by
    sukvinnofrid.pipeline.build_warehouse): a late file, or a late correction, waits for the
    revision, and the upload a late correction replaced (superseded) stands until then. -#}
{%- set cutoffs = var('round_cutoffs', {}) %}
select distinct on (unit_kod, round_id)
    upload_id,
    unit_kod,
    round_id,
    round_year,
    round_end_date,
    decided_at
from {{ ref('stg_raw__uploads') }}
{%- if cutoffs %}
where
    case round_id
        {%- for round_id, cutoff in cutoffs.items() %}
        when '{{ round_id }}' then
            status in ('accepted', 'superseded')
            and received_at < '{{ cutoff }}'::timestamptz
        {%- endfor %}
        else status = 'accepted'
    end
{%- else %}
where status = 'accepted'
{%- endif %}
order by unit_kod asc, round_id asc, decided_at desc nulls last, upload_id desc
