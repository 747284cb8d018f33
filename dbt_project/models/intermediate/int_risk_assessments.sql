{#- One row per filled risk-assessment slot (v90) of a case in its latest state. -#}
with cases as (
    select * from {{ ref('int_cases') }}
)

select
    cases.case_id,
    cases.kommun_kod,
    slot.slot,
    slot.tidpunkt,
    slot.instrument,
    slot.skattning
from cases
cross join lateral (
    values
    {%- for slot in risk_slots() %}
        ({{ slot }}, cases.risk_{{ slot }}_tidpunkt, cases.risk_{{ slot }}_instrument, cases.risk_{{ slot }}_skattning){% if not loop.last %},{% endif %}
    {%- endfor %}
) as slot (slot, tidpunkt, instrument, skattning)
where slot.tidpunkt is not null or slot.instrument is not null or slot.skattning is not null
