{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'utovare'. -#}
with cases as (
    select * from {{ ref('int_cases') }}
)

select
    cases.case_id,
    cases.kommun_kod,
    chosen.code as utovare_kod
from cases
cross join lateral (
    values
    {%- for code in codes_of('utovare') %}
        ({{ code }}, cases.utovare_{{ code }}){% if not loop.last %},{% endif %}
    {%- endfor %}
) as chosen (code, is_chosen)
where chosen.is_chosen
