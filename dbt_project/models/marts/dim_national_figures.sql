{#- The national figures and their definitions as published with every round's statistics
    (seed national_figures: population, N, source in the report), with how a case answers:
    'multiple' (several categories per case: the shares add up past 100 %) or 'single'. -#}
{%- set rules = national_figure_rules() %}

with figures as (
    select * from {{ ref('national_figures') }}
),

answer_types as (
    select * from (
        values
        {%- for figure_id, rule in rules.items() %}
        {%- set answer_type = 'multiple' if 'chosen' in rule else 'single' %}
        ('{{ figure_id }}', '{{ answer_type }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as answer_types (figure_id, answer_type)
)

select
    figures.figure_id,
    figures.diagram,
    figures.title,
    figures.kind,
    figures.suv,
    answer_types.answer_type,
    figures.population,
    figures.answered,
    figures.source,
    figures.report_n
from figures
inner join answer_types on figures.figure_id = answer_types.figure_id
