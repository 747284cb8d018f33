{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'insatser'. -#}
with cases as (
    select * from {{ ref('int_cases') }}
)

select
    cases.case_id,
    cases.kommun_kod,
    chosen.code as insats_kod
from cases
cross join lateral (
    values
    {%- for code in codes_of('insatser') %}
        ({{ code }}, cases.insatser_{{ code }}){% if not loop.last %},{% endif %}
    {%- endfor %}
) as chosen (code, is_chosen)
where chosen.is_chosen
