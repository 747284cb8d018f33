-- A cell key is its cases' record keys summed mod 256, so riket's is its län's summed mod 256
-- (every case is in one län), for every count and kön. The rounds that passed are as they were
-- (macros/tested_rounds.sql).
with funnel as (
    select * from {{ ref('fct_case_funnel') }}
    where {{ untested_rounds('round_id') }}
),

lan as (
    select
        round_id,
        kon,
        {%- for name in funnel_counts() %}
        sum({{ name }}_cell_key) % 256 as {{ name }}_cell_key{% if not loop.last %},{% endif %}
        {%- endfor %}
    from funnel
    where level = 'lan'
    group by round_id, kon
)

select riket.*
from funnel as riket
inner join lan
    on riket.round_id = lan.round_id
    and riket.kon = lan.kon
where
    riket.level = 'riket'
    and (
        {%- for name in funnel_counts() %}
        riket.{{ name }}_cell_key <> lan.{{ name }}_cell_key{% if not loop.last %} or{% endif %}
        {%- endfor %}
    )
