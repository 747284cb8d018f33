{#-
    The national key figures of the report's chapter 2 (diagrams 2-27 and the figures quoted in
    the text), per round (cases as of that round), for every level and area, and, at riket level,
    broken down by kön, åldersgrupp, hederskontext, riskbedömning, ursprung, våldets grad,
    måluppföljning and ärendelängd (so e.g. diagram 21 = aldersgrupp by hedersrelaterat,
    diagram 23 = insatser by hedersrelaterat, diagram 24/25 = by kön, diagram 17 = avslutsorsak
    by arendelangd, diagram 10 = antal_insatser by every breakdown), by storleksgrupp (the
    kommun's size group, measured in adults 18+) and, for riskforandring only, by
    riskinstrument.
    Periods (int_case_periods): period_type 'round' (period = round_id, the cases as of that
    round) and period_type 'year' (period = ÅÅÅÅ, the cases aktualiserade that calendar year
    (v5), each in its latest state), so the figures form time series both ways.
    One row per figure, breakdown value, category, level, area and period; categories without
    cases are 0.
-#}
{#- The grouping sets aggregate by hashing when there is memory for it (else by ~12 sorts of the
    joined facts); `set local` lasts only for this model's transaction. -#}
{{ config(pre_hook="set local work_mem = '256MB'") }}
{%- set breakdowns = ['kon', 'aldersgrupp', 'hedersrelaterat', 'riskbedomning', 'ursprung',
                      'valdets_grad', 'maluppfoljning', 'arendelangd', 'storleksgrupp',
                      'riskinstrument'] -%}

with facts as (
    select * from {{ ref('int_figure_case_facts') }}
),

versions as (
    select * from {{ ref('int_case_periods') }}
),

figures as (
    select * from {{ ref('national_figures') }}
),

categories as (
    select * from {{ ref('int_figure_categories') }}
),

-- Every fact with its case's attributes: the area codes and the value of each breakdown (null
-- when the case has none; riskinstrument only for figure riskforandring).
case_facts as (
    select
        facts.period_type,
        facts.period,
        facts.figure_id,
        facts.category,
        facts.value,
        versions.kommun_kod,
        versions.lan_kod,
        versions.kon_kod as kon,
        versions.aldersgrupp,
        case versions.hedersrelaterat
            when 1 then 'ja' when 2 then 'nej' when 3 then 'vet_inte' end as hedersrelaterat,
        case when versions.antal_riskbedomningar > 0 then 'ja' else 'nej' end as riskbedomning,
        versions.ursprung::text as ursprung,
        versions.valdets_grad::text as valdets_grad,
        versions.maluppfoljning::text as maluppfoljning,
        versions.arendelangd_grupp as arendelangd,
        versions.storleksgrupp_kod as storleksgrupp,
        case when facts.figure_id = 'riskforandring'
            then versions.riskforandring_instrument end as riskinstrument
    from facts
    inner join versions
        on facts.period_type = versions.period_type
        and facts.period = versions.period
        and facts.case_id = versions.case_id
),

-- One pass over the facts: breakdown 'alla' per kommun, län and riket ('00'), and at riket level
-- per value of each breakdown (cases without a value are left out of that breakdown).
grouping_sets as (
    select
        period_type,
        period,
        figure_id,
        case
            when grouping(kommun_kod) = 0 then 'kommun'
            when grouping(lan_kod) = 0 then 'lan'
            else 'riket'
        end as level,
        case
            when grouping(kommun_kod) = 0 then kommun_kod
            when grouping(lan_kod) = 0 then lan_kod
            else '00'
        end as area_code,
        case
            {%- for breakdown in breakdowns %}
            when grouping({{ breakdown }}) = 0 then '{{ breakdown }}'
            {%- endfor %}
            else 'alla'
        end as breakdown,
        case
            {%- for breakdown in breakdowns %}
            when grouping({{ breakdown }}) = 0 then {{ breakdown }}
            {%- endfor %}
            else 'alla'
        end as breakdown_value,
        category,
        sum(value) as total
    from case_facts
    group by period_type, period, figure_id, category, grouping sets (
        (kommun_kod), (lan_kod), (),
        {%- for breakdown in breakdowns %}
        ({{ breakdown }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
),

grouped as (
    select * from grouping_sets where breakdown_value is not null
),

denominators as (
    select * from grouped where category is null
),

numerators as (
    select * from grouped where category is not null
)

select
    figures.figure_id,
    figures.diagram,
    figures.title,
    figures.kind,
    denominators.breakdown,
    denominators.breakdown_value,
    categories.category,
    categories.category_label,
    categories.sort_order,
    denominators.level,
    denominators.area_code,
    denominators.period_type,
    denominators.period,
    coalesce(numerators.total, 0) as numerator,
    denominators.total as denominator,
    case when figures.kind = 'share'
        then round(100.0 * coalesce(numerators.total, 0) / denominators.total, 1) end as share_pct,
    case when figures.kind = 'mean'
        then round(coalesce(numerators.total, 0)::numeric / denominators.total, 1) end as mean_value,
    -- the N the report prints beside a diagram: the cases in the figure's population
    denominators.total as n
from denominators
inner join figures on denominators.figure_id = figures.figure_id
inner join categories on denominators.figure_id = categories.figure_id
left join numerators
    on denominators.period_type = numerators.period_type
    and denominators.period = numerators.period
    and denominators.figure_id = numerators.figure_id
    and denominators.level = numerators.level
    and denominators.area_code = numerators.area_code
    and denominators.breakdown = numerators.breakdown
    and denominators.breakdown_value = numerators.breakdown_value
    and categories.category = numerators.category
